import Foundation
import Testing

/// Usage files and reloads, against the built binary.
@Suite("Persistence and signals")
struct PersistenceTests {
    static let echoConfig = #"{"m":{"providers":[{"name":"e","type":"echo","rate_limit":{"requests_per_period":1000,"period_cron":"0 0 * * *"}}]}}"#

    func usageFile(_ gateway: BinaryGateway) -> URL {
        gateway.dataDirectory.appendingPathComponent("usage/m_e.json")
    }

    func stats(_ client: GatewayClient) async throws -> [String: Any] {
        let json = try await client.get("/admin/stats").json
        return try #require((json["m"] as? [String: Any])?["e"] as? [String: Any])
    }

    @Test func countersSurviveARestartThroughAtomicallyWrittenFiles() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }

        let first = try BinaryGateway(directory: directory, config: Self.echoConfig)
        defer { first.stop() }
        let client = GatewayClient(port: try await first.waitForPort())
        for _ in 0..<3 {
            #expect(await client.postStatus("/v1/chat/completions", chatBody(content: "count me")) == 200)
        }
        #expect(first.stop() == 0, "SIGTERM ends the gateway cleanly")
        try await client.http.shutdown()

        let file = try String(contentsOf: usageFile(first), encoding: .utf8)
        let saved = try #require(try JSONSerialization.jsonObject(with: Data(file.utf8)) as? [String: Any])
        #expect(saved["requests"] as? Int == 3)
        #expect((saved["tokens"] as? Int ?? 0) > 0)
        #expect((saved["last_reset"] as? String)?.hasSuffix("+00:00") == true)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: first.dataDirectory.appendingPathComponent("usage").path)
        #expect(leftovers == ["m_e.json"], "no temporary files are left behind")

        let second = try BinaryGateway(directory: directory)
        defer { second.stop() }
        let again = GatewayClient(port: try await second.waitForPort())
        #expect(try await stats(again)["requests"] as? Int == 3)
        #expect(await again.postStatus("/v1/chat/completions", chatBody()) == 200)
        #expect(try await stats(again)["requests"] as? Int == 4)
        try await again.http.shutdown()
    }

    /// SIGKILL in the middle of steady load: what the file holds afterwards is what had been served about a second
    /// earlier, never more than was served, and never much less.
    @Test func aKilledGatewayLosesAtMostTheLastSecond() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gateway = try BinaryGateway(directory: directory, config: Self.echoConfig)
        defer { gateway.stop() }
        let client = GatewayClient(port: try await gateway.waitForPort())
        var served: [(at: ContinuousClock.Instant, count: Int)] = []
        var count = 0
        let loadStarted = ContinuousClock.now
        while ContinuousClock.now - loadStarted < .milliseconds(2500) {
            if await client.postStatus("/v1/chat/completions", chatBody()) == 200 { count += 1 }
            served.append((ContinuousClock.now, count))
        }
        let killedAt = ContinuousClock.now
        gateway.stop(SIGKILL)
        try await client.http.shutdown()
        let data = try Data(contentsOf: usageFile(gateway))
        let persisted = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["requests"] as? Int)
        // Flushes run every second; allow one more for scheduling on a loaded machine.
        let servedTwoSecondsEarlier = served.last { killedAt - $0.at >= .seconds(2) }?.count ?? 0
        #expect(persisted <= count, "never more than was served")
        #expect(persisted >= servedTwoSecondsEarlier, "persisted \(persisted) of \(count); \(servedTwoSecondsEarlier) were served 2 s before the kill")
        #expect(count > servedTwoSecondsEarlier, "the load was still running at the kill")
    }

    @Test func aResetMissedWhileDownIsAppliedBeforeServing() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let usage = directory.appendingPathComponent("data/usage")
        try FileManager.default.createDirectory(at: usage, withIntermediateDirectories: true)
        let threeDaysAgo = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-3 * 86_400))
        try #"{"requests": 999, "tokens": 123456, "last_reset": "\#(threeDaysAgo)"}"#
            .write(to: usage.appendingPathComponent("m_e.json"), atomically: true, encoding: .utf8)
        let gateway = try BinaryGateway(directory: directory, config: Self.echoConfig)
        defer { gateway.stop() }
        let client = GatewayClient(port: try await gateway.waitForPort())
        let entry = try await stats(client)
        #expect(entry["requests"] as? Int == 0)
        #expect(entry["tokens"] as? Int == 0)
        #expect(gateway.log.contains("Reset usage for m/e"))
        try await client.http.shutdown()
    }

    @Test func anUnreadableUsageFileIsReportedAndNeverOverwritten() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let usage = directory.appendingPathComponent("data/usage")
        try FileManager.default.createDirectory(at: usage, withIntermediateDirectories: true)
        let garbage = #"{"requests": 41, "tokens": "#
        try garbage.write(to: usage.appendingPathComponent("m_e.json"), atomically: true, encoding: .utf8)
        let gateway = try BinaryGateway(directory: directory, config: Self.echoConfig)
        defer { gateway.stop() }
        let client = GatewayClient(port: try await gateway.waitForPort())
        #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
        let entry = try await stats(client)
        #expect((entry["persist_error"] as? String)?.contains("m_e.json") == true)
        #expect(gateway.log.contains("ERROR"))
        #expect(gateway.stop() == 0)
        try await client.http.shutdown()
        #expect(try String(contentsOf: usage.appendingPathComponent("m_e.json"), encoding: .utf8) == garbage)
    }

    @Test func sighupReloadsTheConfigFile() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gateway = try BinaryGateway(directory: directory, config: Self.echoConfig)
        defer { gateway.stop() }
        let client = GatewayClient(port: try await gateway.waitForPort())
        #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)

        try #"{"m":{"providers":[{"name":"e","type":"echo"}]},"added":{"providers":[{"name":"x","type":"echo"}]}}"#
            .write(to: gateway.configFile, atomically: true, encoding: .utf8)
        gateway.send(SIGHUP)
        let reloaded = await eventually {
            let models = (try? await client.get("/v1/models").json["data"]) as? [[String: Any]]
            return models?.count == 2
        }
        #expect(reloaded)
        #expect(await client.postStatus("/v1/chat/completions", chatBody(model: "added")) == 200)
        #expect(try await stats(client)["requests"] as? Int == 1, "counters carry over a SIGHUP reload")

        try "{ broken".write(to: gateway.configFile, atomically: true, encoding: .utf8)
        gateway.send(SIGHUP)
        #expect(await eventually { gateway.log.contains("reload failed") })
        #expect(await client.postStatus("/v1/chat/completions", chatBody(model: "added")) == 200)
        #expect(gateway.process.isRunning)
        try await client.http.shutdown()
    }
}
