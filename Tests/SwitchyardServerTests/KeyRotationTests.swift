import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import Synchronization
import Testing

/// Key pools against a fake upstream that answers per key: a key's 401/403/429 takes that key out and the next
/// key is tried at once; only when every key is out does the request fail over to the next provider.
@Suite("Key pools")
struct KeyRotationTests {
    func keysOf(_ client: GatewayClient, _ provider: String) async throws -> [[String: Any]] {
        let list = try await client.get("/admin/providers/m").jsonArray
        return list.first { $0["name"] as? String == provider }?["keys"] as? [[String: Any]] ?? []
    }

    @Test func aRefusedAndARateLimitedKeyAreTakenOutAndTheNextKeyServesAtOnce() async throws {
        let upstream = FakeUpstream { request in
            switch request.header("authorization") {
            case "Bearer secret-one": return Reply.error(.unauthorized)
            case "Bearer secret-two": return Reply.error(.tooManyRequests, headers: [HTTPField.Name("Retry-After")!: "60"])
            default: return Reply.chatCompletion(content: "from \(request.header("authorization") ?? "")")
            }
        }
        try await GatewayHarness.run(upstream: upstream, environment: ["K3": "secret-three"]) {
            modelConfig([
                #"{"name":"pool","endpoint":"\#(upstream.endpoint("pool"))","model":"m","timeout":10,"retry":0,"api_keys":["secret-one","secret-two",{"key":"${K3}","name":"third"}]}"#,
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            let first = try await client.post("/v1/chat/completions", chatBody())
            #expect(first.content == "from Bearer secret-three")
            #expect(first.header("x-switchyard-provider") == "pool")
            #expect(upstream.count("pool") == 3, "three keys tried in turn, within the provider")
            let second = try await client.post("/v1/chat/completions", chatBody())
            #expect(second.content == "from Bearer secret-three")
            #expect(upstream.count("pool") == 4, "the refused and the cooling key are skipped at no cost")
            #expect(upstream.count("backup") == 0)

            let keys = try await keysOf(client, "pool")
            #expect(keys.count == 3)
            #expect((keys[0]["key"] as? String)?.hasPrefix("sha256:") == true)
            #expect(keys[0]["state"] as? String == "disabled" && keys[0]["status"] as? Int == 401 && keys[0]["until"] is NSNull)
            #expect(keys[1]["state"] as? String == "cooling_down" && keys[1]["until"] is String)
            #expect(keys[2]["key"] as? String == "third" && keys[2]["state"] as? String == "active" && keys[2]["requests"] as? Int == 2)
            let metrics = try await client.get("/metrics").body
            #expect(metrics.contains(#"switchyard_key_requests_total{model="m",provider="pool",key="third"} 2"#))
            let stats = try await client.get("/admin/stats").json
            #expect((((stats["m"] as? [String: Any])?["pool"] as? [String: Any])?["keys"] as? [Any])?.count == 3)

            // No key appears in any log, response or metric.
            let logs = client.configFile.deletingLastPathComponent().appendingPathComponent("logs")
            for file in (try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? [] {
                let text = (try? String(contentsOf: logs.appendingPathComponent(file), encoding: .utf8)) ?? ""
                #expect(!text.contains("secret-"), "\(file) holds a key")
            }
            #expect(!metrics.contains("secret-"))
            #expect(!(try await client.get("/admin/providers/m").body).contains("secret-"))
        }
    }

    @Test func aKeysOwnQuotaMovesRequestsToTheNextKeyUntilItsReset() async throws {
        let upstream = FakeUpstream { request in Reply.chatCompletion(content: "with \(request.header("authorization") ?? "")") }
        let clock = ManualClock(Date(timeIntervalSince1970: 1_796_000_000))
        try await GatewayHarness.run(upstream: upstream, clock: clock) {
            modelConfig([
                #"{"name":"pool","endpoint":"\#(upstream.endpoint("pool"))","model":"m","api_keys":[{"key":"small-key","name":"small","rate_limit":{"requests_per_period":1,"period_cron":"0 * * * *"}},"big-key"]}"#
            ])
        } _: { client in
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "with Bearer small-key")
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "with Bearer big-key", "the small key's quota is used up")
            let small = try #require(try await keysOf(client, "pool").first)
            #expect(small["state"] as? String == "over_quota")
            let usage = small["usage"] as? [String: Any] ?? [:]
            #expect(usage["requests"] as? Int == 1 && usage["limit_requests"] as? Int == 1 && usage["tokens"] as? Int == 12)
            let stats = try await client.get("/admin/stats").json
            #expect((stats["m"] as? [String: Any]).flatMap { $0["pool"] as? [String: Any] }?["requests"] as? Int == 2, "the provider counts both")

            // The key's file is saved like a provider's, and its period resets on its own schedule.
            let file = client.dataDirectory.appendingPathComponent("usage/m_pool.key.small.json")
            #expect(await eventually { FileManager.default.fileExists(atPath: file.path) })
            clock.advance(to: Date(timeIntervalSince1970: 1_796_000_000 + 3600))
            #expect(await eventually { (try? await keysOf(client, "pool").first?["state"] as? String) == "active" })
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "with Bearer small-key")
        }
    }

