import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// Building one non-stream answer from an upstream stream.
@Suite struct StreamAggregatorTests {
    static let envelope = #""id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-2024","system_fingerprint":"fp_1""#

    func chunk(_ choices: String, usage: String? = nil) -> String {
        "{" + Self.envelope + #","choices":["# + choices + "]" + (usage.map { #","usage":"# + $0 } ?? "") + "}"
    }

    func aggregate(_ data: [String], endpoint: APIEndpoint = .chatCompletions) throws -> (StreamAggregator, [String: Any]) {
        var aggregator = StreamAggregator(endpoint: endpoint)
        for item in data { try aggregator.add(data: buffer(item)) }
        let result = try #require(jsonObject(aggregator.result()))
        return (aggregator, result)
    }

    func firstChoice(_ result: [String: Any]) -> [String: Any]? {
        (result["choices"] as? [[String: Any]])?.first
    }

    @Test func contentIsConcatenated() throws {
        let (aggregator, result) = try aggregate([
            chunk(#"{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"content":"lo, \u4e16\u754c"},"logprobs":null,"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}"#),
            "[DONE]",
        ])
        #expect(aggregator.sawDone)
        #expect(aggregator.sawFinishReason)
        #expect(aggregator.chunkCount == 4)
        #expect(aggregator.generatedCharacterCount == 9)
        #expect(result["id"] as? String == "chatcmpl-1")
        #expect(result["object"] as? String == "chat.completion")
        #expect(result["created"] as? Int == 1_700_000_000)
        #expect(result["model"] as? String == "gpt-4o-2024")
        #expect(result["system_fingerprint"] as? String == "fp_1")
        let choice = try #require(firstChoice(result))
        #expect(choice["index"] as? Int == 0)
        #expect(choice["finish_reason"] as? String == "stop")
        #expect(jsonEqual(choice["message"], ["role": "assistant", "content": "Hello, \u{4e16}\u{754c}"]))
        #expect(result["usage"] == nil)
        #expect(aggregator.usage == nil)
    }

    @Test func toolCallsSplitAcrossChunksAreAssembled() throws {
        let (_, result) = try aggregate([
            chunk(#"{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Paris\"}"}}]},"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#),
            "[DONE]",
        ])
        let choice = try #require(firstChoice(result))
        #expect(choice["finish_reason"] as? String == "tool_calls")
        let message = try #require(choice["message"] as? [String: Any])
        #expect(message["role"] as? String == "assistant")
        #expect(message["content"] is NSNull)
        #expect(
            jsonEqual(
                message["tool_calls"],
                [
                    ["id": "call_a", "type": "function", "function": ["name": "get_weather", "arguments": #"{"city": "Paris"}"#]],
                    ["id": "call_b", "type": "function", "function": ["name": "get_time", "arguments": "{}"]],
                ]))
    }

    @Test func usageIsTakenFromTheUsageChunk() throws {
        let (aggregator, result) = try aggregate([
            chunk(#"{"index":0,"delta":{"content":"ok"},"finish_reason":null}"#, usage: "null"),
            chunk(#"{"index":0,"delta":{},"finish_reason":"stop"}"#, usage: "null"),
            chunk("", usage: #"{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13}"#),
            "[DONE]",
        ])
        #expect(aggregator.usage == TokenUsage(promptTokens: 11, completionTokens: 2, totalTokens: 13))
        #expect(jsonEqual(result["usage"], ["prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13]))
        #expect(jsonEqual(firstChoice(result)?["message"], ["role": "assistant", "content": "ok"]))
    }

    @Test func severalChoicesAreKeptApart() throws {
        let (_, result) = try aggregate([
            chunk(#"{"index":1,"delta":{"content":"B"},"finish_reason":null},{"index":0,"delta":{"content":"A"},"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}"#),
            chunk(#"{"index":1,"delta":{"content":"b"},"finish_reason":"length"}"#),
        ])
        let choices = try #require(result["choices"] as? [[String: Any]])
        #expect(choices.map { $0["index"] as? Int } == [0, 1])
        #expect(choices.map { ($0["message"] as? [String: Any])?["content"] as? String } == ["Aa", "Bb"])
        #expect(choices.map { $0["finish_reason"] as? String } == ["stop", "length"])
    }

    @Test func refusalAndLegacyFunctionCall() throws {
        let (_, result) = try aggregate([
            chunk(#"{"index":0,"delta":{"role":"assistant","refusal":"I can"},"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"refusal":"not."},"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"function_call":{"name":"f","arguments":"{\"a\""}},"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"function_call":{"arguments":":1}"}},"finish_reason":"function_call"}"#),
        ])
        let message = try #require(firstChoice(result)?["message"] as? [String: Any])
        #expect(message["refusal"] as? String == "I cannot.")
        #expect(jsonEqual(message["function_call"], ["name": "f", "arguments": #"{"a":1}"#]))
    }

    @Test func completionsTextIsConcatenated() throws {
        let base = #""id":"cmpl-1","object":"text_completion","created":5,"model":"davinci""#
        let (aggregator, result) = try aggregate(
            [
                "{\(base),\"choices\":[{\"index\":0,\"text\":\"Once\",\"logprobs\":null,\"finish_reason\":null}]}",
                "{\(base),\"choices\":[{\"index\":0,\"text\":\" upon\",\"logprobs\":null,\"finish_reason\":null}]}",
                "{\(base),\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"length\"}]}",
                "[DONE]",
            ], endpoint: .completions)
        #expect(aggregator.sawDone)
        #expect(result["object"] as? String == "text_completion")
        #expect(result["id"] as? String == "cmpl-1")
        #expect(
            jsonEqual(
                result["choices"], [["index": 0, "text": "Once upon", "logprobs": NSNull(), "finish_reason": "length"]]))
    }

    @Test func anEmptyStreamGivesAnEmptyAnswer() throws {
        let (aggregator, result) = try aggregate(["[DONE]"])
        #expect(aggregator.chunkCount == 0)
        #expect(!aggregator.sawFinishReason)
        #expect(result["id"] as? String == "")
        #expect(result["model"] as? String == "")
        #expect(result["created"] as? Int == 0)
        #expect(jsonEqual(firstChoice(result)?["message"], ["role": "assistant", "content": ""]))
        #expect(firstChoice(result)?["finish_reason"] is NSNull)
    }

    @Test func emptyDataIsIgnored() throws {
        var aggregator = StreamAggregator(endpoint: .chatCompletions)
        try aggregator.add(data: ByteBuffer())
        #expect(aggregator.chunkCount == 0)
    }

    @Test func nonJSONDataIsABadUpstream() {
        var aggregator = StreamAggregator(endpoint: .chatCompletions)
        #expect(throws: GatewayError.self) { try aggregator.add(data: buffer("not json")) }
        do {
            try aggregator.add(data: buffer("[1,2]"))
            Issue.record("expected an error")
        } catch {
            #expect(error.statusCode == 502)
            #expect(error.code == "invalid_upstream_response")
        }
    }

    @Test func anErrorEventInTheStreamIsThrown() {
        var aggregator = StreamAggregator(endpoint: .chatCompletions)
        do {
            try aggregator.add(data: buffer(#"{"error":{"message":"The server had an error","type":"server_error"}}"#))
            Issue.record("expected an error")
        } catch {
            #expect(error.statusCode == 502)
            #expect(error.code == "upstream_stream_error")
            #expect(error.message == "The server had an error")
        }
    }

    @Test func resultUsesStableKeyOrderAndUnescapedSlashes() throws {
        var aggregator = StreamAggregator(endpoint: .chatCompletions)
        try aggregator.add(data: buffer(chunk(#"{"index":0,"delta":{"content":"a/b"},"finish_reason":"stop"}"#)))
        let output = text(aggregator.result())
        #expect(output.contains(#""content":"a/b""#))
        #expect(output == text(aggregator.result()))
        #expect(output.hasPrefix(#"{"choices":"#))
    }
}
