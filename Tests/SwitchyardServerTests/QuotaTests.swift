import Foundation
import NIOCore
import Testing

@Suite("Quotas")
struct QuotaTests {
    static let limited = #","rate_limit":{"requests_per_period":2,"period_cron":"0 0 * * *"}"#

    @Test func aProviderOutOfQuotaIsSkippedForTheNext() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("small", endpoint: upstream.endpoint("small"), weight: 100, extra: Self.limited),
                providerJSON("spare", endpoint: upstream.endpoint("spare"), priority: 2),
            ])
        } _: { client in
            var servedBy: [String] = []
            for _ in 0..<5 {
                let reply = try await client.post("/v1/chat/completions", chatBody())
                #expect(reply.status == 200)
                servedBy.append(reply.header("x-switchyard-provider") ?? "")
            }
            #expect(servedBy == ["small", "small", "spare", "spare", "spare"])
        }
    }

    @Test func everyProviderOutOfQuotaGives429WithRetryAfterTheEarliestReset() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("a", endpoint: upstream.endpoint("a"), extra: #","rate_limit":{"requests_per_period":1,"period_cron":"0 * * * *"}"#),
                providerJSON("b", endpoint: upstream.endpoint("b"), extra: #","rate_limit":{"tokens_per_period":5,"period_cron":"0 0 * * *"}"#),
            ])
        } _: { client in
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)  // b: 12 tokens ≥ 5
            let refused = try await client.post("/v1/chat/completions", chatBody())
            #expect(refused.status == 429)
            #expect(refused.error["type"] as? String == "rate_limit_error")
            #expect(refused.error["code"] as? String == "quota_exceeded")
            let retryAfter = try #require(Int(refused.header("retry-after") ?? ""))
            #expect(retryAfter >= 1 && retryAfter <= 3600, "the hourly reset of a comes first")
            #expect(upstream.requests.count == 2)
        }
    }

    @Test func concurrentRequestsNeverOvershootTheRequestLimit() async throws {
        let gate = Gate()
        let upstream = FakeUpstream { _ in
            await gate.wait()  // hold every admitted request until all have been routed
            return Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"), extra: #","rate_limit":{"requests_per_period":7}"#)])
        } _: { client in
            defer { gate.open() }  // the fake upstream can always finish and shut down
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<40 {
                    group.addTask { try await client.post("/v1/chat/completions", chatBody()).status }
                }
                // Refusals come back at once; admitted requests wait at the upstream until the gate opens.
                #expect(await eventually { upstream.count("p") == 7 })
                gate.open()
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 7)
            #expect(statuses.filter { $0 == 429 }.count == 33)
            #expect(upstream.count("p") == 7)
            let stats = try await client.get("/admin/stats").json
            #expect(((stats["m"] as? [String: Any])?["p"] as? [String: Any])?["requests"] as? Int == 7)
        }
    }

    @Test func failedAttemptsGiveTheirRequestBackAndCountNoTokens() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "bad" ? Reply.error(.internalServerError) : Reply.chatCompletion(content: "ok", usage: (10, 20))
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON(
                    "bad", endpoint: upstream.endpoint("bad"), retry: 1,
                    extra: #","rate_limit":{"requests_per_period":1},"circuit_breaker":false"#
                ),
                providerJSON("good", endpoint: upstream.endpoint("good"), priority: 2),
            ])
        } _: { client in
            for _ in 0..<3 {
                #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            }
            #expect(upstream.count("bad") == 6, "a failing provider keeps its quota: it is tried (twice) every time")
            let stats = try await client.get("/admin/stats").json["m"] as? [String: Any]
            let bad = try #require(stats?["bad"] as? [String: Any])
            #expect(bad["requests"] as? Int == 0)
            #expect(bad["tokens"] as? Int == 0)
            let good = try #require(stats?["good"] as? [String: Any])
            #expect(good["requests"] as? Int == 3)
            #expect(good["tokens"] as? Int == 90)
        }
    }

    @Test func streamedTokensAreCountedFromTheUsageChunkTheClientNeverSees() async throws {
        let upstream = FakeUpstream { _ in Reply.sse(Reply.streamEvents(["one", " two"], usage: (11, 2))) }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(reply.streamedContent == "one two")
            #expect(!reply.body.contains("usage"))
            #expect((upstream.requests.first?.json["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)
            let stats = try await client.get("/admin/stats").json
            let entry = try #require((stats["m"] as? [String: Any])?["p"] as? [String: Any])
            #expect(entry["requests"] as? Int == 1)
            #expect(entry["tokens"] as? Int == 13)
            #expect(entry["estimated_tokens"] as? Int == 0)
        }
    }

    @Test func aStreamCutMidwayStillCountsAnEstimateMarkedAsSuch() async throws {
        let relayed = Gate()
        let upstream = FakeUpstream { _ in
            Reply.sse(Reply.streamEvents(["abcdefgh", "ijklmnop"], usage: nil), cutAfter: 3, beforeCut: { await relayed.wait() })
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            defer { relayed.open() }  // the fake upstream can always finish and shut down
            var reader = StreamReader(
                try await client.send(.POST, "/v1/chat/completions", body: chatBody(content: "12345678", stream: true))
            )
            try await reader.read(until: "ijklmnop")
            relayed.open()
            try await reader.readToEnd()
            #expect(reader.received.contains(#""error""#))
            let stats = try await client.get("/admin/stats").json
            let entry = try #require((stats["m"] as? [String: Any])?["p"] as? [String: Any])
            #expect(entry["requests"] as? Int == 1)
            // 8 prompt characters (2 tokens) + 16 generated characters (4 tokens).
            #expect(entry["tokens"] as? Int == 6)
            #expect(entry["estimated_tokens"] as? Int == 6)
        }
    }

    @Test func countersResetOnTheirCronScheduleWithAnInjectedClock() async throws {
        let start = try Date("2026-03-07T23:59:00Z", strategy: .iso8601)
        let clock = ManualClock(start)
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream, clock: clock) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"), extra: #","rate_limit":{"requests_per_period":1,"period_cron":"0 0 * * *"}"#)])
        } _: { client in
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 429)
            let before = try await client.get("/admin/stats").json
            #expect(((before["m"] as? [String: Any])?["p"] as? [String: Any])?["next_reset"] as? String == "2026-03-08T00:00:00+00:00")

            clock.advance(to: start.addingTimeInterval(90))  // past midnight
            #expect(await eventually {
                let stats = try? await client.get("/admin/stats").json
                return ((stats?["m"] as? [String: Any])?["p"] as? [String: Any])?["requests"] as? Int == 0
            })
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            let after = try await client.get("/admin/stats").json
            let entry = try #require((after["m"] as? [String: Any])?["p"] as? [String: Any])
            #expect(entry["last_reset"] as? String == "2026-03-08T00:00:30+00:00")
            #expect(entry["next_reset"] as? String == "2026-03-09T00:00:00+00:00")
        }
    }
}
