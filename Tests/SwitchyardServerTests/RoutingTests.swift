import Testing

@Suite("Routing")
struct RoutingTests {
    @Test func lowerPriorityNumberServesWhileItWorks() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2, weight: 100),
                providerJSON("primary", endpoint: upstream.endpoint("primary"), priority: 1, weight: 1),
            ])
        } _: { client in
            for _ in 0..<10 {
                let reply = try await client.post("/v1/chat/completions", chatBody())
                #expect(reply.status == 200)
                #expect(reply.header("x-switchyard-provider") == "primary")
            }
            #expect(upstream.count("primary") == 10)
            #expect(upstream.count("backup") == 0)
        }
    }

    @Test func weightsSplitTrafficExactly() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("a", endpoint: upstream.endpoint("a"), weight: 3),
                providerJSON("b", endpoint: upstream.endpoint("b"), weight: 2),
                providerJSON("c", endpoint: upstream.endpoint("c"), weight: 1),
            ])
        } _: { client in
            for _ in 0..<60 {
                #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            }
            #expect(upstream.count("a") == 30)
            #expect(upstream.count("b") == 20)
            #expect(upstream.count("c") == 10)
        }
    }

    @Test func disabledProvidersAreNeverUsed() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("off", endpoint: upstream.endpoint("off"), extra: #","enabled":false"#),
                providerJSON("on", endpoint: upstream.endpoint("on"), priority: 2),
            ])
        } _: { client in
            for _ in 0..<5 {
                #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            }
            #expect(upstream.count("off") == 0)
            #expect(upstream.count("on") == 5)
        }
    }

    @Test func aliasesAndWildcardModelsRouteAndForwardTheClientsNameWhereAsked() async throws {
        let upstream = FakeUpstream { request in Reply.chatCompletion(content: request.json["model"] as? String ?? "") }
        try await GatewayHarness.run(upstream: upstream) {
            #"{"_global":{"metrics_public":true},"#
                + #""gpt-4o":{"aliases":["gpt4"],"providers":[\#(providerJSON("fixed", endpoint: upstream.endpoint("fixed"), model: "gpt-4o-2024"))]},"#
                + #""openrouter/*":{"providers":[\#(providerJSON("router", endpoint: upstream.endpoint("router"), model: "{model}"))]},"#
                + #""claude-*":{"aliases":["sonnet"],"providers":[\#(providerJSON("claude", endpoint: upstream.endpoint("claude"), model: "anthropic/{model}"))]}}"#
        } _: { client in
            func ask(_ model: String) async throws -> GatewayClient.Reply {
                try await client.post("/v1/chat/completions", chatBody(model: model))
            }
            #expect(try await ask("gpt4").content == "gpt-4o-2024")
            #expect(try await ask("openrouter/meta/llama-3").content == "openrouter/meta/llama-3")
            #expect(try await ask("claude-3-opus").content == "anthropic/claude-3-opus")
            #expect(try await ask("sonnet").content == "anthropic/sonnet")
            let unknown = try await ask("mistral")
            #expect(unknown.status == 404)
            #expect(unknown.error["code"] as? String == "model_not_found")

            let listed = try await client.get("/v1/models").json["data"] as? [[String: Any]]
            #expect(listed?.compactMap { $0["id"] as? String } == ["gpt-4o", "gpt4", "sonnet"], "concrete names only")
            #expect(await client.getStatus("/v1/models/claude-3-haiku") == 200)
            #expect(await client.getStatus("/v1/models/mistral") == 404)
            // Metrics name the configured model, never a name a client made up.
            let metrics = try await client.get("/metrics").body
            #expect(metrics.contains(#"switchyard_requests_total{model="openrouter/*",provider="router",status="200"} 1"#))
            #expect(metrics.contains(#"switchyard_requests_total{model="claude-*",provider="claude",status="200"} 2"#))
            #expect(!metrics.contains("llama-3"))
        }
    }

    @Test func aProviderWhoseContextIsTooSmallForTheRequestIsSkippedAndTheErrorSaysWhenNoneFits() async throws {
        let upstream = FakeUpstream { request in Reply.chatCompletion(content: request.provider) }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("small", endpoint: upstream.endpoint("small"), extra: #","max_context_length":200"#),
                providerJSON("large", endpoint: upstream.endpoint("large"), priority: 2, extra: #","max_context_length":1000"#),
            ])
        } _: { client in
            let words = String(repeating: "word ", count: 200)  // about 250 tokens
            #expect(try await client.post("/v1/chat/completions", chatBody(content: "hi")).content == "small")
            #expect(try await client.post("/v1/chat/completions", chatBody(content: words)).content == "large")
            // The answer's allowance counts too: a one-token prompt plus 200 is over the small one's 200.
            #expect(try await client.post("/v1/chat/completions", chatBody(content: "hi", extra: #","max_tokens":200"#)).content == "large")
            let tooLong = try await client.post("/v1/chat/completions", chatBody(content: words, extra: #","max_tokens":900"#))
            #expect(tooLong.status == 400)
            #expect(tooLong.error["code"] as? String == "context_length_exceeded")
            #expect((tooLong.error["message"] as? String)?.contains("small (context of 200 tokens") == true)
            #expect((tooLong.error["message"] as? String)?.contains("large (context of 1000 tokens") == true)
            #expect(upstream.count("small") == 1 && upstream.count("large") == 2)
        }
    }
}
