import Foundation
import NIOCore
import Testing

/// Upstream faults, each for a non-stream and a stream request, against the `switchyard` binary with a healthy
/// backup: what the client gets, the line the gateway logs, and that nothing is left behind — gauges back to 0, no
/// connection to any upstream or client left open, and as many open file descriptors in the gateway as before.
@Suite("Fault matrix")
struct FaultMatrixTests {
    enum Outcome: Equatable {
        /// The backup serves: the fault was seen before anything reached the client.
        case failover
        /// The faulty upstream's own answer is served.
        case served
        /// The stream had started: it ends with the gateway's error event and no `[DONE]`.
        case errorAfterStart
    }

    /// What plays the faulty provider.
    enum FaultyUpstream: Sendable {
        /// Raw bytes, per request (stream or not).
        case script(@Sendable (_ stream: Bool) -> [ScriptedUpstream.Step])
        /// A port nothing listens on.
        case refusing
        /// HTTPS with a certificate of an authority the gateway does not trust (no `ca_file`).
        case untrustedCertificate
    }

    struct Fault: Sendable {
        var name: String
        var nonStream: Outcome
        var stream: Outcome
        /// The gateway log's line for the fault, once per request (`streamLogged` for the stream, when it differs).
        var logged: String
        var streamLogged: String?
        /// The faulty attempt's `result` in the request log.
        var result: String
        var upstream: FaultyUpstream

        init(
            _ name: String, nonStream: Outcome = .failover, stream: Outcome = .failover, logged: String,
            streamLogged: String? = nil, result: String, _ upstream: FaultyUpstream
        ) {
            (self.name, self.nonStream, self.stream, self.upstream) = (name, nonStream, stream, upstream)
            (self.logged, self.streamLogged, self.result) = (logged, streamLogged, result)
        }

        init(
            _ name: String, nonStream: Outcome = .failover, stream: Outcome = .failover, logged: String,
            streamLogged: String? = nil, result: String, script: @escaping @Sendable (_ stream: Bool) -> [ScriptedUpstream.Step]
        ) {
            self.init(name, nonStream: nonStream, stream: stream, logged: logged, streamLogged: streamLogged, result: result, .script(script))
        }
    }

    static let answer = #"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"from faulty"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#
    static let events = Reply.streamEvents(["from", " faulty"]).joined()
    static func json(_ version: String = "1.1", length: Bool = true) -> String {
        "HTTP/\(version) 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n" + (length ? "Content-Length: \(answer.utf8.count)\r\n" : "")
            + "\r\n" + answer
    }
    static func sse(_ version: String = "1.1") -> String {
        "HTTP/\(version) 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n" + (version == "1.1" ? "Transfer-Encoding: chunked\r\n" : "") + "\r\n"
    }
    static func chunk(_ text: String) -> String { String(text.utf8.count, radix: 16) + "\r\n" + text + "\r\n" }

