import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import Testing

/// SIGTERM against the built binary.
@Suite("Graceful shutdown")
struct ShutdownTests {
    @Test func anInFlightStreamCompletesAcrossSIGTERMAndItsCountsReachTheDisk() async throws {
        let gate = Gate()
        let upstream = FakeUpstream { _ in
            Reply.sse(Reply.streamEvents(["first", " second"], usage: (5, 6))) { index in
                if index == 2 { await gate.wait() }
            }
        }
        try await GatewayHarness.withServices({ ready in upstream.makeApplication { ready.open() } }) {
            defer { gate.open() }  // the fake upstream can always finish and shut down
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let gateway = try BinaryGateway(
                directory: directory,
                config: #"{"m":{"providers":[\#(providerJSON("p", endpoint: upstream.endpoint("p"), extra: #","rate_limit":{"requests_per_period":100}"#))]}}"#
            )
            defer { gateway.stop() }
            let port = try await gateway.waitForPort()
            let client = GatewayClient(port: port)
            let response = try await client.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            var reader = StreamReader(response)
            try await reader.read(until: "first")

            gateway.send(SIGTERM)
            #expect(await eventually { await !isListening(port) }, "SIGTERM stops new connections")
            #expect(gateway.process.isRunning, "the gateway waits for the open stream")
            gate.open()
            try await reader.readToEnd()
            #expect(reader.received.contains("second"))
            #expect(reader.received.hasSuffix("data: [DONE]\n\n"))
            #expect(gateway.stop() == 0, "exit status 0 after a graceful shutdown")
            try await client.http.shutdown()

            let file = gateway.dataDirectory.appendingPathComponent("usage/m_p.json")
            let saved = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
            #expect(saved["requests"] as? Int == 1)
            #expect(saved["tokens"] as? Int == 11)
        }
    }

    @Test func streamsStillOpenAfterTheGracePeriodEndWithAnErrorEvent() async throws {
        let stuck = Gate()
        let upstream = FakeUpstream { _ in
            Reply.sse(Reply.streamEvents(["stuck", " never"])) { index in
                if index == 2 { await stuck.wait() }
            }
        }
        try await GatewayHarness.withServices({ ready in upstream.makeApplication { ready.open() } }) {
            defer { stuck.open() }  // the fake upstream can always finish and shut down
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let gateway = try BinaryGateway(
                directory: directory,
                config: #"{"_global":{"shutdown_grace_seconds":0.5},"m":{"providers":[\#(providerJSON("p", endpoint: upstream.endpoint("p"), timeout: 120))]}}"#
            )
            defer { gateway.stop() }
            let port = try await gateway.waitForPort()
            let client = GatewayClient(port: port)
            let response = try await client.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            var reader = StreamReader(response)
            try await reader.read(until: "stuck")
            gateway.send(SIGTERM)
            try await reader.readToEnd()
            #expect(reader.received.contains(#""code":"upstream_stream_error""#))
            #expect(reader.received.contains("shutting down"))
            #expect(!reader.received.contains("[DONE]"))
            #expect(gateway.stop() == 0)
            #expect(await !isListening(port), "nothing listens any more")
            try await client.http.shutdown()
        }
    }

    @Test func theGracePeriodInForceIsTheReloadedOne() async throws {
        let stuck = Gate()
        let upstream = FakeUpstream { request in
            if request.json["stream"] as? Bool == true {
                return Reply.sse(Reply.streamEvents(["stuck", " never"])) { index in
                    if index == 2 { await stuck.wait() }
                }
            }
            await stuck.wait()
            return Reply.chatCompletion(content: "too late")
        }
        try await GatewayHarness.withServices({ ready in upstream.makeApplication { ready.open() } }) {
            defer { stuck.open() }
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let provider = providerJSON("p", endpoint: upstream.endpoint("p"), timeout: 120)
            let gateway = try BinaryGateway(
                directory: directory, config: #"{"_global":{"shutdown_grace_seconds":300},"m":{"providers":[\#(provider)]}}"#
            )
            defer { gateway.stop() }
            let client = GatewayClient(port: try await gateway.waitForPort())
            // A stream opened before the reload, and a request waiting on its upstream.
            let response = try await client.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            var reader = StreamReader(response)
            try await reader.read(until: "stuck")
            let waiting = Task { try await client.post("/v1/chat/completions", chatBody()) }
            while upstream.count("p") < 2 { try await Task.sleep(for: .milliseconds(10)) }

            try #"{"_global":{"shutdown_grace_seconds":0.5},"m":{"providers":[\#(provider)]}}"#
                .write(to: gateway.configFile, atomically: true, encoding: .utf8)
            #expect(try await client.post("/admin/reload", "").status == 200)
            let stopping = ContinuousClock.now
            gateway.send(SIGTERM)
            try await reader.readToEnd()
            #expect(reader.received.contains("shutting down"))
            #expect(try await waiting.value.status == 503)
            #expect(gateway.stop() == 0)
            #expect(ContinuousClock.now - stopping < .seconds(20), "the reloaded 0.5 s grace applied, not 300 s")
            try await client.http.shutdown()
        }
    }

