import Foundation
import NIOCore

/// Which client headers may travel upstream.
public enum HeaderForwarding {
    /// Hop-by-hop headers (RFC 9110 §7.6.1), framing, credentials and headers the gateway sets itself.
    static let dropped: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "trailers", "transfer-encoding", "upgrade", "host", "content-length", "content-type", "accept",
        "accept-encoding", "authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie",
        "openai-organization", "openai-project", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
        "forwarded", "x-real-ip", "x-request-id", "x-server-key", ClientKeyOverride.defaultHeader,
    ]

    /// Whether `name` (lowercased) is a header the gateway reads or sets itself, never one a client may use for
    /// something else.
    public static func isReserved(_ name: String) -> Bool {
        dropped.contains(name)
    }

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

    /// The headers of an upstream request: the client's forwardable ones, the content negotiation the gateway
    /// needs (no compression, so streams stay scannable), the provider's credential, then `custom_headers`, which
    /// replace headers of the same name.
    public static func upstreamHeaders(
        _ clientHeaders: [HeaderField], stream: Bool, credential: HeaderField?, provider: ProviderConfig
    ) -> [HeaderField] {
        var headers = forwardable(clientHeaders)
        headers.append(HeaderField("content-type", "application/json"))
        headers.append(HeaderField("accept", stream ? "text/event-stream" : "application/json"))
        headers.append(HeaderField("accept-encoding", "identity"))
        if let credential { headers.append(credential) }
        for custom in provider.customHeaders {
            let name = custom.name.lowercased()
            headers.removeAll { $0.name.lowercased() == name }
            headers.append(HeaderField(custom.name, custom.value))
        }
        return headers
    }
}
