import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// The built-in `echo` provider, which answers locally by repeating the prompt.
@Suite struct EchoKindTests {
    static let now = Date(timeIntervalSince1970: 1_750_000_000)

    var provider: ProviderConfig {
        var provider = ProviderConfig(name: "local")
        provider.type = "echo"
        provider.model = "echo-model"
        return provider
    }

    /// Sends `json` through the echo adapter (as the proxy would) and answers it.
    func respond(_ json: String, _ endpoint: APIEndpoint = .chatCompletions, upstreamStream: Bool? = nil) throws -> LocalResponse {
        let client = try ClientRequest(endpoint: endpoint, body: buffer(json))
        let request = try EchoKind().upstreamRequest(client, provider: provider, upstreamStream: upstreamStream ?? client.stream, clientHeaders: [])
        return EchoResponder.respond(to: request, now: Self.now)
    }

    /// Answers an upstream request built by hand (the body exactly as given).
    func respondRaw(_ json: String, _ endpoint: APIEndpoint, stream: Bool) -> LocalResponse {
        let request = UpstreamRequest(url: "echo:" + endpoint.upstreamPath, headers: [], body: buffer(json), endpoint: endpoint, stream: stream)
        return EchoResponder.respond(to: request, now: Self.now)
    }

    func body(_ response: LocalResponse) throws -> [String: Any] {
        #expect(response.chunks.count == 1)
        return try #require(jsonObject(response.chunks.flatMap(byteArray)))
    }

