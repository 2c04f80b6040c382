import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOConcurrencyHelpers
import Testing

/// What a client connection can make the gateway hold, and what happens when a client leaves early.
@Suite("Client connections")
struct ClientConnectionTests {
    /// Limits well below what the answers below take (a second leaves room for a loaded machine between connecting
    /// and sending).
    static let tightLimits = #"{"retry_backoff_ms":1,"request_head_timeout_seconds":0.3,"keep_alive_timeout_seconds":1}"#
    /// A short head timeout under a longer keep-alive timeout, so that the head timeout is what trips.
    static let shortHeadTimeout = #"{"request_head_timeout_seconds":0.3,"keep_alive_timeout_seconds":5}"#

    @Test func aRequestHeadThatNeverEndsGets408AndTheConnectionClosed() async throws {
        try await GatewayHarness.run {
            #"{"_global":\#(Self.shortHeadTimeout),"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        } _: { client in
            let connection = try await RawConnection.open(port: client.port)
            try await connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: app")
            let answer = try await connection.readUntilClosed(within: 10)
            let text = try #require(answer, "the connection was still open after 10 s")
            #expect(text.hasPrefix("HTTP/1.1 408 "))
            #expect(text.contains(#""code":"request_timeout""#))
        }
    }

    @Test func aSlowlorisClientIsCutEvenWhileItKeepsSendingBytes() async throws {
        try await GatewayHarness.run {
            #"{"_global":\#(Self.shortHeadTimeout),"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        } _: { client in
            let connection = try await RawConnection.open(port: client.port)
            try await connection.send("GET /health HTTP/1.1\r\n")
            var closed = false
            for index in 0..<100 {
                do { try await connection.send("X-Slow-\(index): 1\r\n") } catch {
                    closed = true
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            if !closed { closed = try await connection.readUntilClosed(within: 1) != nil }
            #expect(closed, "still open after 5 s of a head trickling in (the head timeout is 0.3 s)")
        }
    }

    /// Heads that frame the body two ways, which a proxy must never guess between (request smuggling).
    @Test(arguments: [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 40\r\n",
        "Transfer-Encoding: chunked, identity\r\n",
    ])
    func aRequestWhoseBodyIsFramedAmbiguouslyIsRefusedAndTheConnectionClosed(framing: String) async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "should not be asked") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            let smuggled = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\(framing)\r\n"
                + "0\r\n\r\nGET /admin/stats HTTP/1.1\r\nHost: x\r\n\r\n"
            let connection = try await RawConnection.open(port: client.port, sending: smuggled)
            let text = try #require(try await connection.readUntilClosed(within: 10), "the connection stayed open")
            #expect(text.hasPrefix("HTTP/1.1 400 "), "\(text.prefix(200))")
            #expect(text.contains(#""code":"bad_request""#), "an error in OpenAI's shape: \(text)")
            #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer, nothing smuggled after it: \(text)")
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func aHeadOverTheLimitGets431() async throws {
        try await GatewayHarness.run {
            #"{"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        } _: { client in
            let big = String(repeating: "a", count: 70 * 1024)
            let connection = try await RawConnection.open(port: client.port)
            try await connection.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n")
            let text = try #require(try await connection.readUntilClosed(within: 10))
            #expect(text.hasPrefix("HTTP/1.1 431 "))
            #expect(text.contains(#""code":"request_header_fields_too_large""#))

            // A huge request line counts too.
            let line = try await RawConnection.open(port: client.port)
            try await line.send("GET /health?\(big) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try #require(try await line.readUntilClosed(within: 10)).hasPrefix("HTTP/1.1 431 "))

            // Just under the limit is fine, and forwarded headers of that size reach no crash upstream.
            let fine = String(repeating: "b", count: 60 * 1024)
            #expect(await client.getStatus("/health", headers: [("X-Fine", fine)]) == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody(), headers: [("X-Fine", fine)]) == 200)
        }
    }

    @Test func anIdleKeepAliveConnectionIsClosed() async throws {
        try await GatewayHarness.run {
            #"{"_global":\#(Self.tightLimits),"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        } _: { client in
            let connection = try await RawConnection.open(port: client.port, sending: "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let text = try #require(try await connection.readUntilClosed(within: 10), "idle connection never closed")
            #expect(text.hasPrefix("HTTP/1.1 200 "), "the request was answered, then the idle connection closed")
        }
    }

    /// The data plane and Hummingbird's router share each connection: requests sent back to back before any
    /// answer (pipelined) are answered one at a time, in order, whichever serves each.
    @Test func pipelinedRequestsForTheDataPlaneAndTheRouterAreAnsweredInOrder() async throws {
        try await GatewayHarness.run {
            #"{"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        } _: { client in
            let chat = #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#
            func post(_ id: String, _ extra: String = "") -> String {
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Request-Id: \(id)\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(chat.utf8.count)\r\n\(extra)\r\n\(chat)"
            }
            let requests =
                post("r1") + "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: r2\r\n\r\n" + post("r3")
                + "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Request-Id: r4\r\n\r\n" + post("r5", "Connection: close\r\n")
            let connection = try await RawConnection.open(port: client.port, sending: requests)
            let text = try #require(try await connection.readUntilClosed(within: 10), "the connection stayed open")
            let lower = text.lowercased()
            let answers = lower.components(separatedBy: "http/1.1 ").dropFirst()
            #expect(answers.count == 5, "\(text)")
            for (index, answer) in answers.enumerated() {
                #expect(answer.hasPrefix("200 "), "\(answer)")
                #expect(answer.contains("x-request-id: r\(index + 1)\r\n"), "\(answer)")
            }
            #expect(answers.dropFirst(1).first?.contains("healthy") == true)
            #expect(answers.dropFirst(4).first?.contains("chat.completion") == true)
        }
    }

    @Test func theLimitsNeverCutALongStreamOrASlowUpstream() async throws {
        let upstream = FakeUpstream { request in
            if request.json["stream"] as? Bool == true {
                return Reply.sse(Reply.streamEvents(["a", "b", "c", "d", "e"])) { _ in try? await Task.sleep(for: .milliseconds(300)) }
            }
            try await Task.sleep(for: .milliseconds(2000))
            return Reply.chatCompletion(content: "slow")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))], global: Self.tightLimits)
        } _: { client in
            // At once, each on its own connection: one reused after a gap longer than the keep-alive timeout (a
            // loaded machine) would be closed by its idle timer, as it should be.
            async let streamed = client.post("/v1/chat/completions", chatBody(stream: true))
            async let slowly = client.post("/v1/chat/completions", chatBody())
            let (stream, slow) = try await (streamed, slowly)
            #expect(stream.streamedContent == "abcde")
            #expect(stream.body.hasSuffix("data: [DONE]\n\n"))
            #expect(slow.content == "slow", "\(slow.status) \(slow.body)")
        }
    }

    // MARK: Clients that leave early

    enum Stage: Int, CaseIterable {
        case beforeHeaders, beforeFirstEvent, midStream, duringBackoff
    }

    /// 200 clients each leave at one stage of their request; afterwards nothing is held: both gauges are back to
    /// zero, every request has exactly one log line, and every upstream request still running was cancelled.
    @Test func clientsThatLeaveAtAnyStageLeaveNothingBehind() async throws {
        let clients = 200
        let stages = NIOLockedValueBox<[String: Stage]>([:])
        let reached = NIOLockedValueBox<Set<String>>([])
        let requestTasks = NIOLockedValueBox<[String: Task<Void, any Error>]>([:])
        let upstreamRef = NIOLockedValueBox<FakeUpstream?>(nil)
        let upstream = FakeUpstream(noticesAbandonment: true) { request in
            let id = request.header("x-client") ?? ""
            let stage = stages.withLockedValue { $0[id] } ?? .beforeHeaders
            switch stage {
            case .beforeHeaders:
                reached.withLockedValue { _ = $0.insert(id) }
                try await Task.sleep(for: .seconds(30))  // cancelled when the gateway gives up
                return Reply.chatCompletion(content: "too late")
            case .duringBackoff:
                reached.withLockedValue { _ = $0.insert(id) }
                // The client leaves the moment its 503 is out, from here rather than from its own polling task: the
                // backoff lasts 2.5-5 s, and on a busy machine that task was once late by more than that.
                return Response(
                    status: .serviceUnavailable, headers: [.contentType: "application/json"],
                    body: ResponseBody { writer in
                        try await writer.write(ByteBuffer(string: #"{"error":{"message":"busy","type":"upstream"}}"#))
                        try await writer.finish(nil)
                        requestTasks.withLockedValue { $0[id] }?.cancel()
                    })
            case .beforeFirstEvent, .midStream:
                // Keep-alive comments (which must not commit the stream) or content, until the write fails.
                let event = stage == .midStream ? Reply.chunk("x") : ": keep-alive\n\n"
                return Response(
                    status: .ok, headers: [.contentType: "text/event-stream"],
                    body: ResponseBody { writer in
                        for _ in 0..<1500 {
                            do { try await writer.write(ByteBuffer(string: event)) } catch {
                                upstreamRef.withLockedValue { $0 }?.abandon(request)
                                throw error
                            }
                            if stage == .beforeFirstEvent { reached.withLockedValue { _ = $0.insert(id) } }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        try await writer.finish(nil)
                    })
            }
        }
        upstreamRef.withLockedValue { $0 = upstream }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig(
                [providerJSON("p", endpoint: upstream.endpoint("p"), retry: 1)],
                global: #"{"retry_backoff_ms":20000,"circuit_breaker":false}"#  // 503s must not open it
            )
        } _: { client in
            // Enough connections that no client waits for another's.
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: clients)
            let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            defer { _ = http.shutdown() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<clients {
                    let id = "c\(index)"
                    let stage = Stage(rawValue: index % Stage.allCases.count)!
                    stages.withLockedValue { $0[id] = stage }
                    group.addTask {
                        let request = Task {
                            var outbound = HTTPClientRequest(url: client.baseURL + "/v1/chat/completions")
                            outbound.method = .POST
                            outbound.headers.add(name: "x-client", value: id)
                            let stream = stage == .beforeFirstEvent || stage == .midStream
                            outbound.body = .bytes(ByteBuffer(string: chatBody(stream: stream)))
                            let response = try await http.execute(outbound, timeout: .seconds(60))
                            var reader = StreamReader(response)
                            try await reader.read(until: "\"x\"")
                            // A mid-stream client has reached its stage once it holds content.
                            reached.withLockedValue { _ = $0.insert(id) }
                            try await Task.sleep(for: .seconds(30))
                        }
                        requestTasks.withLockedValue { $0[id] = request }
                        // Leave once the stage is reached (a client that left before the upstream saw its request would
                        // test nothing), or after 60 s: on a busy machine 200 streams take a while to get going.
                        let deadline = ContinuousClock.now + .seconds(60)
                        while !reached.withLockedValue({ $0.contains(id) }), ContinuousClock.now < deadline {
                            try await Task.sleep(for: .milliseconds(10))
                        }
                        request.cancel()
                        _ = await request.result
                    }
                }
                try await group.waitForAll()
            }
            #expect(reached.withLockedValue { $0.count } == clients, "every client reached its stage; not: \(stages.withLockedValue { s in reached.withLockedValue { r in s.filter { !r.contains($0.key) }.map { "\($0.key):\($0.value)" } } })")

            let logFile = client.configFile.deletingLastPathComponent().appendingPathComponent("logs/requests.log")
            var gauges: (inFlight: Double?, streams: Double?) = (nil, nil)
            var lines: [String] = []
            let shouldBeCancelled = Set(stages.withLockedValue { $0.filter { $0.value != .duringBackoff }.map(\.key) })
            var cancelled: Set<String> = []
            let deadline = ContinuousClock.now + .seconds(30)
            repeat {
                try await Task.sleep(for: .milliseconds(100))
                let metrics = try await client.get("/metrics").body
                gauges = (gauge(metrics, "switchyard_in_flight_requests"), gauge(metrics, "switchyard_open_streams"))
                lines = ((try? String(contentsOf: logFile, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
                // An upstream stream notices its cancellation at its next write, up to 100 ms after the log line.
                cancelled = Set(upstream.abandoned.compactMap { $0.header("x-client") })
            } while (gauges.inFlight != 0 || gauges.streams != 0 || lines.count < clients || !shouldBeCancelled.isSubset(of: cancelled))
                && ContinuousClock.now < deadline
            #expect(gauges.inFlight == 0)
            #expect(gauges.streams == 0)
            #expect(lines.count == clients, "one request-log line per request")
            let logged = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            let statuses = logged.map { "\($0["status"] ?? "-")/\($0["stream_outcome"] ?? "-")/\(($0["attempts"] as? [[String: Any]])?.map { "\($0["result"] ?? "")" } ?? [])" }
            #expect(logged.filter { ($0["status"] as? Int) == 499 }.count == clients * 3 / 4, "left before the answer: \(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
            #expect(logged.filter { ($0["stream_outcome"] as? String) == "client_disconnected" }.count == clients / 4)

            // Every upstream request still running when its client left was cancelled; none was retried.
            #expect(shouldBeCancelled.subtracting(cancelled).isEmpty, "not cancelled: \(shouldBeCancelled.subtracting(cancelled))")
            for (id, stage) in stages.withLockedValue({ $0 }) where stage == .duringBackoff {
                #expect(upstream.requests.filter { $0.header("x-client") == id }.count == 1, "no retry after the client left")
            }
        }
    }
}

/// The value of an unlabelled gauge in Prometheus text.
func gauge(_ metrics: String, _ name: String) -> Double? {
    metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
}
