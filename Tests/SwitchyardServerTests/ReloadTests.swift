import Foundation
import Testing

@Suite("Hot reload")
struct ReloadTests {
    @Test func aValidConfigIsSwappedInAndCountersCarryOver() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok", usage: (1, 1)) }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("a", endpoint: upstream.endpoint("a"))])
        } _: { client in
            for _ in 0..<2 {
                #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            }
            let newConfig = #"{"_global":{"retry_backoff_ms":1},"m":{"providers":[\#(providerJSON("a", endpoint: upstream.endpoint("a"))),\#(providerJSON("b", endpoint: upstream.endpoint("b"), priority: 2))]},"fresh":{"providers":[{"name":"e","type":"echo"}]}}"#
            try newConfig.write(to: client.configFile, atomically: true, encoding: .utf8)
            let reload = try await client.post("/admin/reload", "")
            #expect(reload.status == 200)
            #expect(reload.json["status"] as? String == "ok")
            #expect(reload.json["models"] as? [String] == ["m", "fresh"])
            #expect(reload.json["providers"] as? Int == 3)

            let models = try await client.get("/v1/models").json["data"] as? [[String: Any]]
            #expect(models?.compactMap { $0["id"] as? String } == ["m", "fresh"])
            #expect(await client.postStatus("/v1/chat/completions", chatBody(model: "fresh")) == 200)
            let stats = try await client.get("/admin/stats").json["m"] as? [String: Any]
            #expect((stats?["a"] as? [String: Any])?["requests"] as? Int == 2, "kept across the reload")
            #expect((stats?["b"] as? [String: Any])?["requests"] as? Int == 0, "new providers start at zero")
        }
    }

    @Test func anInvalidConfigChangesNothingAndListsEveryProblem() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("a", endpoint: upstream.endpoint("a"))])
        } _: { client in
            let broken = #"{"m":{"providers":[{"name":"a","endpoint":"not a url","api_key":"k","model":"x","weight":0},{"name":"a","endpoint":"http://h/v1","model":"y","rate_limit":{"period_cron":"61 * * * *"}}]},"other":{"providers":[{"name":"z","type":"echo","timeout":-1}]}}"#
            try broken.write(to: client.configFile, atomically: true, encoding: .utf8)
            let reload = try await client.post("/admin/reload", "")
            #expect(reload.status == 400)
            #expect(reload.json["status"] as? String == "error")
            #expect(reload.error["code"] as? String == "invalid_config")
            let errors = try #require(reload.json["errors"] as? [String])
            #expect(errors.contains("m.providers[0].endpoint: must be an http:// or https:// URL"))
            #expect(errors.contains("m.providers[0].weight: must be > 0"))
            #expect(errors.contains { $0.hasPrefix("m.providers[1].name: duplicate provider name") })
            #expect(errors.contains { $0.hasPrefix("m.providers[1].rate_limit.period_cron: invalid cron") })
            #expect(errors.contains("other.providers[0].timeout: must be > 0"))

            try "{ not json".write(to: client.configFile, atomically: true, encoding: .utf8)
            let syntax = try await client.post("/admin/reload", "")
            #expect(syntax.status == 400)
            #expect((syntax.json["errors"] as? [String])?.first?.contains("invalid JSON") == true)

            let models = try await client.get("/v1/models").json["data"] as? [[String: Any]]
            #expect(models?.compactMap { $0["id"] as? String } == ["m"])
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
        }
    }

    @Test func aStreamInFlightFinishesOnTheConfigItStartedWith() async throws {
        let gate = Gate()
        let upstream = FakeUpstream { _ in
            Reply.sse(Reply.streamEvents(["before", " after"])) { index in
                if index == 2 { await gate.wait() }
            }
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("a", endpoint: upstream.endpoint("a"))])
        } _: { client in
            defer { gate.open() }  // the fake upstream can always finish and shut down
            let response = try await client.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            var reader = StreamReader(response)
            try await reader.read(until: "before")
            // The provider and the model disappear from the config while the stream is open.
            try #"{"other":{"providers":[{"name":"e","type":"echo"}]}}"#.write(to: client.configFile, atomically: true, encoding: .utf8)
            #expect(await client.postStatus("/admin/reload", "") == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 404)
            gate.open()
            try await reader.readToEnd()
            #expect(reader.received.contains("after"))
            #expect(reader.received.hasSuffix("data: [DONE]\n\n"))
        }
    }
}

