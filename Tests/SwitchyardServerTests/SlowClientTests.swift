import Foundation
import NIOCore
import Testing

/// Clients that take a stream slower than it arrives: reading from the upstream waits for them (memory stays
/// bounded), the wait is not blamed on the upstream, and a client that takes nothing at all is let go.
@Suite("Slow clients")
struct SlowClientTests {
    /// 2,000 events of 5,000 bytes each (about 10 MB), written as fast as the gateway reads them.
    static let bigStream = [Reply.roleChunk()] + Array(repeating: Reply.chunk(String(repeating: "a", count: 5000)), count: 2000)
        + [Reply.chunk("", finish: "stop"), Reply.usageChunk(prompt: 3, completion: 2000), Reply.done]

    static func streamRequest() -> String {
        let body = chatBody(stream: true)
        return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    func requestLog(_ client: GatewayClient) -> [[String: Any]] {
        let file = client.configFile.deletingLastPathComponent().appendingPathComponent("logs/requests.log")
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    /// Runs `body` with a client connection that has asked for `bigStream` and reads only when told. The
    /// provider's 5 s silence bound leaves room for the head under a loaded test run.
    func withBigStream(_ body: (GatewayClient, RawConnection) async throws -> Void) async throws {
        let upstream = FakeUpstream { _ in Reply.sse(Self.bigStream) }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"), timeout: 5)])
        } _: { client in
            let connection = try await RawConnection.open(port: client.port, sending: Self.streamRequest(), readsOnDemand: true)
            defer { connection.close() }
            try await body(client, connection)
        }
    }

    @Test func aClientThatReadsSlowerThanTheStreamArrivesGetsAllOfItAndTheUpstreamIsNotBlamedForTheWait() async throws {
        // The upstream is done within milliseconds; the client needs seconds, past the silence bound.
        try await withBigStream { client, connection in
            let deadline = ContinuousClock.now + .seconds(30)
            while !connection.received.hasSuffix("data: [DONE]\n\n\r\n0\r\n\r\n"), ContinuousClock.now < deadline {
                connection.readMore()
                try await Task.sleep(for: .milliseconds(25))
            }
            let received = connection.received
            #expect(received.hasSuffix("data: [DONE]\n\n\r\n0\r\n\r\n"), "the stream did not end cleanly: \(received.suffix(300))")
            #expect(!received.contains("upstream_stream_error"))
            #expect(received.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "a") ? 1 : 0) } >= 2000 * 5000)
            #expect(await eventually { requestLog(client).first?["stream_outcome"] as? String == "completed" }, "\(requestLog(client))")
        }
    }

    @Test func aClientThatTakesNothingOfAStreamIsLetGoAfterTheTimeoutWithWhatItGotCounted() async throws {
        try await withBigStream { client, _ in
            #expect(await eventually(within: 40) { requestLog(client).count == 1 })
            let line = try #require(requestLog(client).first)
            #expect(line["stream_outcome"] as? String == "client_stalled")
            #expect(line["status"] as? Int == 200)
            #expect(line["completion_tokens"] as? Int ?? 0 > 0, "what was delivered is counted: \(line)")
            let metrics = try await client.get("/metrics").body
            #expect(gauge(metrics, "switchyard_open_streams") == 0)
            #expect(gauge(metrics, "switchyard_in_flight_requests") == 0)
            // The gateway is not holding the circuit against the provider for the client's silence.
            let providers = try await client.get("/admin/providers/m").jsonArray
            #expect((providers.first?["circuit"] as? [String: Any])?["state"] as? String == "closed")
        }
    }
}
