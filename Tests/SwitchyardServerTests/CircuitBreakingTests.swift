import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOConcurrencyHelpers
import Testing

/// Circuit breakers against fake upstreams: a failing provider is skipped at no cost, probed once its open period
/// is over, and taken back when the probe succeeds.
@Suite("Circuit breakers")
struct CircuitBreakingTests {
    func circuit(_ client: GatewayClient, _ provider: String) async throws -> [String: Any] {
        let list = try await client.get("/admin/providers/m").jsonArray
        return list.first { $0["name"] as? String == provider }?["circuit"] as? [String: Any] ?? [:]
    }

    @Test func aHungProviderCostsOneTimeoutThenRequestsSkipItAtNoCost() async throws {
        let release = Gate()
        let upstream = FakeUpstream { request in
            if request.provider == "hung" { await release.wait() }
            return Reply.chatCompletion(content: "from backup")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("hung", endpoint: upstream.endpoint("hung"), retry: 3, timeout: 5),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            defer { release.open() }
            for _ in 0..<5 {
                let reply = try await client.post("/v1/chat/completions", chatBody())
                #expect(reply.status == 200)
                #expect(reply.header("x-switchyard-provider") == "backup")
            }
            #expect(upstream.count("hung") == 1, "one timeout, no retries, then skipped")
            #expect(upstream.count("backup") == 5)
            let state = try await circuit(client, "hung")
            #expect(state["state"] as? String == "open")
            #expect(state["openings"] as? Int == 1)
            #expect(state["open_until"] is String)
            let providers = try await client.get("/admin/providers/m").jsonArray
            #expect(providers.first?["status"] as? String == "circuit_open")
            let metrics = try await client.get("/metrics").body
            #expect(metrics.contains(#"switchyard_circuit_state{model="m",provider="hung"} 2"#))
            #expect(metrics.contains(#"switchyard_circuit_state{model="m",provider="backup"} 0"#))
            #expect(metrics.contains(#"switchyard_provider_status{model="m",provider="hung",status="circuit_open"} 1"#))
        }
    }

