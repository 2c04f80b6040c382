import Foundation
import NIOCore
import NIOHTTP1
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
/// request handler, the rest by the response writer), hence the unchecked `Sendable`. Dropping it before its end
/// stops the upstream request.
final class UpstreamBody: @unchecked Sendable {
    private enum Source {
        case upstream(UpstreamExchange)
        case local(IndexingIterator<[ByteBuffer]>)
    }

    private var source: Source

    init(_ exchange: UpstreamExchange) {
        source = .upstream(exchange)
    }

    init(chunks: [ByteBuffer]) {
        source = .local(chunks.makeIterator())
    }

    deinit {
        if case .upstream(let exchange) = source { exchange.cancel() }
    }

    func next() async throws -> ByteBuffer? {
        switch source {
        case .upstream(let exchange):
            return try await exchange.next()
        case .local(var iterator):
            let chunk = iterator.next()
            source = .local(iterator)
            return chunk
        }
    }

    /// Reads the rest of the body, failing when it exceeds `limit` bytes.
    func collect(upTo limit: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        while let chunk = try await next() {
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

/// Sends upstream requests: over HTTP/1.1 through the pool of the event loop the request is served on (trusting a
/// provider's `ca_file` besides the system's roots), answered in-process for local kinds such as `echo`.
struct UpstreamTransport: Sendable {
    let pools: UpstreamPools

    /// Sends the request and waits for the answer's head; the provider's `timeout` bounds that wait.
    /// - Parameter eventLoop: the loop whose pool carries the request.
    func send(
        _ request: UpstreamRequest, provider: ProviderConfig, kind: any ProviderKind, on eventLoop: any EventLoop
    ) async throws -> UpstreamResponse {
        switch try prepare(request, provider: provider, kind: kind, on: eventLoop) {
        case .local(let local):
            return UpstreamResponse(
                status: local.status, headers: ["content-type": local.contentType], body: UpstreamBody(chunks: local.chunks)
            )
        case .exchange(let exchange):
            let body = UpstreamBody(exchange)
            start(exchange, provider: provider)
            let head = try await exchange.responseHead()
            return UpstreamResponse(status: Int(head.status.code), headers: head.headers, body: body)
        }
    }

    /// How a request is answered: in-process by a local kind, or by an exchange not yet sent.
    enum Prepared: Sendable {
        case local(LocalResponse)
        case exchange(UpstreamExchange)
    }

    /// Puts the request on the wire's terms (host, framing) without sending it.
    func prepare(
        _ request: UpstreamRequest, provider: ProviderConfig, kind: any ProviderKind, on eventLoop: any EventLoop
    ) throws(UpstreamTransportError) -> Prepared {
        if let local = kind.respondLocally(to: request) { return .local(local) }
        guard var url = UpstreamURL(request.url, caFile: provider.caFile) else { throw UpstreamTransportError.invalidURL }
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headers.count + 2)
        headers.add(name: "host", value: url.origin.hostHeader)
        for header in request.headers where !Self.setByTransport(header.name) {
            headers.add(name: header.name, value: header.value)
        }
        headers.add(name: "content-length", value: String(request.body.readableBytes))
        if !provider.proxy.proxies.isEmpty {
            switch pools.proxies.choose(provider.proxy) {
            case .direct: break
            case .through(let proxy): Self.route(&url, headers: &headers, through: proxy)
            case .noneUsable: throw UpstreamTransportError.noProxyUsable
            }
        }
        return .exchange(
            UpstreamExchange(
                eventLoop: eventLoop, origin: url.origin,
                head: HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: url.target, headers: headers),
                body: request.body
            )
        )
    }

    /// Sends the request through `proxy`: a plain-HTTP request goes to an HTTP proxy whole, with an absolute URI
    /// and the proxy's credentials; anything else is tunnelled (`CONNECT`, SOCKS) and stays as it is.
    static func route(_ url: inout UpstreamURL, headers: inout HTTPHeaders, through proxy: OutboundProxy) {
        url.origin.proxy = proxy
        guard proxy.scheme == .http, !url.origin.secure else { return }
        url.target = "http://\(url.origin.hostHeader)\(url.target)"
        if let authorization = proxy.authorization { headers.add(name: "proxy-authorization", value: authorization) }
    }

    /// Sends a prepared exchange through its loop's pool; the provider's `timeout` bounds the wait for its head.
    func start(_ exchange: UpstreamExchange, provider: ProviderConfig) {
        exchange.send(
            through: pools.pool(for: exchange.eventLoop), headDeadline: .now() + .fromSeconds(provider.timeout)
        )
    }

    /// Headers the transport writes itself: a kind's or client's copy would contradict the real framing.
    private static let transportHeaderNames = ["host", "content-length", "transfer-encoding", "connection"].map { Array($0.utf8) }

    /// Compares ASCII case-insensitively by hand: Foundation's `caseInsensitiveCompare` took 3 % of a chat request's
    /// CPU in `perf`. (Folding with `| 0x20` only matters for letters and keeps `-`; a name it would confuse holds
    /// control characters and is invalid anyway.)
    static func setByTransport(_ name: String) -> Bool {
        let count = name.utf8.count
        return transportHeaderNames.contains { candidate in
            candidate.count == count && zip(candidate, name.utf8).allSatisfy { $0 == $1 | 0x20 }
        }
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
