import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import SwitchyardCore

/// An upstream's answer: status and headers, with the body still to be read.
struct UpstreamResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: UpstreamBody

    func header(_ name: String) -> String? {
        headers.first(name: name)
    }

    var isEventStream: Bool {
        header("content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
    }
}

/// The body of an upstream response, read chunk by chunk.
///
/// A single reader uses it at a time, but the reader may change task (headers and the first event are read by the
/// request handler, the rest by the response writer), hence the unchecked `Sendable`.
final class UpstreamBody: @unchecked Sendable {
    private enum Source {
        case http(HTTPClientResponse.Body.AsyncIterator)
        case local(IndexingIterator<[ByteBuffer]>)
    }

    private var source: Source
    /// Counts the request as in flight on its upstream client until the body is dropped.
    private let slot: UpstreamClients.Slot?

    init(_ body: HTTPClientResponse.Body, slot: UpstreamClients.Slot) {
        source = .http(body.makeAsyncIterator())
        self.slot = slot
    }

    init(chunks: [ByteBuffer]) {
        source = .local(chunks.makeIterator())
        slot = nil
    }

    func next() async throws -> ByteBuffer? {
        switch source {
        case .http(var iterator):
            let chunk = try await iterator.next()
            source = .http(iterator)
            return chunk
        case .local(var iterator):
            let chunk = iterator.next()
            source = .local(iterator)
            return chunk
        }
    }

    /// Reads the rest of the body, failing when it exceeds `limit` bytes; `streamGuard` (if any) is told of every
    /// chunk.
    func collect(upTo limit: Int, guard streamGuard: StreamGuard? = nil) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        while let chunk = try await next() {
            streamGuard?.touch()
            guard collected.readableBytes + chunk.readableBytes <= limit else {
                throw UpstreamBodyTooLarge(limit: limit)
            }
            if collected.readableBytes == 0 {
                collected = chunk
            } else {
                collected.writeImmutableBuffer(chunk)
            }
        }
        return collected
    }
}

struct UpstreamBodyTooLarge: Error {
    var limit: Int
}

/// Sends upstream requests: over HTTP for real providers (trusting a provider's `ca_file` besides the system's
/// roots), answered in-process for local kinds such as `echo`.
struct UpstreamTransport: Sendable {
    let clients: UpstreamClients
    let trust = TrustConfigurations()

    func send(_ request: UpstreamRequest, provider: ProviderConfig, kind: any ProviderKind) async throws -> UpstreamResponse {
        if let local = kind.respondLocally(to: request) {
            return UpstreamResponse(
                status: local.status, headers: ["content-type": local.contentType], body: UpstreamBody(chunks: local.chunks)
            )
        }
        var outbound = HTTPClientRequest(url: request.url)
        outbound.method = .POST
        for header in request.headers {
            outbound.headers.add(name: header.name, value: header.value)
        }
        outbound.body = .bytes(request.body)
        if let caFile = provider.caFile {
            outbound.tlsConfiguration = try trust.configuration(trusting: caFile)
        }
        let slot = clients.acquire()
        let response = try await slot.client.execute(outbound, deadline: .now() + .fromSeconds(provider.timeout))
        return UpstreamResponse(
            status: Int(response.status.code), headers: response.headers, body: UpstreamBody(response.body, slot: slot)
        )
    }
}

/// TLS settings that trust a CA bundle in addition to the system's roots, made once per file: AsyncHTTPClient
/// pools connections by TLS settings, so every request of a provider shares one pool. Certificate verification
/// stays on.
final class TrustConfigurations: Sendable {
    private let made = Mutex<[String: TLSConfiguration]>([:])

    func configuration(trusting caFile: String) throws -> TLSConfiguration {
        if let configuration = made.withLock({ $0[caFile] }) { return configuration }
        let certificates = try NIOSSLCertificate.fromPEMFile(caFile)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.additionalTrustRoots = [.certificates(certificates)]
        made.withLock { $0[caFile] = configuration }
        return configuration
    }
}

/// The HTTP clients Switchyard sends upstream requests with.
///
/// AsyncHTTPClient 1.37 keeps the connections to a host in one array that its pool state machine copies on every
/// change (the array sits in an enum payload that is mutated out of place), so each request costs time linear in
/// the pool's open connections; with 5,000 streams held open that copying took most of the gateway's CPU and
/// stalled new streams for up to seconds. Requests are therefore spread over several clients, each taking at most
/// `band` requests at a time: a request goes to the first client with room, so few concurrent requests all share
/// the first client's warm keep-alive connections, and no pool grows much beyond `band` connections.
final class UpstreamClients: Sendable {
    /// One client, made on first use (most gateways never need more than the first), and the requests it has in
    /// flight.
    final class Member: Sendable {
        private let made = Mutex<HTTPClient?>(nil)
        fileprivate let inFlight = Atomic<Int>(0)

        var client: HTTPClient {
            made.withLock { made in
                if let client = made { return client }
                let client = UpstreamClients.makeClient()
                made = client
                return client
            }
        }

        fileprivate func shutdown() async throws {
            try await made.withLock { $0 }?.shutdown()
        }
    }

    /// One request's place on a client, given back when the slot is dropped (with the response body).
    final class Slot: Sendable {
        let member: Member
        let client: HTTPClient

        fileprivate init(_ member: Member) {
            self.member = member
            client = member.client
        }

        deinit {
            member.inFlight.subtract(1, ordering: .relaxed)
        }
    }

    static let band = 64
    let members: [Member]

    /// - Parameter count: clients to spread over; beyond `count × band` concurrent requests the last one takes
    ///   the rest.
    init(count: Int = 256) {
        members = (0..<max(count, 1)).map { _ in Member() }
    }

    func acquire() -> Slot {
        for member in members.dropLast() {
            if member.inFlight.add(1, ordering: .relaxed).oldValue < Self.band {
                return Slot(member)
            }
            member.inFlight.subtract(1, ordering: .relaxed)
        }
        members[members.count - 1].inFlight.add(1, ordering: .relaxed)
        return Slot(members[members.count - 1])
    }

    func shutdown() async throws {
        for member in members {
            try await member.shutdown()
        }
    }

    /// How each client is set up: no redirects, no decompression (streams stay scannable),
    /// connection failures reported at once instead of retried until the deadline, and a pool large enough that
    /// thousands of concurrent streams to one host never queue behind each other. No read timeout: in
    /// AsyncHTTPClient 1.37 its state machine traps when an upstream answers before the request is fully written
    /// (a precondition in `IdleReadStateMachine.requestEndSent`), which took the whole gateway down. Bodies are
    /// watched per provider by `StreamGuard` instead.
    fileprivate static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.timeout = .init(connect: .seconds(10))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16_384)
        configuration.connectionPool.retryConnectionEstablishment = false
        // No distributed tracing is set up, and the default no-op tracer still cost a span and a dynamic cast per
        // request.
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}

extension TimeAmount {
    /// Config values are range-checked where they are read; this still never traps (non-finite or negative → 0,
    /// beyond a year → a year).
    static func fromSeconds(_ seconds: Double) -> TimeAmount {
        guard seconds.isFinite, seconds > 0 else { return .zero }
        return .nanoseconds(Int64(min(seconds, 31_536_000) * 1_000_000_000))
    }
}
