import NIOConcurrencyHelpers
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SwitchyardCore
import Testing
@testable import SwitchyardServer

@Suite("Request ids, request log and metrics")
struct ObservabilityTests {
    @Test func requestIdsAreEchoedGeneratedAndForwardedUpstream() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            #"{"_global":{"api_key":"k"},"m":{"providers":[\#(providerJSON("p", endpoint: upstream.endpoint("p")))]}}"#
        } _: { client in
            let given = try await client.post("/v1/chat/completions", chatBody(), headers: [("Authorization", "Bearer k"), ("X-Request-Id", "client-id-42")])
            #expect(given.header("x-request-id") == "client-id-42")
            #expect(upstream.requests.last?.header("x-request-id") == "client-id-42")

            let generated = try await client.post("/v1/chat/completions", chatBody(), headers: [("Authorization", "Bearer k")])
            let id = try #require(generated.header("x-request-id"))
            #expect(id.hasPrefix("req_") && id.count == 36)
            #expect(upstream.requests.last?.header("x-request-id") == id)

            let unsafe = try await client.post("/v1/chat/completions", chatBody(), headers: [("Authorization", "Bearer k"), ("X-Request-Id", "bad id with spaces and {braces}")])
            #expect(unsafe.header("x-request-id")?.hasPrefix("req_") == true)

            for reply in [
                try await client.post("/v1/chat/completions", chatBody()),  // 401
                try await client.post("/v1/chat/completions", chatBody(model: "x"), headers: [("Authorization", "Bearer k")]),  // 404
                try await client.get("/nowhere"),  // 404 route
                try await client.get("/health"),
            ] {
                #expect(reply.header("x-request-id") != nil, "status \(reply.status)")
            }
        }
    }

    @Test func theRequestLogHasOneJSONLinePerRequestWithAttemptsTokensAndTimings() async throws {
        let upstream = FakeUpstream { request in
            switch request.provider {
            case "down": return Reply.error(.badGateway)
            default:
                if request.json["stream"] as? Bool == true { return Reply.sse(Reply.streamEvents(["a", "b"], usage: (4, 2))) }
                return Reply.chatCompletion(content: "ok", usage: (5, 7))
            }
        }
        try await GatewayHarness.run(upstream: upstream) {
            #"{"_global":{"api_key":"client-secret","retry_backoff_ms":1},"m":{"providers":[\#(providerJSON("down", endpoint: upstream.endpoint("down"))),\#(providerJSON("up", endpoint: upstream.endpoint("up"), priority: 2))]}}"#
        } _: { client in
            let auth = [("Authorization", "Bearer client-secret")]
            #expect(await client.postStatus("/v1/chat/completions", chatBody(content: "private words"), headers: auth + [("X-Request-Id", "r1")]) == 200)
            let stream = try await client.post("/v1/chat/completions", chatBody(stream: true), headers: auth + [("X-Request-Id", "r2")])
            #expect(stream.events.last == "[DONE]")
            #expect(await client.postStatus("/v1/chat/completions", chatBody(), headers: [("X-Request-Id", "r3")]) == 401)

            let file = client.dataDirectory.deletingLastPathComponent().appendingPathComponent("logs/requests.log")
            var lines: [[String: Any]] = []
            #expect(await eventually {
                let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
                lines = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                return lines.count == 3
            })
            let byID = Dictionary(uniqueKeysWithValues: lines.map { ($0["request_id"] as? String ?? "", $0) })
            let first = try #require(byID["r1"])
            #expect(first["model"] as? String == "m")
            #expect(first["status"] as? Int == 200)
            #expect(first["stream"] as? Bool == false)
            #expect(first["provider"] as? String == "up")
            let attempts = try #require(first["attempts"] as? [[String: Any]])
            #expect(attempts.map { $0["provider"] as? String } == ["down", "up"])
            #expect(attempts.map { $0["result"] as? String } == ["502", "ok"])
            #expect(attempts.allSatisfy { $0["latency_ms"] is Double || $0["latency_ms"] is Int })
            #expect(first["prompt_tokens"] as? Int == 5)
            #expect(first["completion_tokens"] as? Int == 7)
            #expect(first["tokens_estimated"] as? Bool == false)
            #expect(first["duration_ms"] != nil && first["time"] is String)
            // The first 8 bytes of SHA-256("client-secret"), in hex.
            #expect(first["client_key"] as? String == "sha256:fdce8e4a65b70d18")

            let second = try #require(byID["r2"])
            #expect(second["stream"] as? Bool == true)
            #expect(second["stream_outcome"] as? String == "completed")
            #expect(second["total_tokens"] as? Int == 6)
            #expect(second["ttfb_ms"] != nil)

            #expect(byID["r3"]?["status"] as? Int == 401)
            #expect(byID["r3"]?["client_key"] is NSNull)

            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(!text.contains("client-secret"))
            #expect(!text.contains("key-up") && !text.contains("key-down"))
            #expect(!text.contains("private words"))
        }
    }

    @Test func requestLoggingCanBeTurnedOff() async throws {
        try await GatewayHarness.run {
            #"{"_global":{"log_requests":false},"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            try await Task.sleep(for: .milliseconds(300))
            let file = client.dataDirectory.deletingLastPathComponent().appendingPathComponent("logs/requests.log")
            #expect(((try? String(contentsOf: file, encoding: .utf8)) ?? "").isEmpty)
        }
    }

    @Test func metricsCoverRequestsLatencyTokensFailoversQuotasAndStreams() async throws {
        let upstream = FakeUpstream { request in
            switch request.provider {
            case "flaky": return Reply.error(.serviceUnavailable)
            case "cut": return Reply.sse(Reply.streamEvents(["x", "y"]), cutAfter: 2)
            default: return Reply.chatCompletion(content: "ok", usage: (3, 4))
            }
        }
        try await GatewayHarness.run(upstream: upstream) {
            #"{"_global":{"admin_key":"admin","retry_backoff_ms":1},"m":{"providers":[\#(providerJSON("flaky", endpoint: upstream.endpoint("flaky"))),\#(providerJSON("good", endpoint: upstream.endpoint("good"), priority: 2, extra: #","rate_limit":{"requests_per_period":10}"#))]},"s":{"providers":[\#(providerJSON("cut", endpoint: upstream.endpoint("cut")))]}}"#
        } _: { client in
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            _ = try await client.post("/v1/chat/completions", chatBody(model: "s", stream: true))
            #expect(await client.getStatus("/metrics") == 401)
            let reply = try await client.get("/metrics", headers: [("Authorization", "Bearer admin")])
            #expect(reply.status == 200)
            #expect(reply.header("content-type")?.hasPrefix("text/plain") == true)
            let text = reply.body
            for expected in [
                #"switchyard_requests_total{model="m",provider="good",status="200"} 1"#,
                #"switchyard_upstream_attempts_total{model="m",provider="flaky",outcome="503"} 1"#,
                #"switchyard_failovers_total{model="m",provider="flaky",reason="503"} 1"#,
                #"switchyard_tokens_total{model="m",provider="good",kind="prompt"} 3"#,
                #"switchyard_tokens_total{model="m",provider="good",kind="completion"} 4"#,
                #"switchyard_quota_used{model="m",provider="good",kind="requests"} 1"#,
                #"switchyard_quota_remaining{model="m",provider="good",kind="requests"} 9"#,
                #"switchyard_provider_status{model="m",provider="good",status="available"} 1"#,
                #"switchyard_streams_failed_total{model="s",provider="cut"} 1"#,
                "switchyard_upstream_latency_seconds_bucket{",
                "switchyard_gateway_overhead_seconds_count 2",
                "switchyard_stream_ttfb_seconds_count{",
                "switchyard_in_flight_requests",
                "switchyard_open_streams 0",
            ] {
                #expect(text.contains(expected), "missing \(expected)")
            }
        }
        try await GatewayHarness.run {
            #"{"_global":{"api_key":"k","metrics_public":true},"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            #expect(await client.getStatus("/metrics") == 200)
        }
    }

    @Test func theLogFileRotatesBySize() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("gateway.log").path
        let sink = LogSink(path: path, toStandardError: false, maximumBytes: 1000, keptFiles: 2)
        for index in 0..<100 {
            sink.write(Array(String(format: "line %03d %@\n", index, String(repeating: "x", count: 40)).utf8))
            sink.flush()
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(files == ["gateway.log", "gateway.log.1", "gateway.log.2"])
        for file in files {
            let size = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(file).path)[.size] as? Int ?? 0
            #expect(size <= 1000)
        }
        let newest = try String(contentsOfFile: path, encoding: .utf8)
        #expect(newest.hasSuffix("line 099 \(String(repeating: "x", count: 40))\n"))
    }
}

