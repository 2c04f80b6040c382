import Foundation

/// An outbound proxy upstream requests go through: `http://[user:pass@]host:port` (HTTPS upstreams through
/// `CONNECT`, plain-HTTP ones with an absolute URI) or `socks5://host:port`.
public struct OutboundProxy: Sendable, Hashable {
    public enum Scheme: String, Sendable {
        case http
        case socks5
    }

    public var scheme: Scheme
    public var host: String
    public var port: Int
    /// `Proxy-Authorization: Basic …`, from the URL's user info (HTTP proxies only).
    public var authorization: String?

    /// `scheme://host:port`: how logs, events and `/admin` name the proxy (never with its credentials).
    public var label: String {
        "\(scheme.rawValue)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    public init(scheme: Scheme, host: String, port: Int, authorization: String? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.authorization = authorization
    }

    /// Parses a proxy URL; the error says what is wrong without repeating the URL (it may hold a password).
    public static func parse(_ text: String) -> Result<OutboundProxy, ProxyURLError> {
        guard let components = URLComponents(string: text), let schemeName = components.scheme?.lowercased() else {
            return .failure(ProxyURLError("must be a URL such as http://host:3128 or socks5://host:1080"))
        }
        guard let scheme = Scheme(rawValue: schemeName) else {
            return .failure(ProxyURLError("the scheme must be http or socks5"))
        }
        guard let host = components.host, !host.isEmpty else { return .failure(ProxyURLError("has no host")) }
        let port = components.port ?? (scheme == .http ? 80 : 1080)
        guard (1...65_535).contains(port) else { return .failure(ProxyURLError("the port must be from 1 to 65535")) }
        if !components.path.isEmpty && components.path != "/" || components.query != nil {
            return .failure(ProxyURLError("must not have a path or query"))
        }
        var authorization: String?
        if let user = components.user {
            guard scheme == .http else {
                return .failure(ProxyURLError("socks5 proxies with a user name and password are not supported"))
            }
            let credentials = "\(user.removingPercentEncoding ?? user):\((components.password ?? "").removingPercentEncoding ?? "")"
            authorization = "Basic " + Data(credentials.utf8).base64EncodedString()
        }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return .success(OutboundProxy(scheme: scheme, host: bare.lowercased(), port: port, authorization: authorization))
    }
}

public struct ProxyURLError: Error, Sendable, Equatable {
    public var message: String

    init(_ message: String) {
        self.message = message
    }
}

/// Whether and how a provider's requests go through outbound proxies (`proxy`, `proxies`, `fallback_to_direct`,
/// `proxy_health`, in `_global` or on the provider, the provider's winning).
public struct ProxySettings: Sendable, Equatable {
    /// Empty: requests go directly.
    public var proxies: [OutboundProxy] = []
    /// When no proxy is usable, send the request directly instead of failing the attempt.
    public var fallbackToDirect = false
    /// Background checks of the proxies (off when nil).
    public var health: ProxyHealthConfig?

    public init() {}
}

/// Background checks of outbound proxies: a proxy passes when it accepts a connection (and, with `check_url`,
/// relays a GET of it with an answer below 500).
public struct ProxyHealthConfig: Sendable, Equatable {
    public var intervalSeconds: Double = 60
    public var timeoutSeconds: Double = 10
    public var checkURL: String?

    public init() {}
}
