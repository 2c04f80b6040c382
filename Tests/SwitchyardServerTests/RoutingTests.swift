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
}