extension ObservabilityTests {
    @Test func unknownModelNamesBecomeOneFixedLabelAndAreClippedInTheLog() async throws {
        try await GatewayHarness.run {
            #"{"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            let invented = "invented-" + String(repeating: "z", count: 100_000)
            #expect(await client.postStatus("/v1/chat/completions", chatBody(model: invented)) == 404)
            #expect(await client.postStatus("/v1/chat/completions", chatBody(model: "another-one")) == 404)
            #expect(await client.postStatus("/v1/chat/completions", chatBody(model: "m")) == 200)
            let metrics = try await client.get("/metrics").body
            #expect(!metrics.contains("invented-"))
            #expect(!metrics.contains("another-one"))
            #expect(metrics.contains(#"model="unknown""#))
            #expect(metrics.contains(#"model="m""#))
            let file = client.dataDirectory.deletingLastPathComponent().appendingPathComponent("logs/requests.log")
            try await Task.sleep(for: .milliseconds(300))
            let log = try String(contentsOf: file, encoding: .utf8)
            #expect(log.split(separator: "\n").allSatisfy { $0.utf8.count < 4096 }, "no line carries the whole name")
            #expect(log.contains("invented-zzz"))
        }
    }

    @Test func openAccessOnAPublicAddressIsWarnedAboutAtStartAndOnReload() async throws {
        let lines = NIOLockedValueBox<[String]>([])
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let configFile = directory.appendingPathComponent("provider.json")
        try #"{"_global":{"api_key":""},"m":{"providers":[{"name":"e","type":"echo"}]}}"#.write(to: configFile, atomically: true, encoding: .utf8)
        let logger = Logger(label: "capture") { _ in CapturingLogHandler(lines: lines) }
        let state = GatewayState(
            config: try ConfigLoader.load(file: configFile.path).config, configFile: configFile.path,
            files: UsageFiles(dataDirectory: directory.path, timeZone: TimeZone(identifier: "UTC")!), clock: SystemClock(),
            logger: logger, metrics: GatewayMetrics(), listenHost: "0.0.0.0"
        )
        #expect(lines.withLockedValue { $0 }.filter { $0.contains("/v1 has no api_key") }.count == 1)
        _ = try state.reload(trigger: "config file changed")
        #expect(lines.withLockedValue { $0 }.filter { $0.contains("/v1 has no api_key") }.count == 2)

        let loopback = NIOLockedValueBox<[String]>([])
        _ = GatewayState(
            config: try ConfigLoader.load(file: configFile.path).config, configFile: configFile.path,
            files: UsageFiles(dataDirectory: directory.path, timeZone: TimeZone(identifier: "UTC")!), clock: SystemClock(),
            logger: Logger(label: "capture") { _ in CapturingLogHandler(lines: loopback) }, metrics: GatewayMetrics(),
            listenHost: "127.0.0.1"
        )
        #expect(!loopback.withLockedValue { $0 }.contains { $0.contains("/v1 has no api_key") })
    }
}

