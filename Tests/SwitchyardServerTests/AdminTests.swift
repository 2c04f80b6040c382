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
            #expect(Set(list[0].keys) == ["name", "priority", "weight", "enabled", "status", "status_reason", "stream_support", "non_stream_support", "circuit", "keys", "proxies"])
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

    @Test func explainShowsTheNextRequestsOrderAndWhyEachProviderIsInOrOut() async throws {
        let upstream = FakeUpstream { request in
            switch request.provider {
            case "refusing": Reply.error(.tooManyRequests, headers: [HTTPField.Name("Retry-After")!: "120"])
            case "broken": Reply.error(.internalServerError)
            default: Reply.chatCompletion(content: request.provider)
            }
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("refusing", endpoint: upstream.endpoint("refusing"), priority: 1),
                providerJSON("broken", endpoint: upstream.endpoint("broken"), priority: 2, extra: #","circuit_breaker":{"failure_threshold":1}"#),
                providerJSON("quota", endpoint: upstream.endpoint("quota"), priority: 3, extra: #","rate_limit":{"requests_per_period":1}"#),
                providerJSON("small", endpoint: upstream.endpoint("small"), priority: 4, extra: #","max_context_length":100"#),
                providerJSON("spare", endpoint: upstream.endpoint("spare"), priority: 5),
                providerJSON("off", endpoint: upstream.endpoint("off"), extra: #","enabled":false"#),
            ])
        } _: { client in
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "quota")
            #expect(try await client.post("/v1/chat/completions", chatBody(), headers: [("X-Session-Id", "s1")]).content == "small")

            let plain = try await client.get("/admin/explain?model=m").json
            #expect(plain["order"] as? [String] == ["small", "spare"])
            let providers = try #require(plain["providers"] as? [[String: Any]])
            let byName = Dictionary(uniqueKeysWithValues: providers.map { ($0["name"] as! String, $0) })
            #expect(byName["refusing"]?["status"] as? String == "out")
            #expect(byName["refusing"]?["reason"] as? String == "cooling down after HTTP 429")
            #expect(byName["refusing"]?["until"] is String)
            #expect(byName["broken"]?["reason"] as? String == "circuit open after repeated failures")
            #expect(byName["broken"]?["until"] is String)
            #expect(byName["quota"]?["reason"] as? String == "over quota (1/1 requests) until its reset")
            #expect(byName["off"]?["reason"] as? String == "disabled in the config")
            #expect(byName["small"]?["status"] as? String == "candidate")
            #expect(byName["small"]?["position"] as? Int == 1 && byName["spare"]?["position"] as? Int == 2)
            #expect(byName["spare"]?["share"] as? Double == 1)
            #expect(byName["off"]?["position"] is NSNull)

            let large = try await client.get("/admin/explain?model=m&tokens=500").json
            #expect(large["order"] as? [String] == ["spare"])
            let small = (large["providers"] as? [[String: Any]])?.first { $0["name"] as? String == "small" }
            #expect(small?["reason"] as? String == "context of 100 tokens is smaller than the 500 asked for")

            let session = try await client.get("/admin/explain?model=m&session=s1").json
            #expect(session["session_provider"] as? String == "small")
            #expect(((session["providers"] as? [[String: Any]])?.first { $0["name"] as? String == "small" })?["session"] as? Bool == true)

            #expect(await client.getStatus("/admin/explain?model=nope") == 404)
            #expect(await client.getStatus("/admin/explain?model=m&tokens=-1") == 400)
            #expect(upstream.count("refusing") == 1 && upstream.count("broken") == 1, "explaining sends nothing")
        }
    }
}
