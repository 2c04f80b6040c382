import Foundation
import NIOConcurrencyHelpers
import Testing

/// `/v1/responses` against fake upstreams on port 0: what reaches the provider, the event stream, kept responses
/// and their owners.
@Suite("Responses API")
struct ResponsesTests {
    /// A Codex-CLI-shaped request: instructions, a developer message, a reasoning item, a tool round trip, function
    /// tools with `strict`, `store:false`, `include`, `prompt_cache_key`, streaming.
    static let codexBody = #"""
        {"model":"m","instructions":"You are a coding agent.","input":[
          {"type":"message","role":"developer","content":[{"type":"input_text","text":"<permissions>sandboxed</permissions>"}]},
          {"type":"message","role":"user","content":[{"type":"input_text","text":"List the files"}]},
          {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Use the shell."}],"encrypted_content":"gAAA"},
          {"type":"function_call","name":"shell","arguments":"{\"command\":[\"ls\"]}","call_id":"call_a"},
          {"type":"function_call_output","call_id":"call_a","output":"README.md\nSources"}],
         "tools":[{"type":"function","name":"shell","description":"Runs a command","strict":false,
           "parameters":{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}}},"required":["command"]}}],
         "tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"effort":"medium","summary":"auto"},
         "store":false,"stream":true,"include":["reasoning.encrypted_content"],"prompt_cache_key":"conversation-1"}
        """#

    @Test("a Codex-shaped streaming request is served by a chat provider as a Responses event stream")
    func aCodexShapedRequestIsServedByAChatProvider() async throws {
        let upstream = FakeUpstream { _ in Reply.sse(Reply.streamEvents(["Two", " files"])) }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("chat", endpoint: upstream.endpoint("chat"))])
        } _: { client in
            let reply = try await client.post("/v1/responses", Self.codexBody)
            #expect(reply.status == 200)
            #expect(reply.header("content-type") == "text/event-stream")
            let events = reply.eventObjects
            let types = events.compactMap { $0["type"] as? String }
            #expect(types.first == "response.created" && types.last == "response.completed")
            #expect(events.compactMap { $0["sequence_number"] as? Int } == Array(0..<events.count))
            #expect(events.compactMap { $0["delta"] as? String }.joined() == "Two files")
            let sent = try #require(upstream.requests(to: "chat").first?.json)
            let messages = sent["messages"] as? [[String: Any]] ?? []
            #expect(messages.compactMap { $0["role"] as? String } == ["system", "system", "user", "assistant", "tool"])
            #expect(messages.last?["content"] as? String == "README.md\nSources")
            #expect((sent["tools"] as? [[String: Any]])?.first?["type"] as? String == "function")
            #expect(sent["stream"] as? Bool == true && sent["model"] as? String == "upstream-model")
            #expect(sent["include"] == nil && sent["prompt_cache_key"] == nil && sent["input"] == nil)
        }
    }

    @Test("a provider marked responses: true receives the body byte-exact but for the model")
    func aResponsesProviderGetsTheBodyByteExact() async throws {
        let upstream = FakeUpstream { request in
            request.json["stream"] as? Bool == true
                ? Reply.sse(NativeReply.responsesStream(["Hi"])) : Reply.json(NativeReply.responsesObject("Hi"))
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("native", endpoint: upstream.endpoint("native"), extra: #","responses":true"#)])
        } _: { client in
            let reply = try await client.post("/v1/responses", Self.codexBody)
            #expect(reply.status == 200)
            #expect(reply.body == NativeReply.responsesStream(["Hi"]).joined(), "the upstream's events, unchanged")
            let received = try #require(upstream.requests(to: "native").first)
            #expect(received.path == "responses")
            #expect(received.bodyString == Self.codexBody.replacingOccurrences(of: #"{"model":"m""#, with: #"{"model":"upstream-model""#))
            #expect(received.header("authorization") == "Bearer key-native")
        }
    }

    @Test("an upstream failure after the stream started ends with an error event and response.failed")
    func aStreamThatBreaksEndsWithResponseFailed() async throws {
        let relayed = Gate()
        let upstream = FakeUpstream { _ in
            Reply.sse(Reply.streamEvents(["partial", " answer", " never"]), cutAfter: 3, beforeCut: { await relayed.wait() })
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            defer { relayed.open() }
            var reader = StreamReader(
                try await client.send(.POST, "/v1/responses", body: #"{"model":"m","input":"hi","stream":true}"#)
            )
            try await reader.read(until: "answer")
            relayed.open()
            try await reader.readToEnd()
            let reply = GatewayClient.Reply(status: 200, headers: [:], body: reader.received)
            let types = reply.eventObjects.compactMap { $0["type"] as? String }
            #expect(Array(types.suffix(2)) == ["error", "response.failed"])
            #expect(!types.contains("response.completed"))
            let failed = try #require(reply.eventObjects.last?["response"] as? [String: Any])
            #expect(failed["status"] as? String == "failed")
        }
    }

    @Test("kept responses are visible only to the gateway key that created them")
    func keptResponsesBelongToTheirKey() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig(
                [providerJSON("p", endpoint: upstream.endpoint("p"))],
                global: #"{"retry_backoff_ms":1,"api_key":["key-one","key-two"]}"#
            )
        } _: { client in
            let one = [("authorization", "Bearer key-one")]
            let two = [("authorization", "Bearer key-two")]
            let created = try await client.post("/v1/responses", #"{"model":"m","input":"hi"}"#, headers: one)
            #expect(created.status == 200)
            let id = try #require(created.json["id"] as? String)
            #expect(await client.getStatus("/v1/responses/\(id)", headers: one) == 200)
            let hidden = try await client.get("/v1/responses/\(id)", headers: two)
            #expect(hidden.status == 404 && hidden.error["type"] as? String == "invalid_request_error")
            let continued = try await client.post(
                "/v1/responses", #"{"model":"m","input":"more","previous_response_id":"\#(id)"}"#, headers: two
            )
            #expect(continued.status == 404 && continued.error["code"] as? String == "previous_response_not_found")
            #expect(continued.error["param"] as? String == "previous_response_id")
            #expect(try await client.request(.DELETE, "/v1/responses/\(id)", headers: two).status == 404)
            #expect(try await client.request(.DELETE, "/v1/responses/\(id)", headers: one).status == 200)
            #expect(await client.getStatus("/v1/responses/\(id)", headers: one) == 404)
        }
    }

    @Test("a session stays on its provider while it works, moves when it fails, and new sessions follow the weights")
    func sessionsStickToTheirProvider() async throws {
        let failing = NIOLockedValueBox<Set<String>>([])
        let upstream = FakeUpstream { request in
            failing.withLockedValue { $0.contains(request.provider) } ? Reply.error(.serviceUnavailable) : Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("a", endpoint: upstream.endpoint("a")), providerJSON("b", endpoint: upstream.endpoint("b")),
            ])
        } _: { client in
            func provider(_ session: String) async throws -> String? {
                let reply = try await client.post("/v1/chat/completions", chatBody(), headers: [("x-session-id", session)])
                #expect(reply.status == 200)
                return reply.header("x-switchyard-provider")
            }
            let first = try #require(try await provider("s1"))
            for _ in 0..<5 { #expect(try await provider("s1") == first) }
            let other = first == "a" ? "b" : "a"
            failing.withLockedValue { _ = $0.insert(first) }
            #expect(try await provider("s1") == other, "the session fails over")
            failing.withLockedValue { $0.removeAll() }
            #expect(try await provider("s1") == other, "and stays where it moved")
            #expect(try await client.post("/admin/reload", "").status == 200)
            for _ in 0..<3 { #expect(try await provider("s1") == other, "a reload keeps sessions of providers that remain") }
            var newSessions: [String: Int] = [:]
            for index in 0..<10 { newSessions[try await provider("new-\(index)") ?? "", default: 0] += 1 }
            #expect(newSessions == ["a": 5, "b": 5])
            let stats = try await client.get("/admin/stats").json["m"] as? [String: [String: Any]] ?? [:]
            #expect((stats["a"]?["sessions"] as? Int ?? 0) + (stats["b"]?["sessions"] as? Int ?? 0) == 11)
        }
    }
}