    @Test func afterTheOpenPeriodOneRequestProbesWhileOthersGoElsewhereAndItsSuccessClosesTheCircuit() async throws {
        let start = try Date("2026-12-03T12:00:00Z", strategy: .iso8601)
        let clock = ManualClock(start)
        let healthy = NIOLockedValueBox(false)
        let probeGate = Gate()
        let upstream = FakeUpstream { request in
            guard request.provider == "flaky" else { return Reply.chatCompletion(content: "from backup") }
            guard healthy.withLockedValue({ $0 }) else { return Reply.error(.internalServerError) }
            await probeGate.wait()
            return Reply.chatCompletion(content: "from flaky")
        }
        try await GatewayHarness.run(upstream: upstream, clock: clock) {
            modelConfig([
                providerJSON(
                    "flaky", endpoint: upstream.endpoint("flaky"),
                    extra: #","circuit_breaker":{"failure_threshold":2,"open_seconds":30}"#
                ),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            defer { probeGate.open() }
            for _ in 0..<3 {
                #expect(try await client.post("/v1/chat/completions", chatBody()).header("x-switchyard-provider") == "backup")
            }
            #expect(upstream.count("flaky") == 2, "open after two failures: the third request skipped it")
            #expect(try await circuit(client, "flaky")["open_until"] as? String == "2026-12-03T12:00:30+00:00")

            healthy.withLockedValue { $0 = true }
            clock.advance(to: start.addingTimeInterval(31))
            let probe = Task { try await client.post("/v1/chat/completions", chatBody()) }
            #expect(await eventually { upstream.count("flaky") == 3 })
            #expect(try await circuit(client, "flaky")["state"] as? String == "half_open")
            // While the probe runs, other requests do not pile onto the provider.
            #expect(try await client.post("/v1/chat/completions", chatBody()).header("x-switchyard-provider") == "backup")
            #expect(upstream.count("flaky") == 3)

            probeGate.open()
            let probed = try await probe.value
            #expect(probed.status == 200)
            #expect(probed.content == "from flaky")
            #expect(try await circuit(client, "flaky")["state"] as? String == "closed")
            #expect(try await client.post("/v1/chat/completions", chatBody()).header("x-switchyard-provider") == "flaky")
        }
    }

    @Test func aFailedProbeOpensTheCircuitAgainForTwiceAsLong() async throws {
        let start = try Date("2026-12-03T12:00:00Z", strategy: .iso8601)
        let clock = ManualClock(start)
        let upstream = FakeUpstream { request in
            request.provider == "down" ? Reply.error(.badGateway) : Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream, clock: clock) {
            modelConfig([
                providerJSON("down", endpoint: upstream.endpoint("down"), retry: 2, extra: #","circuit_breaker":{"failure_threshold":1}"#),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            #expect(upstream.count("down") == 1, "the circuit opened on the first failure, so no retry followed")
            clock.advance(to: start.addingTimeInterval(30))
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            #expect(upstream.count("down") == 2, "the probe, not retried")
            let state = try await circuit(client, "down")
            #expect(state["state"] as? String == "open")
            #expect(state["openings"] as? Int == 2)
            #expect(state["open_until"] as? String == "2026-12-03T12:01:30+00:00")
        }
    }

    @Test func whenEveryProviderIsOpenARequestStillTriesTheOneDueFirst() async throws {
        let healthy = NIOLockedValueBox(false)
        let upstream = FakeUpstream { _ in
            healthy.withLockedValue { $0 } ? Reply.chatCompletion(content: "back") : Reply.error(.serviceUnavailable)
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("only", endpoint: upstream.endpoint("only"), retry: 3, extra: #","circuit_breaker":{"failure_threshold":1}"#)
            ])
        } _: { client in
            let first = try await client.post("/v1/chat/completions", chatBody())
            #expect(first.status == 502)
            #expect(upstream.count("only") == 1)
            let second = try await client.post("/v1/chat/completions", chatBody())
            #expect(second.status == 502, "tried despite the open circuit, once")
            #expect(second.error["code"] as? String == "all_providers_failed")
            #expect(upstream.count("only") == 2)
            healthy.withLockedValue { $0 = true }
            let third = try await client.post("/v1/chat/completions", chatBody())
            #expect(third.status == 200)
            #expect(try await circuit(client, "only")["state"] as? String == "closed")
        }
    }

    @Test func clientErrorsDoNotOpenTheCircuit() async throws {
        let upstream = FakeUpstream { _ in
            Reply.json(#"{"error":{"message":"bad","type":"invalid_request_error"}}"#, status: .badRequest)
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("strict", endpoint: upstream.endpoint("strict"), extra: #","circuit_breaker":{"failure_threshold":1}"#)])
        } _: { client in
            for _ in 0..<3 {
                #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 400)
            }
            #expect(upstream.count("strict") == 3)
            let state = try await circuit(client, "strict")
            #expect(state["state"] as? String == "closed")
        }
    }

    @Test func a503WithRetryAfterCoolsTheProviderDownLikeA429() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "busy"
                ? Reply.error(.serviceUnavailable, headers: [HTTPField.Name("Retry-After")!: "120"])
                : Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("busy", endpoint: upstream.endpoint("busy"), retry: 3),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            for _ in 0..<4 {
                #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            }
            #expect(upstream.count("busy") == 1, "no retry, and skipped while it cools down")
            let providers = try await client.get("/admin/providers/m").jsonArray
            #expect(providers.first?["status"] as? String == "cooling_down")
            #expect((providers.first?["status_reason"] as? String)?.contains("503") == true)
        }
    }

    @Test func aStreamThatGoesSilentAfterItStartedCountsAgainstTheProvider() async throws {
        let release = Gate()
        let upstream = FakeUpstream { request in
            guard request.provider == "stalling" else { return Reply.sse(Reply.streamEvents(["ok"])) }
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "data: \(Reply.chunk("part"))\n\n"))
                    _ = await release.wait(upTo: 30)
                    try await writer.finish(nil)
                })
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("stalling", endpoint: upstream.endpoint("stalling"), timeout: 5),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            defer { release.open() }
            let broken = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(broken.header("x-switchyard-provider") == "stalling")
            #expect(broken.body.contains("upstream_stream_error"))
            let next = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(next.header("x-switchyard-provider") == "backup", "the silence opened the circuit")
            #expect(next.streamedContent == "ok")
        }
    }
}

/// Opt-in background health checks against fake upstreams, on an injected clock.
@Suite("Health checks")
struct HealthCheckTests {
    @Test func aFailingCheckOpensTheCircuitBeforeAnyRequestPaysForItAndAPassingOneClosesIt() async throws {
        let start = try Date("2026-12-03T12:00:00Z", strategy: .iso8601)
        let clock = ManualClock(start)
        let healthy = NIOLockedValueBox(false)
        let upstream = FakeUpstream { request in
            if request.header("x-switchyard-health-check") == "1" {
                return healthy.withLockedValue { $0 } ? Reply.chatCompletion(content: "pong") : Reply.error(.serviceUnavailable)
            }
            return Reply.chatCompletion(content: "from \(request.provider)")
        }
        try await GatewayHarness.run(upstream: upstream, clock: clock) {
            modelConfig([
                providerJSON("watched", endpoint: upstream.endpoint("watched"), extra: #","health_check":{"interval_seconds":10}"#),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            func circuit() async -> String? {
                let list = (try? await client.get("/admin/providers/m").jsonArray) ?? []
                return (list.first { $0["name"] as? String == "watched" }?["circuit"] as? [String: Any])?["state"] as? String
            }
            // The first check runs at start.
            #expect(await eventually { await circuit() == "open" })
            let check = try #require(upstream.requests(to: "watched").first)
            #expect(check.path == "chat/completions")
            #expect(check.json["max_tokens"] as? Int == 1 && check.json["model"] as? String == "upstream-model")
            #expect(check.header("authorization") == "Bearer key-watched")
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "from backup")
            #expect(upstream.count("backup") == 1)
            #expect(upstream.requests(to: "watched").allSatisfy { $0.header("x-switchyard-health-check") == "1" })
            #expect(upstream.count("backup") == 1, "checks go to the checked provider only")

            healthy.withLockedValue { $0 = true }
            clock.advance(to: start.addingTimeInterval(10))
            #expect(await eventually { await circuit() == "closed" })
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "from watched")
        }
    }

