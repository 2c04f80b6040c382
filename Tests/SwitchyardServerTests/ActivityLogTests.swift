import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import Testing

/// The activity log against the running gateway: key, cooldown, quota and config events land in `events.log` and
/// in `GET /admin/events`, whose every filter works, with no key in either.
@Suite("Activity log")
struct ActivityLogTests {
    static let start = Date(timeIntervalSince1970: 1_796_000_000)

    func actions(_ reply: GatewayClient.Reply) -> [String] {
        (reply.json["events"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
    }

    @Test func keyCooldownQuotaAndConfigEventsAreLoggedAndFiltered() async throws {
        let busyAnswers = NIOLockedValueBox(0)
        let upstream = FakeUpstream { request in
            switch request.provider {
            case "pool" where request.header("authorization") == "Bearer secret-one":
                return Reply.error(.unauthorized)
            case "busy":
                let first = busyAnswers.withLockedValue { count in
                    count += 1
                    return count == 1
                }
                return first
                    ? Reply.error(.tooManyRequests, headers: [HTTPField.Name("Retry-After")!: "30"])
                    : Reply.chatCompletion(content: "busy again")
            default:
                return Reply.chatCompletion(content: "from \(request.provider)")
            }
        }
        let clock = ManualClock(Self.start)
        try await GatewayHarness.run(upstream: upstream, clock: clock) {
            #"""
            {"_global":{"retry_backoff_ms":1,"watch_config":false},
             "m":{"providers":[{"name":"pool","endpoint":"\#(upstream.endpoint("pool"))","model":"u","timeout":10,"api_keys":["secret-one",{"key":"secret-two","name":"second"}]}]},
             "q":{"providers":[\#(providerJSON("busy", endpoint: upstream.endpoint("busy"))),
                               \#(providerJSON("quota", endpoint: upstream.endpoint("quota"), priority: 2, extra: #","rate_limit":{"requests_per_period":1,"period_cron":"0 0 * * *"}"#))]}}
            """#
        } _: { client in
            let served = try await client.post("/v1/chat/completions", chatBody(), headers: [("X-Request-Id", "event-test-1")])
            #expect(served.content == "from pool")
            #expect(try await client.post("/v1/chat/completions", chatBody(model: "q")).content == "from quota")
            #expect(try await client.post("/v1/chat/completions", chatBody(model: "q")).status == 429)
            #expect(try await client.post("/v1/chat/completions", chatBody(model: "q")).status == 429, "reported once a period")
            clock.advance(to: Self.start.addingTimeInterval(31))
            #expect(try await client.post("/v1/chat/completions", chatBody(model: "q")).content == "busy again")
            #expect(try await client.post("/admin/reload", "").status == 200)
            try #"{"m":{"providers":"nope"}}"#.write(to: client.configFile, atomically: true, encoding: .utf8)
            #expect(try await client.post("/admin/reload", "").status == 400)

            let all = try await client.get("/admin/events")
            #expect(all.status == 200)
            #expect(
                actions(all) == [
                    "CONFIG_REJECTED", "CONFIG_RELOADED", "PROVIDER_RECOVERED", "QUOTA_EXHAUSTED", "PROVIDER_COOLDOWN",
                    "KEY_SELECTED", "KEY_UNSELECTED",
                ], "newest first"
            )
            let events = all.json["events"] as? [[String: Any]] ?? []
            let unselected = try #require(events.last)
            #expect(unselected["model"] as? String == "m" && unselected["provider"] as? String == "pool")
            #expect(unselected["status"] as? Int == 401 && unselected["request_id"] as? String == "event-test-1")
            #expect((unselected["key"] as? String)?.hasPrefix("sha256:") == true, "a key without a name shows as its fingerprint")
            #expect((unselected["detail"] as? String)?.contains("disabled until reload") == true)
            #expect(events[events.count - 2]["key"] as? String == "second")
            #expect(events[0]["model"] is NSNull && (events[0]["detail"] as? String)?.contains("providers") == true)
            #expect((events[3]["detail"] as? String)?.contains("1/1 requests") == true)
            #expect(events[4]["status"] as? Int == 429)

            #expect(actions(try await client.get("/admin/events?model=m")) == ["KEY_SELECTED", "KEY_UNSELECTED"])
            #expect(actions(try await client.get("/admin/events?provider=busy")) == ["PROVIDER_RECOVERED", "PROVIDER_COOLDOWN"])
            #expect(actions(try await client.get("/admin/events?model=q&provider=quota")) == ["QUOTA_EXHAUSTED"])
            #expect(actions(try await client.get("/admin/events?action=key_unselected")) == ["KEY_UNSELECTED"])
            #expect(actions(try await client.get("/admin/events?limit=2")) == ["CONFIG_REJECTED", "CONFIG_RELOADED"])
            let after = Int(Self.start.timeIntervalSince1970) + 30
            #expect(actions(try await client.get("/admin/events?since=\(after)")) == ["CONFIG_REJECTED", "CONFIG_RELOADED", "PROVIDER_RECOVERED"])
            #expect(actions(try await client.get("/admin/events?since=2026-11-30T00:00:00Z")).count == 7)
            #expect(actions(try await client.get("/admin/events?since=2030-01-01T00:00:00.000Z")).isEmpty)

            for (query, param) in [("limit=0", "limit"), ("limit=abc", "limit"), ("limit=2001", "limit"), ("action=NOPE", "action"), ("since=yesterday", "since")] {
                let refused = try await client.get("/admin/events?\(query)")
                #expect(refused.status == 400 && refused.error["param"] as? String == param, "\(query)")
            }

            // The same events, oldest first, in events.log; no key in any log.
            let logs = client.configFile.deletingLastPathComponent().appendingPathComponent("logs")
            let file = logs.appendingPathComponent("events.log")
            #expect(await eventually { ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").count == 7 })
            let lines = ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n")
            let logged = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            #expect(logged.compactMap { $0["action"] as? String } == actions(all).reversed())
            #expect(logged.first?["time"] as? String == "2026-11-30T00:53:20.000Z")
            for name in (try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? [] {
                let text = (try? String(contentsOf: logs.appendingPathComponent(name), encoding: .utf8)) ?? ""
                #expect(!text.contains("secret-"), "\(name) holds a key")
            }
        }
    }

    @Test func anOpeningAndAClosingCircuitAreEvents() async throws {
        let failing = NIOLockedValueBox(true)
        let upstream = FakeUpstream { _ in
            failing.withLockedValue { $0 } ? Reply.error(.internalServerError) : Reply.chatCompletion(content: "fine")
        }
        let clock = ManualClock(Self.start)
        try await GatewayHarness.run(upstream: upstream, clock: clock) {
            modelConfig([
                providerJSON("flaky", endpoint: upstream.endpoint("flaky"), extra: #","circuit_breaker":{"failure_threshold":1,"open_seconds":10}"#)
            ])
        } _: { client in
            #expect(try await client.post("/v1/chat/completions", chatBody()).status == 502)
            failing.withLockedValue { $0 = false }
            clock.advance(to: Self.start.addingTimeInterval(11))
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "fine")
            let events = try await client.get("/admin/events?provider=flaky").json["events"] as? [[String: Any]] ?? []
            #expect(events.compactMap { $0["action"] as? String } == ["CIRCUIT_CLOSED", "CIRCUIT_OPENED"])
            #expect((events.last?["detail"] as? String)?.contains("skipped until") == true)
        }
    }
}