    @Test func whenEveryKeyIsOutTheProviderIsSkippedAndTheNextOneServes() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "pool" ? Reply.error(.forbidden) : Reply.chatCompletion(content: "from backup")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                #"{"name":"pool","endpoint":"\#(upstream.endpoint("pool"))","model":"m","api_key":"a","api_keys":["b"],"disabled_key_retry_seconds":3600}"#,
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "from backup")
            #expect(upstream.count("pool") == 2, "api_key first, then the pool")
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "from backup")
            #expect(upstream.count("pool") == 2, "a provider with no usable key is skipped")
            let list = try await client.get("/admin/providers/m").jsonArray
            #expect(list.first?["status"] as? String == "keys_exhausted")
            #expect((list.first?["keys"] as? [[String: Any]])?.allSatisfy { $0["until"] is String } == true, "back after disabled_key_retry_seconds")
            let explained = try await client.get("/admin/explain?model=m").json
            #expect(((explained["providers"] as? [[String: Any]])?.first)?["reason"] as? String == "every key of its pool refused or rate-limited")
        }
    }

    @Test func aSessionAndAConversationKeepTheirKeyWithRoundRobin() async throws {
        let upstream = FakeUpstream { request in Reply.chatCompletion(content: request.header("authorization") ?? "") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                #"{"name":"pool","endpoint":"\#(upstream.endpoint("pool"))","model":"m","key_strategy":"round_robin","api_keys":["k1","k2","k3","k4"]}"#
            ])
        } _: { client in
            var bySession: [String: Set<String>] = [:]
            for round in 0..<4 {
                for session in ["alpha", "beta", "gamma", "delta", "epsilon"] {
                    let reply = try await client.post("/v1/chat/completions", chatBody(content: "turn \(round)"), headers: [("X-Session-Id", session)])
                    bySession[session, default: []].insert(reply.content ?? "")
                }
            }
            #expect(bySession.values.allSatisfy { $0.count == 1 }, "each session stays on one key: \(bySession)")
            // Without a session, the same conversation (its opening messages) keeps its key too.
            var conversation: Set<String> = []
            for _ in 0..<4 {
                conversation.insert(try await client.post("/v1/chat/completions", chatBody(content: "the same opening")).content ?? "")
            }
            #expect(conversation.count == 1)
        }
    }

    @Test func aRetryAfterTheProvidersOwnFailureKeepsItsKey() async throws {
        let failures = Atomic(0)
        let upstream = FakeUpstream { request in
            failures.add(1, ordering: .relaxed).oldValue == 0 ? Reply.error(.internalServerError) : Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                #"{"name":"pool","endpoint":"\#(upstream.endpoint("pool"))","model":"m","retry":1,"key_strategy":"round_robin","api_keys":["k1","k2"],"circuit_breaker":false}"#
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.status == 200)
            let keys = upstream.requests(to: "pool").map { $0.header("authorization") }
            #expect(keys.count == 2 && keys[0] == keys[1], "a 5xx is the provider's failure: \(keys)")
        }
    }
}