    @Test func aCheckWithAPathIsAGetOfThatPathWithTheProvidersCredentials() async throws {
        let start = try Date("2026-12-03T12:00:00Z", strategy: .iso8601)
        let clock = ManualClock(start)
        let healthy = NIOLockedValueBox(false)
        let upstream = FakeUpstream { request in
            guard request.path == "models" else { return Reply.chatCompletion(content: "ok") }
            return healthy.withLockedValue { $0 } ? Reply.json(#"{"object":"list","data":[]}"#) : Reply.error(.unauthorized)
        }
        try await GatewayHarness.run(upstream: upstream, clock: clock) {
            modelConfig([
                providerJSON("listed", endpoint: upstream.endpoint("listed"), extra: #","health_check":{"path":"/models","interval_seconds":60}"#)
            ])
        } _: { client in
            func circuit() async -> String? {
                let list = (try? await client.get("/admin/providers/m").jsonArray) ?? []
                return (list.first?["circuit"] as? [String: Any])?["state"] as? String
            }
            #expect(await eventually { await circuit() == "open" }, "a 401 to the check is a failed check")
            let check = try #require(upstream.requests(to: "listed").first)
            #expect(check.path == "models", "a GET: the fake serves models for GET only")
            #expect(check.header("authorization") == "Bearer key-listed")
            #expect(check.header("x-switchyard-health-check") == "1")
            healthy.withLockedValue { $0 = true }
            clock.advance(to: start.addingTimeInterval(60))
            #expect(await eventually { await circuit() == "closed" })
            #expect(upstream.requests(to: "listed").count == 2)
        }
    }

    @Test(arguments: [true, false])
    func hideUnavailableModelsLeavesOutModelsWithNoUsableProvider(hide: Bool) async throws {
        let upstream = FakeUpstream { _ in Reply.error(.serviceUnavailable) }
        try await GatewayHarness.run(upstream: upstream) {
            #"{"_global":{"hide_unavailable_models":\#(hide)},"#
                + #""down":{"providers":[\#(providerJSON("d", endpoint: upstream.endpoint("d"), extra: #","circuit_breaker":{"failure_threshold":1}"#))]},"#
                + #""up":{"aliases":["up2"],"providers":[{"name":"e","type":"echo"}]},"#
                + #""off":{"providers":[{"name":"e","type":"echo","enabled":false}]}}"#
        } _: { client in
            #expect(await client.postStatus("/v1/chat/completions", chatBody(model: "down")) == 502)
            let listed = (try await client.get("/v1/models").json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(listed == (hide ? ["up", "up2"] : ["down", "up", "up2", "off"]))
        }
    }
}
