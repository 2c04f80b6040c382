import Foundation
import NIOCore

/// A request ready to send to a provider.
public struct UpstreamRequest: Sendable {
    public var url: String
    public var headers: [HeaderField]
    public var body: ByteBuffer
    public var endpoint: APIEndpoint
    /// Whether the upstream is asked to stream (may differ from the client's choice when converting).
    public var stream: Bool

    public init(url: String, headers: [HeaderField], body: ByteBuffer, endpoint: APIEndpoint, stream: Bool) {
        self.url = url
        self.headers = headers
        self.body = body
        self.endpoint = endpoint
        self.stream = stream
    }
}

/// Turns a client request into a provider's request. Adapters are pure data transforms: they never do I/O and
/// never own the HTTP client.
public protocol ProviderAdapter: Sendable {
    func makeRequest(
        _ request: ClientRequest, provider: ProviderConfig, upstreamStream: Bool, clientHeaders: [HeaderField]
    ) -> UpstreamRequest
}

public enum ProviderAdapters {
    public static func adapter(for type: ProviderType) -> any ProviderAdapter {
        switch type {
        case .openai: OpenAIAdapter()
        case .echo: EchoAdapter()
        }
    }
}

/// Which client headers may travel upstream.
public enum HeaderForwarding {
    /// Hop-by-hop headers (RFC 9110 §7.6.1), framing, credentials and headers the gateway sets itself.
    static let dropped: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "trailers", "transfer-encoding", "upgrade", "host", "content-length", "content-type", "accept",
        "accept-encoding", "authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie",
        "openai-organization", "openai-project", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
        "forwarded", "x-real-ip", "x-request-id",
    ]

    /// The client headers to forward: everything except the dropped set and any header the client's
    /// `Connection` header names as hop-by-hop.
    public static func forwardable(_ headers: [HeaderField]) -> [HeaderField] {
        var connectionTokens = Set<String>()
        for header in headers where header.name.lowercased() == "connection" {
            for token in header.value.split(separator: ",") {
                connectionTokens.insert(token.trimmingCharacters(in: .whitespaces).lowercased())
            }
        }
        return headers.filter { header in
            let name = header.name.lowercased()
            return !dropped.contains(name) && !connectionTokens.contains(name)
        }
    }
}