/// Keeps every message logged through it.
struct CapturingLogHandler: LogHandler {
    let lines: NIOLockedValueBox<[String]>
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.withLockedValue { $0.append("\(event.level) \(event.message)") }
    }
}

extension ObservabilityTests {
    @Test func logLineNumbersAreWrittenAsSwiftPrintsThemAndNeverTrap() throws {
        func decimal(_ value: Double, places: Int = 2) -> String {
            var line = JSONLine()
            line.field("n", decimal: value, places: places)
            return String(decoding: line.bytes(), as: UTF8.self)
        }
        #expect(decimal(12) == #"{"n":12.0}"#)
        #expect(decimal(0.25) == #"{"n":0.25}"#)
        #expect(decimal(1.004) == #"{"n":1.0}"#)
        #expect(decimal(1234.5678, places: 3) == #"{"n":1234.568}"#)
        #expect(decimal(0.0004, places: 3) == #"{"n":0.0}"#)
        #expect(decimal(-2.5) == #"{"n":-2.5}"#)
        #expect(decimal(.nan) == #"{"n":null}"# && decimal(.infinity) == #"{"n":null}"#)
        for value in [0.0, 0.1, 0.7, 3.14159, 99.999, 1e6 + 0.5] {
            let expected = String((value * 100).rounded() / 100)
            #expect(decimal(value) == #"{"n":\#(expected)}"#)
        }

        var line = JSONLine()
        line.field("min", integer: .min)
        line.field("max", integer: .max)
        line.field("none", string: nil)
        line.field("list", objects: [1, 2]) { item, number in item.field("i", integer: number) }
        line.field("at", time: Date(timeIntervalSince1970: 1_764_561_600.125))
        let text = String(decoding: line.bytes(), as: UTF8.self)
        #expect(
            text == #"{"min":-9223372036854775808,"max":9223372036854775807,"none":null,"list":[{"i":1},{"i":2}],"at":"2025-12-01T04:00:00.125Z"}"#
        )
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
    }

    @Test func logTimestampsAreRightAcrossSecondsAndDays() {
        func stamp(_ seconds: Double) -> String {
            var bytes = [UInt8]()
            LogTime.append(Date(timeIntervalSince1970: seconds), to: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(stamp(0) == "1970-01-01T00:00:00.000Z")
        #expect(stamp(1_764_633_599.999) == "2025-12-01T23:59:59.999Z")
        #expect(stamp(1_764_633_600.5) == "2025-12-02T00:00:00.500Z", "the kept second is not reused for the next one")
        #expect(stamp(1_764_633_600.25) == "2025-12-02T00:00:00.250Z")
        #expect(stamp(1_709_210_096) == "2024-02-29T12:34:56.000Z")
    }
}

extension ObservabilityTests {
    @Test func generatedRequestIdsAre32RandomHexDigits() {
        let ids = (0..<1000).map { _ in RequestIDMiddleware.generate() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(50) {
            #expect(id.hasPrefix("req_") && id.utf8.count == 36)
            #expect(id.utf8.dropFirst(4).allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        }
        let digits = Set(ids.flatMap { $0.dropFirst(4) })
        #expect(digits.count == 16, "every hex digit turns up: \(digits.sorted())")
    }
}

extension ObservabilityTests {
    @Test func aFullLogBufferIsLeftToTheFlusherUntilItIsFarOverItsLimit() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("requests.log").path
        let sink = LogSink(path: path, toStandardError: false, maximumBytes: 64 * 1024 * 1024)
        func fileSize() -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        let line = Array(String(repeating: "x", count: 1023).utf8) + [UInt8(ascii: "\n")]

        // No flusher: the writer that fills the buffer writes it out.
        for _ in 0..<64 { sink.write(line) }
        #expect(fileSize() == 64 * 1024)

        let requests = NIOLockedValueBox(0)
        sink.handFullBuffers { requests.withLockedValue { $0 += 1 } }
        for _ in 0..<200 { sink.write(line) }
        #expect(fileSize() == 64 * 1024, "the writers do not touch the file")
        #expect(requests.withLockedValue { $0 } == 1, "one request per full buffer")
        sink.flush()
        #expect(fileSize() == 264 * 1024)

        sink.handFullBuffers {}  // a flusher that never comes
        for _ in 0..<(LogSink.writerFlushLimit / 1024) { sink.write(line) }
        #expect(fileSize() == 264 * 1024 + LogSink.writerFlushLimit, "a flusher that never comes does not hold the memory")
    }
}
