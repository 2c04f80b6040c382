import AsyncHTTPClient
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
/// request handler, the rest by the response writer), hence the unchecked `Sendable`.
final class UpstreamBody: @unchecked Sendable {
    private enum Source {
        case http(HTTPClientResponse.Body.AsyncIterator)
        case local(IndexingIterator<[ByteBuffer]>)
    }

    private var source: Source

    init(_ body: HTTPClientResponse.Body) {
        source = .http(body.makeAsyncIterator())
    }

    init(chunks: [ByteBuffer]) {
        source = .local(chunks.makeIterator())
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

/// Sends upstream requests: over HTTP for real providers, answered in-process for `echo`.
struct UpstreamTransport: Sendable {
    let client: HTTPClient

    func send(_ request: UpstreamRequest, provider: ProviderConfig) async throws -> UpstreamResponse {
        switch provider.type {
        case .echo:
            let local = EchoResponder.respond(to: request)
            return UpstreamResponse(
                status: local.status, headers: ["content-type": local.contentType], body: UpstreamBody(chunks: local.chunks)
            )
        case .openai:
            var outbound = HTTPClientRequest(url: request.url)
            outbound.method = .POST
            for header in request.headers {
                outbound.headers.add(name: header.name, value: header.value)
            }
            outbound.body = .bytes(request.body)
            let response = try await client.execute(outbound, deadline: .now() + .fromSeconds(provider.timeout))
            return UpstreamResponse(status: Int(response.status.code), headers: response.headers, body: UpstreamBody(response.body))
        }
    }

    /// The client Switchyard uses for every upstream: no redirects, no decompression (streams stay scannable),
    /// connection failures reported at once instead of retried until the deadline, and a pool large enough that
    /// thousands of concurrent streams to one host never queue behind each other. Its read timeout (no byte for
    /// the longest provider timeout allowed) is the backstop for a non-stream answer whose body stalls after its
    /// headers; streams are watched per provider by `StreamGuard`.
    static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(Int64(ProviderConfig.maximumTimeout)))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16_384)
        configuration.connectionPool.retryConnectionEstablishment = false
        // No distributed tracing is set up, and the default no-op tracer still cost a span and a dynamic cast per
        // request.
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}

extension TimeAmount {
    static func fromSeconds(_ seconds: Double) -> TimeAmount {
        .nanoseconds(Int64(seconds * 1_000_000_000))
    }
}
