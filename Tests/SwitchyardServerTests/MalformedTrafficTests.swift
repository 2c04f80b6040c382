import Foundation
import HTTPTypes
import Hummingbird
import Testing

/// Answers that are not answers and requests that are not text, each seen from outside once: an upstream's 204,
/// invalid UTF-8 in a request body, and a stream that drips bytes without ever completing an event.
@Suite("Malformed traffic")
struct MalformedTrafficTests {
    @Test("a 204 No Content is not an answer: the request fails over, streamed or not")
    func aNoContentAnswerFailsOver() async throws {
        let upstream = FakeUpstream { request in
            if request.provider == "empty" { return Response(status: .noContent) }
            return request.json["stream"] as? Bool == true
                ? Reply.sse(Reply.streamEvents(["from", " backup"])) : Reply.chatCompletion(content: "from backup")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("empty", endpoint: upstream.endpoint("empty")),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.status == 200 && reply.content == "from backup", "\(reply.status) \(reply.body)")
            #expect(reply.header("x-switchyard-provider") == "backup")
            let streamed = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(streamed.streamedContent == "from backup")
            #expect(upstream.count("empty") == 2)
        }
    }

    @Test("invalid UTF-8 in a request body gets a 400 in the client's dialect and never reaches the provider")
    func invalidUTF8IsRefused() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "should not be asked") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            func body(_ json: String) -> [UInt8] {
                Array(json.replacingOccurrences(of: "BAD", with: "\u{1}").utf8).map { $0 == 1 ? 0xFF : $0 }
            }
            let openAI = try await client.request(.POST, "/v1/chat/completions", bytes: body(chatBody(content: "caf BAD")))
            #expect(openAI.status == 400, "\(openAI.body)")
            #expect(openAI.error["type"] as? String == "invalid_request_error")
            #expect((openAI.error["message"] as? String)?.contains("UTF-8") == true, "\(openAI.body)")

            let responses = try await client.request(.POST, "/v1/responses", bytes: body(#"{"model":"m","input":"BAD"}"#))
            #expect(responses.status == 400 && responses.error["type"] as? String == "invalid_request_error")

            let anthropic = try await client.request(
                .POST, "/v1/messages",
                bytes: body(#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"BAD"}]}"#)
            )
            #expect(anthropic.status == 400)
            #expect(anthropic.json["type"] as? String == "error" && anthropic.error["type"] as? String == "invalid_request_error")

            let gemini = try await client.request(
                .POST, "/v1beta/models/m:generateContent", bytes: body(#"{"contents":[{"parts":[{"text":"BAD"}]}]}"#)
            )
            #expect(gemini.status == 400 && gemini.error["status"] as? String == "INVALID_ARGUMENT", "\(gemini.body)")
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test("a stream that drips bytes but completes no event within the provider's timeout is cut, saying so")
    func aDrippingStreamIsCutByItsEventDeadline() async throws {
        let partial = Reply.chunk("partial")
        // 100 bytes a tenth of a second apart: twice as long as the timeout, which also bounds the wait for headers
        // (seconds under a full test run on a loaded machine).
        let drip = Array(Reply.chunk(" never finished").utf8).prefix(100).map { String(UnicodeScalar($0)) }
        let upstream = FakeUpstream { _ in
            Reply.sse([Reply.roleChunk(), partial] + drip) { index in
                if index >= 2 { try? await Task.sleep(for: .milliseconds(100)) }
            }
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"), timeout: 5)])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(reply.streamedContent == "partial", "\(reply.status) \(reply.body)")
            let error = try #require(reply.eventObjects.last?["error"] as? [String: Any], "\(reply.body)")
            let message = error["message"] as? String ?? ""
            #expect(message.contains("no complete event from the upstream for 5.0 s"), "\(message)")
            #expect(!reply.events.contains("[DONE]"))
        }
    }
}
