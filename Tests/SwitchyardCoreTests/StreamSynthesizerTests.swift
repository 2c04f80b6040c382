import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// Turning one non-stream answer into the stream a streaming client expects.
@Suite struct StreamSynthesizerTests {
    static let chatResponse = """
        {"id":"chatcmpl-9","object":"chat.completion","created":1712345678,"model":"gpt-4o-mini","system_fingerprint":"fp_9",
         "choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, friend."},"logprobs":null,"finish_reason":"stop"}],
         "usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}
        """

    static let toolResponse = """
        {"id":"chatcmpl-t","object":"chat.completion","created":1712345679,"model":"gpt-4o",
         "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\\"q\\":\\"swift\\"}"}},
            {"id":"call_2","type":"function","function":{"name":"now","arguments":"{}"}}]},
           "logprobs":null,"finish_reason":"tool_calls"}],
         "usage":{"prompt_tokens":30,"completion_tokens":20,"total_tokens":50}}
        """

    /// The stream's events' data, parsed; `[DONE]` is kept as the string.
    func synthesize(_ response: String, endpoint: APIEndpoint = .chatCompletions, includeUsage: Bool) throws
        -> (raw: String, chunks: [[String: Any]], done: Bool)
    {
        let stream = try StreamSynthesizer.stream(fromResponse: buffer(response), endpoint: endpoint, includeUsage: includeUsage)
        var framer = SSEEventFramer()
        let events = try framer.append(stream)
        #expect(framer.pendingByteCount == 0)
        var chunks: [[String: Any]] = []
        var done = false
        for (index, event) in events.enumerated() {
            let data = try #require(SSEEvent.data(of: event))
            if SSEEvent.isDone(data: data) {
                #expect(index == events.count - 1, "[DONE] must be last")
                done = true
            } else {
                chunks.append(try #require(jsonObject(byteArray(data))))
            }
        }
        return (text(stream), chunks, done)
    }

    func delta(_ chunk: [String: Any]) -> [String: Any]? {
        ((chunk["choices"] as? [[String: Any]])?.first)?["delta"] as? [String: Any]
    }

    func finishReason(_ chunk: [String: Any]) -> Any? {
        ((chunk["choices"] as? [[String: Any]])?.first)?["finish_reason"]
    }

    @Test func contentAnswerBecomesRoleContentFinishAndDone() throws {
        let (raw, chunks, done) = try synthesize(Self.chatResponse, includeUsage: false)
        #expect(done)
        #expect(raw.hasSuffix("data: [DONE]\n\n"))
        #expect(chunks.count == 3)
        #expect(jsonEqual(delta(chunks[0]), ["role": "assistant", "content": ""]))
        #expect(jsonEqual(delta(chunks[1]), ["content": "Hello there, friend."]))
        #expect(jsonEqual(delta(chunks[2]), [String: Any]()))
        #expect(finishReason(chunks[0]) is NSNull)
        #expect(finishReason(chunks[1]) is NSNull)
        #expect(finishReason(chunks[2]) as? String == "stop")
        for chunk in chunks {
            #expect(chunk["id"] as? String == "chatcmpl-9")
            #expect(chunk["created"] as? Int == 1_712_345_678)
            #expect(chunk["model"] as? String == "gpt-4o-mini")
            #expect(chunk["object"] as? String == "chat.completion.chunk")
            #expect(chunk["system_fingerprint"] as? String == "fp_9")
            #expect(chunk["usage"] == nil)
        }
    }

    @Test func usageChunkOnlyWhenIncludeUsage() throws {
        let (_, chunks, done) = try synthesize(Self.chatResponse, includeUsage: true)
        #expect(done)
        #expect(chunks.count == 4)
        for chunk in chunks.dropLast() {
            #expect(chunk["usage"] is NSNull)
        }
        let usage = try #require(chunks.last)
        #expect(jsonEqual(usage["choices"], [Any]()))
        #expect(jsonEqual(usage["usage"], ["prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16]))
        #expect(usage["id"] as? String == "chatcmpl-9")
        let withoutUsage = try synthesize(Self.chatResponse, includeUsage: false).chunks
        #expect(withoutUsage.allSatisfy { ($0["choices"] as? [Any])?.isEmpty == false })
    }

    @Test func toolCallsAreSentWithTheirIndex() throws {
        let (_, chunks, _) = try synthesize(Self.toolResponse, includeUsage: false)
        #expect(chunks.count == 3)
        #expect(delta(chunks[0])?["role"] as? String == "assistant")
        let calls = try #require(delta(chunks[1])?["tool_calls"] as? [[String: Any]])
        #expect(calls.map { $0["index"] as? Int } == [0, 1])
        #expect(calls.map { $0["id"] as? String } == ["call_1", "call_2"])
        #expect(jsonEqual(calls[0]["function"], ["name": "lookup", "arguments": #"{"q":"swift"}"#]))
        #expect(finishReason(chunks[2]) as? String == "tool_calls")
        #expect(jsonEqual(delta(chunks[2]), [String: Any]()))
    }

    @Test func completionsAnswerBecomesTextChunks() throws {
        let response = #"{"id":"cmpl-2","object":"text_completion","created":3,"model":"m","choices":[{"index":0,"text":"Hi!","logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#
        let (_, chunks, done) = try synthesize(response, endpoint: .completions, includeUsage: true)
        #expect(done)
        #expect(chunks.count == 2)
        #expect(chunks[0]["object"] as? String == "text_completion")
        #expect(jsonEqual(chunks[0]["choices"], [["index": 0, "text": "Hi!", "logprobs": NSNull(), "finish_reason": "stop"]]))
        #expect(jsonEqual(chunks[1]["usage"], ["prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2]))
    }

    @Test func aNonJSONAnswerIsABadUpstream() {
        do {
            _ = try StreamSynthesizer.stream(fromResponse: buffer("<html>"), endpoint: .chatCompletions, includeUsage: false)
            Issue.record("expected an error")
        } catch {
            #expect(error.statusCode == 502)
            #expect(error.code == "invalid_upstream_response")
        }
    }

    @Test func everyEventIsWellFramed() throws {
        let stream = try StreamSynthesizer.stream(fromResponse: buffer(Self.toolResponse), endpoint: .chatCompletions, includeUsage: true)
        let raw = text(stream)
        #expect(raw.hasPrefix("data: {"))
        let events = raw.components(separatedBy: "\n\n").dropLast()
        #expect(events.allSatisfy { $0.hasPrefix("data: ") && !$0.contains("\n") })
        #expect(events.last == "data: [DONE]")
    }

    @Test(arguments: ["chat", "tools"])
    func synthesizeThenAggregateGivesTheOriginalMessage(which: String) throws {
        let response = which == "chat" ? Self.chatResponse : Self.toolResponse
        let original = try #require(jsonObject(response))
        let stream = try StreamSynthesizer.stream(fromResponse: buffer(response), endpoint: .chatCompletions, includeUsage: true)
        var framer = SSEEventFramer()
        var aggregator = StreamAggregator(endpoint: .chatCompletions)
        for event in try framer.append(stream) {
            if let data = SSEEvent.data(of: event) { try aggregator.add(data: data) }
        }
        #expect(aggregator.sawDone)
        let rebuilt = try #require(jsonObject(aggregator.result()))
        for key in ["id", "object", "created", "model", "usage", "choices"] {
            #expect(jsonEqual(rebuilt[key], original[key]), "\(key): \(rebuilt[key] ?? "nil") vs \(original[key] ?? "nil")")
        }
        if which == "chat" {
            #expect(jsonEqual(rebuilt["system_fingerprint"], original["system_fingerprint"]))
        }
    }

    @Test func completionsRoundTrip() throws {
        let response = #"{"choices":[{"finish_reason":"length","index":0,"logprobs":null,"text":"abc"}],"created":3,"id":"cmpl-2","model":"m","object":"text_completion","usage":{"completion_tokens":1,"prompt_tokens":1,"total_tokens":2}}"#
        let stream = try StreamSynthesizer.stream(fromResponse: buffer(response), endpoint: .completions, includeUsage: true)
        var framer = SSEEventFramer()
        var aggregator = StreamAggregator(endpoint: .completions)
        for event in try framer.append(stream) {
            if let data = SSEEvent.data(of: event) { try aggregator.add(data: data) }
        }
        #expect(text(aggregator.result()) == response)
    }
}
