import Foundation
import HTTPTypes
import Hummingbird
import Testing

@Suite("Admin API")
struct AdminTests {
    @Test func statsListEveryProviderWithCountsLimitsAndResetTimes() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok", usage: (3, 4)) }
        try await GatewayHarness.run(upstream: upstream, timeZone: TimeZone(identifier: "Asia/Shanghai")!) {
            modelConfig([
                providerJSON("a", endpoint: upstream.endpoint("a"), extra: #","rate_limit":{"requests_per_period":100,"tokens_per_period":500000,"period_cron":"0 0 * * *"}"#),
                providerJSON("b", endpoint: upstream.endpoint("b"), priority: 2),
            ])
        } _: { client in
            for _ in 0..<3 {
                #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            }
            let reply = try await client.get("/admin/stats")
            #expect(reply.status == 200)
            let model = try #require(reply.json["m"] as? [String: Any])
            let a = try #require(model["a"] as? [String: Any])
            #expect(a["requests"] as? Int == 3)
            #expect(a["tokens"] as? Int == 21)
            #expect(a["limit_requests"] as? Int == 100)
            #expect(a["limit_tokens"] as? Int == 500_000)
            let lastReset = try #require(a["last_reset"] as? String)
            let nextReset = try #require(a["next_reset"] as? String)
            #expect(lastReset.hasSuffix("+08:00"))
            #expect(nextReset.hasSuffix("T00:00:00+08:00"))
            let b = try #require(model["b"] as? [String: Any])
            #expect(b["requests"] as? Int == 0)
            #expect(b["limit_requests"] is NSNull)
        }
    }

    @Test func providerStatusShowsAvailableRateLimitedCoolingDownAndDisabled() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "refusing" ? Reply.error(.tooManyRequests) : Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("refusing", endpoint: upstream.endpoint("refusing"), weight: 50),
                providerJSON("quota", endpoint: upstream.endpoint("quota"), weight: 1, extra: #","rate_limit":{"requests_per_period":1}"#),
                providerJSON("spare", endpoint: upstream.endpoint("spare"), priority: 2, extra: #","stream_support":false"#),
                providerJSON("off", endpoint: upstream.endpoint("off"), extra: #","enabled":false"#),
            ])
        } _: { client in
            for _ in 0..<3 {
                #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            }
            let reply = try await client.get("/admin/providers/m")
            #expect(reply.status == 200)
            let list = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [[String: Any]])
            let byName = Dictionary(uniqueKeysWithValues: list.map { ($0["name"] as! String, $0) })
            #expect(list.map { $0["name"] as? String } == ["refusing", "quota", "spare", "off"])
            #expect(byName["refusing"]?["status"] as? String == "cooling_down")
            #expect((byName["refusing"]?["status_reason"] as? String)?.contains("429") == true)
            #expect(byName["quota"]?["status"] as? String == "rate_limited")
            #expect(byName["quota"]?["status_reason"] as? String == "Request limit exceeded: 1/1, resets \(try #require((try await client.get("/admin/stats").json["m"] as? [String: Any])?["quota"] as? [String: Any])["next_reset"] as! String)")
            #expect(byName["spare"]?["status"] as? String == "available")
            #expect(byName["spare"]?["stream_support"] as? Bool == false)
            #expect(byName["spare"]?["non_stream_support"] as? Bool == true)
            #expect(byName["off"]?["status"] as? String == "disabled")
            #expect(byName["off"]?["enabled"] as? Bool == false)
            #expect(Set(list[0].keys) == ["name", "priority", "weight", "enabled", "status", "status_reason", "stream_support", "non_stream_support", "circuit"])
            #expect(list[0]["circuit"] as? NSDictionary == ["state": "closed", "consecutive_failures": 0, "openings": 0, "open_until": NSNull()])

            let unknown = try await client.get("/admin/providers/nope")
            #expect(unknown.status == 404)
            #expect(unknown.error["code"] as? String == "model_not_found")
        }
    }

    @Test func adminUsesTheAdminKeyWhenSetElseTheGatewayKey() async throws {
        try await GatewayHarness.run {
            #"{"_global":{"api_key":"user-key","admin_key":"admin-key"},"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            #expect(await client.getStatus("/admin/stats") == 401)
            #expect(await client.getStatus("/admin/stats", headers: [("Authorization", "Bearer user-key")]) == 401)
            #expect(await client.getStatus("/admin/stats", headers: [("Authorization", "Bearer admin-key")]) == 200)
            #expect(await client.getStatus("/admin/stats", headers: [("x-api-key", "admin-key")]) == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody(), headers: [("x-api-key", "admin-key")]) == 401)
        }
        try await GatewayHarness.run {
            #"{"_global":{"api_key":"user-key"},"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            #expect(await client.getStatus("/admin/stats") == 401)
            #expect(await client.getStatus("/admin/stats", headers: [("Authorization", "Bearer user-key")]) == 200)
        }
    }

    @Test func withNoKeysAdminAnswersLoopbackClients() async throws {
        try await GatewayHarness.run {
            #"{"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            #expect(await client.getStatus("/admin/stats") == 200)
        }
    }
}