    @Test func noLogContainsAConfiguredSecretOrMessageContent() async throws {
        let upstream = FakeUpstream { request in
            switch request.provider {
            case "rejecting": return Reply.error(.unauthorized, message: "bad key")
            case "flaky": return Reply.error(.internalServerError)
            default:
                if request.json["stream"] as? Bool == true { return Reply.sse(Reply.streamEvents(["streamed"])) }
                return Reply.chatCompletion(content: "answer")
            }
        }
        let secrets = ["gw-secret-1111", "gw-secret-2222", "admin-secret-3333", "upstream-secret-4444", "upstream-secret-5555", "upstream-secret-6666"]
        try await GatewayHarness.withServices({ ready in upstream.makeApplication { ready.open() } }) {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = #"""
                {"_global":{"api_key":["gw-secret-1111","gw-secret-2222"],"admin_key":"admin-secret-3333","retry_backoff_ms":1},
                 "m":{"providers":[
                   {"name":"rejecting","endpoint":"\#(upstream.endpoint("rejecting"))","api_key":"upstream-secret-4444","model":"u"},
                   {"name":"flaky","endpoint":"\#(upstream.endpoint("flaky"))","api_key":"upstream-secret-5555","model":"u","retry":1,"priority":2},
                   {"name":"good","endpoint":"\#(upstream.endpoint("good"))","api_key":"upstream-secret-6666","model":"u","priority":3,
                    "custom_headers":{"X-Extra":"upstream-secret-6666"}}]}}
                """#
            let gateway = try BinaryGateway(directory: directory, config: config, environment: ["LOG_LEVEL": "debug"])
            defer { gateway.stop() }
            let client = GatewayClient(port: try await gateway.waitForPort())
            let user = [("Authorization", "Bearer gw-secret-1111")]
            #expect(await client.postStatus("/v1/chat/completions", chatBody(content: "top secret prompt"), headers: user) == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody(content: "top secret prompt", stream: true), headers: [("x-api-key", "gw-secret-2222")]) == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody(), headers: [("Authorization", "Bearer wrong-key-7777")]) == 401)
            #expect(await client.getStatus("/admin/stats", headers: [("Authorization", "Bearer admin-secret-3333")]) == 200)
            #expect(await client.getStatus("/metrics", headers: [("Authorization", "Bearer admin-secret-3333")]) == 200)
            #expect(await client.postStatus("/admin/reload", "", headers: [("Authorization", "Bearer admin-secret-3333")]) == 200)
            #expect(gateway.stop() == 0)
            try await client.http.shutdown()

            let logs = directory.appendingPathComponent("logs")
            let files = try FileManager.default.contentsOfDirectory(atPath: logs.path)
            #expect(Set(files).isSuperset(of: ["gateway.log", "requests.log"]))
            var allText = ""
            for file in files {
                allText += try String(contentsOf: logs.appendingPathComponent(file), encoding: .utf8)
            }
            #expect(allText.contains("Selected provider"))
            #expect(allText.contains("Switching provider"))
            for secret in secrets + ["wrong-key-7777"] {
                #expect(!allText.contains(secret), "\(secret) leaked into the logs")
            }
            #expect(!allText.contains("top secret prompt"))
        }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func isListening(_ port: Int) async -> Bool {
    do {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        try? await channel.close()
        return true
    } catch {
        return false
    }
}
