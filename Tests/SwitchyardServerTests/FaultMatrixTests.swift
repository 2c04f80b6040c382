import Foundation
import NIOCore
import Testing

/// Upstream faults, each for a non-stream and a stream request, against the gateway with a healthy backup: what the
/// client gets, and that nothing is left behind (gauges back to 0, no connection to a faulty upstream left open).
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

    struct Fault: Sendable {
        var name: String
        var nonStream: Outcome
        var stream: Outcome
        var script: @Sendable (_ stream: Bool) -> [ScriptedUpstream.Step]
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
        Fault(name: "reset before the head", nonStream: .failover, stream: .failover) { _ in [.reset] },
        Fault(name: "reset in the middle of the body", nonStream: .failover, stream: .errorAfterStart) { stream in
            stream
                ? [.send(sse() + chunk(Reply.roleChunk() + Reply.chunk("part"))), .pause(.milliseconds(100)), .reset]
                : [.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\":"), .pause(.milliseconds(100)), .reset]
        },
        Fault(name: "accepts and never answers", nonStream: .failover, stream: .failover) { _ in [] },
        Fault(name: "a head at one byte per second", nonStream: .failover, stream: .failover) { _ in
            [.drip("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", every: .seconds(1))]
        },
        Fault(name: "a head over 1 MB", nonStream: .failover, stream: .failover) { _ in
            [.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Big: "), .fill(UInt8(ascii: "a"), count: 1_100_000), .send("\r\n\r\n")]
        },
        Fault(name: "an event over max_stream_event_mb", nonStream: .failover, stream: .failover) { _ in
            [.send(sse() + "100000\r\ndata: "), .fill(UInt8(ascii: "a"), count: 0x100000 - 6), .send("\r\n")]
        },
        Fault(name: "garbage that is not HTTP", nonStream: .failover, stream: .failover) { _ in [.send("SSH-2.0-OpenSSH_9.2\r\n\r\n"), .close] },
        Fault(name: "an invalid chunked encoding", nonStream: .failover, stream: .failover) { stream in
            [.send("HTTP/1.1 200 OK\r\nContent-Type: \(stream ? "text/event-stream" : "application/json")\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), .close]
        },
        Fault(name: "HTTP/1.0 without a content length", nonStream: .served, stream: .served) { stream in
            [.send(stream ? sse("1.0") + events : json("1.0", length: false)), .close]
        },
        Fault(name: "a 100 Continue before the answer", nonStream: .served, stream: .served) { stream in
            [.send("HTTP/1.1 100 Continue\r\n\r\n" + (stream ? sse() + chunk(events) + "0\r\n\r\n" : json())), .close]
        },
        Fault(name: "a 304", nonStream: .failover, stream: .failover) { _ in [.send("HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n"), .close] },
        Fault(name: "a 302 redirect", nonStream: .failover, stream: .failover) { _ in
            [.send("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), .close]
        },
    ]

    @Test(arguments: faults.map(\.name))
    func eachFaultGetsItsAnswerAndLeavesNothingBehind(name: String) async throws {
        let fault = try #require(Self.faults.first { $0.name == name })
        let faulty = try await ScriptedUpstream.start { body in fault.script(body.contains(#""stream":true"#)) }
        defer { Task { try? await faulty.stop() } }
        let backup = FakeUpstream { request in
            request.json["stream"] as? Bool == true ? Reply.sse(Reply.streamEvents(["from", " backup"])) : Reply.chatCompletion(content: "from backup")
        }
        try await GatewayHarness.run(upstream: backup) {
            modelConfig(
                [
                    // 5 s: long enough that only the faults that never answer meet it, even on a loaded machine.
                    providerJSON("faulty", endpoint: faulty.endpoint, timeout: 5, extra: #","circuit_breaker":false"#),
                    providerJSON("backup", endpoint: backup.endpoint("backup"), priority: 2),
                ],
                global: #"{"retry_backoff_ms":1,"max_stream_event_mb":0.5}"#
            )
        } _: { client in
            for stream in [false, true] {
                let expected = stream ? fault.stream : fault.nonStream
                let reply = try await client.post("/v1/chat/completions", chatBody(stream: stream))
                let what = "\(name), \(stream ? "stream" : "non-stream"): \(reply.status) \(reply.body.prefix(300))"
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
            #expect(faulty.requestCount == 2, "each request reached the faulty upstream once")
            let settled = await eventually {
                let metrics = (try? await client.get("/metrics").body) ?? ""
                return gauge(metrics, "switchyard_in_flight_requests") == 0 && gauge(metrics, "switchyard_open_streams") == 0
                    && Self.openConnections(toPort: faulty.port) == 0
            }
            #expect(settled, "\(name): gauges back to 0 and no connection to the faulty upstream left open (\(Self.openConnections(toPort: faulty.port)))")
        }
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
