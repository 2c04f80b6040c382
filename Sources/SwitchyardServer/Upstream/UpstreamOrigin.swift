import NIOCore

/// Where upstream connections go and how they are secured: connections are pooled per origin, so two providers on
/// the same host share keep-alive connections unless their TLS trust differs.
struct UpstreamOrigin: Hashable, Sendable {
    var secure: Bool
    var host: String
    var port: Int
    /// A CA bundle trusted besides the system roots (TLS only).
    var caFile: String?

    /// The `Host` header: the port only when it is not the scheme's default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// Whether `host` is an IP literal, which TLS must not send as a server name (SNI).
    var hostIsIPAddress: Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// An upstream URL taken apart: its origin and the request target (path and query) sent on the request line.
struct UpstreamURL: Equatable, Sendable {
    var origin: UpstreamOrigin
    var target: String

    /// Parses `http://` and `https://` URLs (host names, IPv4, bracketed IPv6, optional port, no user info); a
    /// provider's endpoint was checked when the config was loaded, so a failure here is a kind's bug or a
    /// malformed token URL.
    init?(_ url: String, caFile: String? = nil) {
        let secure: Bool
        let rest: Substring
        if url.hasPrefix("https://") {
            secure = true
            rest = url.dropFirst(8)
        } else if url.hasPrefix("http://") {
            secure = false
            rest = url.dropFirst(7)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = rest[authorityEnd...]
        if let fragment = path.firstIndex(of: "#") { path = path[..<fragment] }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { return nil }
        var port = secure ? 443 : 80
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else { return nil }
            port = value
        }
        origin = UpstreamOrigin(secure: secure, host: host.lowercased(), port: port, caFile: secure ? caFile : nil)
        target = path.isEmpty ? "/" : (path.hasPrefix("?") ? "/" + path : String(path))
    }
}