    static let faults: [Fault] = [
        Fault("connection refused", logged: "Switching provider: faulty failed for model m: connection error (could not connect (connection refused))", result: "connection", .refusing),
        Fault("reset before the head", logged: "Switching provider: faulty failed for model m: connection error (the upstream reset the connection)", result: "connection") { _ in [.reset] },
        Fault("reset in the middle of the body", stream: .errorAfterStart,
            logged: "Switching provider: faulty failed for model m: connection error (the upstream reset the connection)",
            streamLogged: "stream from provider faulty failed after it started: the connection to the upstream broke (the upstream reset the connection)",
            result: "connection") { stream in
            stream
                ? [.send(sse() + chunk(Reply.roleChunk() + Reply.chunk("part"))), .pause(.milliseconds(100)), .reset]
                : [.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\":"), .pause(.milliseconds(100)), .reset]
        },
        Fault("accepts and never answers", logged: "Switching provider: faulty failed for model m: timeout [", result: "timeout") { _ in [] },
        Fault("a head at one byte per second", logged: "Switching provider: faulty failed for model m: timeout [", result: "timeout") { _ in
            [.drip("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", every: .seconds(1))]
        },
        Fault("a body at one byte per second", logged: "Switching provider: faulty failed for model m: timeout [", result: "timeout") { stream in
            stream
                ? [.send(sse()), .drip(chunk(events), every: .seconds(1))]
                : [.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(answer.utf8.count)\r\n\r\n"), .drip(answer, every: .seconds(1))]
        },
        Fault("a head over 1 MB", logged: "Switching provider: faulty failed for model m: connection error (the answer is not valid HTTP)", result: "connection") { _ in
            [.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Big: "), .fill(UInt8(ascii: "a"), count: 1_100_000), .send("\r\n\r\n")]
        },
        Fault("an event over max_stream_event_mb", logged: "Switching provider: faulty failed for model m: invalid response (an event is larger than 524288 bytes)",
            result: "invalid_response") { _ in
            [.send(sse() + "100000\r\ndata: "), .fill(UInt8(ascii: "a"), count: 0x100000 - 6), .send("\r\n")]
        },
        Fault("garbage that is not HTTP", logged: "Switching provider: faulty failed for model m: connection error (the answer is not valid HTTP)", result: "connection") { _ in [.send("SSH-2.0-OpenSSH_9.2\r\n\r\n"), .close] },
        Fault("an invalid chunked encoding", logged: "Switching provider: faulty failed for model m: connection error (the answer is not valid HTTP)", result: "connection") { stream in
            [.send("HTTP/1.1 200 OK\r\nContent-Type: \(stream ? "text/event-stream" : "application/json")\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), .close]
        },
        Fault("HTTP/1.0 without a content length", nonStream: .served, stream: .served, logged: "Selected provider faulty for model m", result: "ok") { stream in
            [.send(stream ? sse("1.0") + events : json("1.0", length: false)), .close]
        },
        Fault("a 100 Continue before the answer", nonStream: .served, stream: .served, logged: "Selected provider faulty for model m", result: "ok") { stream in
            [.send("HTTP/1.1 100 Continue\r\n\r\n" + (stream ? sse() + chunk(events) + "0\r\n\r\n" : json())), .close]
        },
        Fault("a 204", logged: "Switching provider: faulty failed for model m: invalid response (The upstream answer is not a JSON object of the provider's API.)",
            result: "invalid_response") { _ in [.send("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"), .close] },
        Fault("a 304", logged: "Switching provider: faulty failed for model m: 304 [", result: "304") { _ in [.send("HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n"), .close] },
        Fault("a 302 redirect", logged: "Switching provider: faulty failed for model m: 302 [", result: "302") { _ in
            [.send("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), .close]
        },
        Fault("a TLS certificate the gateway does not trust",
            logged: "Switching provider: faulty failed for model m: connection error (the TLS handshake failed (the certificate is not trusted))", result: "connection", .untrustedCertificate),
    ]

    @Test(arguments: faults.map(\.name))
    func eachFaultGetsItsAnswerAndLeavesNothingBehind(name: String) async throws {
        let fault = try #require(Self.faults.first { $0.name == name })
        let faulty = try await RunningFaultyUpstream(fault.upstream)
        defer { Task { await faulty.stop() } }
        let backup = FakeUpstream { request in
            request.json["stream"] as? Bool == true ? Reply.sse(Reply.streamEvents(["from", " backup"])) : Reply.chatCompletion(content: "from backup")
        }
        try await GatewayHarness.withServices({ ready in backup.makeApplication { ready.open() } }) {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let gateway = try BinaryGateway(
                directory: directory,
                config: #"""
                    {"_global":{"retry_backoff_ms":1,"max_stream_event_mb":0.5,"upstream_idle_timeout_seconds":0.5},
                     "m":{"providers":[\#(providerJSON("faulty", endpoint: faulty.endpoint, timeout: 5, extra: #","circuit_breaker":false"#)),
                                       \#(providerJSON("backup", endpoint: backup.endpoint("backup"), priority: 2))]},
                     "warm":{"providers":[\#(providerJSON("backup", endpoint: backup.endpoint("backup")))]}}
                    """#
            )
            defer { gateway.stop() }
            let port = try await gateway.waitForPort()
            // Nothing open but what the gateway holds for good: no client, no pooled upstream connection.
            let quiet = { Self.openConnections(toPort: port) == 0 && Self.openConnections(toPort: backup.port) == 0 }

            // One request of each kind first, so that whatever the gateway opens once (request log, usage files)
            // is open before the descriptors are counted.
            let warm = GatewayClient(port: port)
            for stream in [false, true] {
                #expect(try await warm.post("/v1/chat/completions", chatBody(model: "warm", stream: stream)).status == 200)
            }
            try await warm.http.shutdown()
            #expect(await eventually(quiet), "\(name): warm-up connections closed")
            let descriptorsBefore = try await Self.steadyDescriptors(of: gateway)
            #expect(descriptorsBefore > 0, "the gateway's descriptors can be counted")

            let client = GatewayClient(port: port)
            let asked: Result<Void, any Error>
            do { asked = .success(try await Self.ask(client, fault: fault)) } catch { asked = .failure(error) }
            try await client.http.shutdown()
            try asked.get()
            if let scripted = faulty.scripted {
                #expect(scripted.requestCount == 2, "each request reached the faulty upstream once")
            }
            let closed = await eventually { quiet() && Self.openConnections(toPort: faulty.port) == 0 }
            #expect(closed, "\(name): no connection left open (faulty upstream: \(Self.openConnections(toPort: faulty.port)))")
            let descriptorsBack = await eventually { gateway.openDescriptors <= descriptorsBefore }
            #expect(descriptorsBack, "\(name): \(descriptorsBefore) open descriptors before, \(gateway.openDescriptors) after")

            let expectedLines = fault.streamLogged.map { [fault.logged: 1, $0: 1] } ?? [fault.logged: 2]
            let logged = await eventually {
                let log = gateway.log
                return expectedLines.allSatisfy { text, count in log.components(separatedBy: text).count - 1 == count }
            }
            let lines = gateway.log.split(separator: "\n").filter { $0.contains("faulty") }.joined(separator: "\n")
            #expect(logged, "\(name): logged once per request: \(expectedLines.keys.sorted())\n\(lines)")
            let recorded = await eventually { gateway.requestLog.filter { $0["model"] as? String == "m" }.count == 2 }
            for (record, stream) in zip(gateway.requestLog.filter { $0["model"] as? String == "m" }, [false, true]) {
                let attempts = record["attempts"] as? [[String: Any]] ?? []
                let outcome = stream ? fault.stream : fault.nonStream
                // A stream that broke after it started had a good attempt: the request log says how the stream ended.
                let result = outcome == .errorAfterStart ? "ok" : fault.result
                #expect(
                    recorded && record["stream"] as? Bool == stream && record["provider"] as? String == (outcome == .failover ? "backup" : "faulty")
                        && attempts.first?["provider"] as? String == "faulty" && attempts.first?["result"] as? String == result
                        && (outcome != .errorAfterStart || record["stream_outcome"] as? String == "upstream_failed"),
                    "\(name): request log \(record)"
                )
            }
            #expect(gateway.process.isRunning, "\(name): the gateway is still running")
            #expect(gateway.stop() == 0, "\(name): and exits cleanly")
        }
    }

    /// Sends the fault's two requests and checks what the client gets, then that the gauges are back to 0.
    static func ask(_ client: GatewayClient, fault: Fault) async throws {
        for stream in [false, true] {
            let expected = stream ? fault.stream : fault.nonStream
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: stream))
            let what = "\(fault.name), \(stream ? "stream" : "non-stream"): \(reply.status) \(reply.body.prefix(300))"
            #expect(reply.status == 200, "\(what)")
            switch expected {
            case .failover:
                #expect(reply.header("x-switchyard-provider") == "backup", "\(what)")
                #expect((stream ? reply.streamedContent : reply.content) == "from backup", "\(what)")
            case .served:
                #expect(reply.header("x-switchyard-provider") == "faulty", "\(what)")
                #expect((stream ? reply.streamedContent : reply.content) == "from faulty", "\(what)")
            case .errorAfterStart:
                #expect(reply.header("x-switchyard-provider") == "faulty", "\(what)")
                #expect(reply.body.contains("upstream_stream_error") && !reply.body.contains("[DONE]"), "\(what)")
            }
        }
        let gaugesAtZero = await eventually {
            let metrics = (try? await client.get("/metrics").body) ?? ""
            return gauge(metrics, "switchyard_in_flight_requests") == 0 && gauge(metrics, "switchyard_open_streams") == 0
        }
        #expect(gaugesAtZero, "\(fault.name): in-flight requests and open streams back to 0")
    }

    /// The fewest descriptors the gateway holds over half a second: a file it opens for a moment (a usage or log
    /// flush) is not counted.
    static func steadyDescriptors(of gateway: BinaryGateway) async throws -> Int {
        var fewest = Int.max
        for _ in 0..<10 {
            fewest = min(fewest, gateway.openDescriptors)
            try await Task.sleep(for: .milliseconds(50))
        }
        return fewest
    }

    /// TCP connections of this machine with `port` at either end that still hold a socket (not listening, not in
    /// TIME_WAIT), from /proc/net/tcp.
    static func openConnections(toPort port: Int) -> Int {
        let hex = String(format: ":%04X", port)
        let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").dropFirst().filter { line in
            let fields = line.split(separator: " ")
            guard fields.count > 3 else { return false }
            let (local, remote, state) = (fields[1], fields[2], fields[3])
            return (local.hasSuffix(hex) || remote.hasSuffix(hex)) && state != "0A" && state != "06"
        }.count
    }
}

/// The faulty provider's server, whichever kind the fault needs.
private struct RunningFaultyUpstream {
    var endpoint: String
    var port: Int
    var scripted: ScriptedUpstream?
    var stop: @Sendable () async -> Void

    init(_ upstream: FaultMatrixTests.FaultyUpstream) async throws {
        switch upstream {
        case .script(let script):
            let scripted = try await ScriptedUpstream.start { body in script(body.contains(#""stream":true"#)) }
            (endpoint, port, self.scripted) = (scripted.endpoint, scripted.port, scripted)
            stop = { try? await scripted.stop() }
        case .refusing:
            let refusing = try RefusingPort()
            (endpoint, port, scripted) = ("http://127.0.0.1:\(refusing.port)/v1", refusing.port, nil)
            stop = { withExtendedLifetime(refusing) {} }
        case .untrustedCertificate:
            let tls = try await TLSUpstream()
            (endpoint, port, scripted) = (tls.endpoint, tls.port, nil)
            stop = { try? await tls.close() }
        }
    }
}