    /// Each chunk must be exactly one SSE event; returns the parsed data objects and whether `[DONE]` ended it.
    func events(_ response: LocalResponse) throws -> (chunks: [[String: Any]], done: Bool) {
        var chunks: [[String: Any]] = []
        var done = false
        for (index, chunk) in response.chunks.enumerated() {
            var framer = SSEEventFramer()
            let framed = try framer.append(chunk)
            #expect(framed.count == 1 && framer.pendingByteCount == 0, "chunk \(index) is not one whole event")
            let data = try #require(SSEEvent.data(of: chunk))
            if SSEEvent.isDone(data: data) {
                #expect(index == response.chunks.count - 1)
                done = true
            } else {
                chunks.append(try #require(jsonObject(byteArray(data))))
            }
        }
        return (chunks, done)
    }

    func choice(_ chunk: [String: Any]) -> [String: Any]? { (chunk["choices"] as? [[String: Any]])?.first }

    // MARK: Chat

    @Test func chatAnswersWithTheLastUserMessage() throws {
        let response = try respond(
            #"{"model":"demo","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"first"},{"role":"assistant","content":"x"},{"role":"user","content":"Hello, Switchyard"}]}"#
        )
        #expect(response.status == 200)
        #expect(response.contentType == "application/json")
        let answer = try body(response)
        #expect(answer["object"] as? String == "chat.completion")
        #expect(answer["model"] as? String == "echo-model")
        #expect(answer["created"] as? Int == 1_750_000_000)
        #expect((answer["id"] as? String)?.hasPrefix("chatcmpl-echo-") == true)
        let first = try #require(choice(answer))
        #expect(first["finish_reason"] as? String == "stop")
        #expect(jsonEqual(first["message"], ["role": "assistant", "content": "Hello, Switchyard"]))
        // Usage is estimated at four characters per token: 31 prompt characters, 17 completion characters.
        #expect(jsonEqual(answer["usage"], ["prompt_tokens": 8, "completion_tokens": 5, "total_tokens": 13]))
    }

    @Test func chatReadsTextPartsOfMultimodalContent() throws {
        let response = try respond(
            #"{"model":"demo","messages":[{"role":"user","content":[{"type":"text","text":"What is"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"this?"}]}]}"#
        )
        let message = try #require(choice(try body(response))?["message"] as? [String: Any])
        #expect(message["content"] as? String == "What is\nthis?")
    }

    @Test func chatWithoutAUserMessageAnswersEmpty() throws {
        let response = try respond(#"{"model":"demo","messages":[{"role":"system","content":"only system"}]}"#)
        let message = try #require(choice(try body(response))?["message"] as? [String: Any])
        #expect(message["content"] as? String == "")
    }

    @Test func chatStreamsRoleWordsFinishAndDone() throws {
        let response = respondRaw(
            #"{"model":"demo","stream":true,"messages":[{"role":"user","content":"Hello brave  new world"}]}"#, .chatCompletions,
            stream: true)
        #expect(response.status == 200)
        #expect(response.contentType == "text/event-stream")
        let (chunks, done) = try events(response)
        #expect(done)
        #expect(text(response.chunks.last!) == "data: [DONE]\n\n")
        let deltas = chunks.compactMap { choice($0)?["delta"] as? [String: Any] }
        #expect(deltas.count == chunks.count)
        #expect(jsonEqual(deltas.first, ["role": "assistant", "content": ""]))
        #expect(deltas.dropFirst().dropLast().map { $0["content"] as? String } == ["Hello", " brave", "  new", " world"])
        #expect(jsonEqual(deltas.last, [String: Any]()))
        #expect(chunks.dropLast().allSatisfy { choice($0)?["finish_reason"] is NSNull })
        #expect(choice(chunks.last!)?["finish_reason"] as? String == "stop")
        let ids = Set(chunks.compactMap { $0["id"] as? String })
        #expect(ids.count == 1)
        #expect(ids.first?.hasPrefix("chatcmpl-echo-") == true)
        #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" && $0["model"] as? String == "demo" })
        #expect(chunks.allSatisfy { $0["usage"] == nil }, "no usage without stream_options.include_usage")
    }

    @Test func chatStreamAddsAUsageChunkWhenAskedFor() throws {
        let response = respondRaw(
            #"{"model":"demo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two"}]}"#,
            .chatCompletions, stream: true)
        let (chunks, done) = try events(response)
        #expect(done)
        let usage = try #require(chunks.last)
        #expect(jsonEqual(usage["choices"], [Any]()))
        #expect(jsonEqual(usage["usage"], ["prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4]))
        #expect(chunks.dropLast().allSatisfy { $0["usage"] is NSNull })
        #expect(choice(chunks[chunks.count - 2])?["finish_reason"] as? String == "stop")
    }

    @Test func theAdapterAsksForUsageOnStreams() throws {
        let response = try respond(#"{"model":"demo","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        let (chunks, _) = try events(response)
        #expect(chunks.last?["usage"] is [String: Any])
    }

    @Test func theStreamedWordsRebuildTheMessage() throws {
        let content = "  Leading spaces, trailing too  and  doubled   ones \u{4f60}\u{597d} "
        let json = #"{"model":"demo","stream":true,"messages":[{"role":"user","content":"\#(content)"}]}"#
        let response = respondRaw(json, .chatCompletions, stream: true)
        var aggregator = StreamAggregator(endpoint: .chatCompletions)
        for chunk in response.chunks {
            if let data = SSEEvent.data(of: chunk) { try aggregator.add(data: data) }
        }
        let rebuilt = try #require(jsonObject(aggregator.result()))
        #expect(((choice(rebuilt)?["message"]) as? [String: Any])?["content"] as? String == content)
    }

    @Test func wordsKeepTheirLeadingSpaces() {
        #expect(EchoResponder.words("Hello brave world") == ["Hello", " brave", " world"])
        #expect(EchoResponder.words("  a  b ") == ["  a", "  b", " "])
        #expect(EchoResponder.words("") == [])
        #expect(EchoResponder.words("single") == ["single"])
        for text in ["x y", "  many   spaces  here ", "\u{4f60}\u{597d} \u{4e16}\u{754c}"] {
            #expect(EchoResponder.words(text).joined() == text)
        }
    }

    @Test func tokensAreEstimatedAtFourCharactersEach() {
        #expect(UsageEstimate.tokens(characters: 0) == 0)
        #expect(UsageEstimate.tokens(characters: 1) == 1)
        #expect(UsageEstimate.tokens(characters: 4) == 1)
        #expect(UsageEstimate.tokens(characters: 5) == 2)
        #expect(UsageEstimate.tokens(characters: 400) == 100)
    }

    // MARK: Completions

    @Test func completionsEchoThePrompt() throws {
        let answer = try body(try respond(#"{"model":"demo","prompt":"Once upon a time"}"#, .completions))
        #expect(answer["object"] as? String == "text_completion")
        #expect((answer["id"] as? String)?.hasPrefix("cmpl-echo-") == true)
        #expect(jsonEqual(answer["choices"], [["index": 0, "text": "Once upon a time", "logprobs": NSNull(), "finish_reason": "stop"]]))
        #expect(jsonEqual(answer["usage"], ["prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8]))
        let list = try body(try respond(#"{"model":"demo","prompt":["first prompt","second"]}"#, .completions))
        #expect(choice(list)?["text"] as? String == "first prompt")
    }

    @Test func completionsStreamTextPieces() throws {
        let response = respondRaw(#"{"model":"demo","prompt":"a b c","stream":true}"#, .completions, stream: true)
        let (chunks, done) = try events(response)
        #expect(done)
        #expect(chunks.map { choice($0)?["text"] as? String } == ["a", " b", " c", ""])
        #expect(chunks.map { choice($0)?["finish_reason"] as? String } == [nil, nil, nil, "stop"])
        #expect(chunks.allSatisfy { $0["object"] as? String == "text_completion" })
    }

    // MARK: Embeddings

    func embeddings(_ json: String) throws -> [[Double]] {
        let answer = try body(try respond(json, .embeddings))
        #expect(answer["object"] as? String == "list")
        #expect(answer["model"] as? String == "echo-model")
        let data = try #require(answer["data"] as? [[String: Any]])
        #expect(data.map { $0["index"] as? Int } == (0..<data.count).map { Optional($0) })
        #expect(data.allSatisfy { $0["object"] as? String == "embedding" })
        return try data.map { try #require(($0["embedding"] as? [Any])?.compactMap { ($0 as? NSNumber)?.doubleValue }) }
    }

    @Test func embeddingsAreDeterministicUnitVectors() throws {
        let vectors = try embeddings(#"{"model":"demo","input":["hello","world","hello",""]}"#)
        #expect(vectors.count == 4)
        for vector in vectors {
            #expect(vector.count == 8)
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-5, "norm \(norm)")
        }
        #expect(vectors[0] == vectors[2])
        #expect(vectors[0] != vectors[1])
        #expect(try embeddings(#"{"model":"demo","input":"hello"}"#) == [vectors[0]])
        #expect(EchoResponder.vector(for: "hello") == vectors[0])
        #expect(EchoResponder.vector(for: "hello") == EchoResponder.vector(for: "hello"))
    }

    @Test func embeddingsReportUsage() throws {
        let answer = try body(try respond(#"{"model":"demo","input":["abcd","efgh"]}"#, .embeddings))
        #expect(jsonEqual(answer["usage"], ["prompt_tokens": 2, "total_tokens": 2]))
    }

    @Test func anInvalidBodyIs400() {
        let response = respondRaw("not json", .chatCompletions, stream: false)
        #expect(response.status == 400)
        #expect(response.contentType == "application/json")
        let error = jsonObject(response.chunks.flatMap(byteArray))?["error"] as? [String: Any]
        #expect(error?["code"] as? String == "invalid_json")
    }

    @Test func theEchoKindRenamesTheModelAndSendsNoHeaders() throws {
        let client = try ClientRequest(endpoint: .embeddings, body: buffer(#"{"model":"demo","input":"x"}"#))
        let request = try EchoKind().upstreamRequest(client, provider: provider, upstreamStream: false, clientHeaders: [HeaderField("x-a", "1")])
        #expect(request.url == "echo:/embeddings")
        #expect(request.headers.isEmpty)
        #expect(text(request.body) == #"{"model":"echo-model","input":"x"}"#)
        #expect(request.stream == false)
        #expect(request.endpoint == .embeddings)
    }
}