extension ReloadTests {
    @Test func aReloadWithNumbersThatWouldTrapIsRejectedAndTheGatewayKeepsServing() async throws {
        try await GatewayHarness.run {
            #"{"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            let absurd = #"{"_global":{"max_request_body_mb":1e13,"cooldown_seconds":1e20,"shutdown_grace_seconds":1e10},"m":{"providers":[{"name":"e","type":"echo","timeout":1e300}]}}"#
            try absurd.write(to: client.configFile, atomically: true, encoding: .utf8)
            let reload = try await client.post("/admin/reload", "")
            #expect(reload.status == 400)
            let errors = try #require(reload.json["errors"] as? [String])
            #expect(errors.contains("_global.max_request_body_mb: must be <= 1024"))
            #expect(errors.contains("m.providers[0].timeout: must be <= 3600"))
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
        }
    }

    @Test func removedProvidersLeaveTheMetricsAndTheirInFlightUsageIsStillSaved() async throws {
        let release = Gate()
        let upstream = FakeUpstream { request in
            if request.provider == "leaving" { await release.wait() }
            return Reply.chatCompletion(content: "ok", usage: (20, 22))
        }
        try await GatewayHarness.run(upstream: upstream) {
            // The answer is held through a reload and three more requests: a loaded machine must not time it out.
            modelConfig([
                providerJSON("leaving", endpoint: upstream.endpoint("leaving"), timeout: 120),
                providerJSON("staying", endpoint: upstream.endpoint("staying"), priority: 2),
            ])
        } _: { client in
            defer { release.open() }
            let inFlight = Task { try await client.post("/v1/chat/completions", chatBody()) }
            while upstream.count("leaving") == 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(try await client.get("/metrics").body.contains(#"provider="leaving""#))

            try modelConfig([providerJSON("staying", endpoint: upstream.endpoint("staying"))])
                .write(to: client.configFile, atomically: true, encoding: .utf8)
            #expect(try await client.post("/admin/reload", "").status == 200)
            #expect(!(try await client.get("/metrics").body.contains(#"provider="leaving""#)), "no series of a removed provider")

            release.open()
            #expect(try await inFlight.value.status == 200, "the request in flight finishes on its snapshot")
            let file = client.dataDirectory.appendingPathComponent("usage/m_leaving.json")
            var saved: [String: Any] = [:]
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                saved = (try? JSONSerialization.jsonObject(with: Data(contentsOf: file))) as? [String: Any] ?? [:]
                if saved["tokens"] as? Int == 42 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(saved["requests"] as? Int == 1)
            #expect(saved["tokens"] as? Int == 42, "tokens settled after the reload are written: \(saved)")
        }
    }

    @Test func anEditedConfigFileIsPickedUpWithoutASignalAndABrokenEditKeepsTheRunningConfig() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("a", endpoint: upstream.endpoint("a"))])
        } _: { client in
            func models() async -> [String] {
                ((try? await client.get("/v1/models").json["data"]) as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
            }
            let added = #"{"m":{"providers":[\#(providerJSON("a", endpoint: upstream.endpoint("a")))]},"fresh":{"providers":[{"name":"e","type":"echo"}]}}"#
            try added.write(to: client.configFile, atomically: true, encoding: .utf8)
            #expect(await eventually { await models() == ["m", "fresh"] })
            #expect(await client.postStatus("/v1/chat/completions", chatBody(model: "fresh")) == 200)

            try #"{"m":{"providers":[{"name":"a","endpoint":"not a url"}]}}"#.write(to: client.configFile, atomically: true, encoding: .utf8)
            try await Task.sleep(for: .seconds(3))  // the watcher polls every second and reloads a change on its second look
            #expect(await models() == ["m", "fresh"], "an invalid file keeps the running config")
            #expect(await client.postStatus("/v1/chat/completions", chatBody(model: "fresh")) == 200)
        }
    }

    @Test func watchConfigFalseLeavesReloadsToTheSignalAndTheAdminEndpoint() async throws {
        try await GatewayHarness.run {
            #"{"_global":{"watch_config":false},"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            try #"{"_global":{"watch_config":false},"m":{"providers":[{"name":"e","type":"echo"}]},"fresh":{"providers":[{"name":"e","type":"echo"}]}}"#
                .write(to: client.configFile, atomically: true, encoding: .utf8)
            try await Task.sleep(for: .seconds(3))
            #expect(await client.postStatus("/v1/chat/completions", chatBody(model: "fresh")) == 404)
            #expect(await client.postStatus("/admin/reload", "") == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody(model: "fresh")) == 200)
        }
    }
}
