import NIOCore
import SwitchyardCore

/// Where upstream connections go and how they are secured: connections are pooled per origin, so two providers on
/// the same host share keep-alive connections unless their TLS trust differs.
struct UpstreamOrigin: Hashable, Sendable {
    var secure: Bool
    var host: String
    var port: Int
    /// A CA bundle trusted besides the system roots (TLS only).
    var caFile: String?
    /// The outbound proxy its connections go through (nil: directly).
    var proxy: OutboundProxy?

    /// `host:port`, as a `CONNECT` names it.
    var hostHeaderWithPort: String {
        "\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// The `Host` header: the port only when it is not the scheme's default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// The address when `host` is an IP literal: connected to without a name lookup (which NIO would run on a
    /// thread of its own for every connection), and never sent as a TLS server name (SNI).
    var ipAddress: SocketAddress? {
        try? SocketAddress(ipAddress: host, port: port)
    }
}

/// An upstream URL taken apart: its origin and the request target (path and query) sent on the request line.
struct UpstreamURL: Equatable, Sendable {
    var origin: UpstreamOrigin
    var target: String

    /// Parses `http://` and `https://` URLs (host names, IPv4, bracketed IPv6, optional port, no user info); a
    /// provider's endpoint was checked when the config was loaded, so a failure here is a kind's bug or a
    /// malformed token URL.
    ///
    /// It runs for every upstream request, so it works on the UTF-8 bytes: every delimiter is ASCII, and walking
    /// `Character`s cost more than the rest of building the request.
    init?(_ url: String, caFile: String? = nil) {
        let bytes = url.utf8
        let secure: Bool
        if url.hasPrefix("https://") {
            secure = true
        } else if url.hasPrefix("http://") {
            secure = false
        } else {
            return nil
        }
        let authorityStart = bytes.index(bytes.startIndex, offsetBy: secure ? 8 : 7)
        let authorityEnd =
            bytes[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }
            ?? bytes.endIndex
        let pathEnd = bytes[authorityEnd...].firstIndex(of: UInt8(ascii: "#")) ?? bytes.endIndex
        let authority = bytes[authorityStart..<authorityEnd]
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")) else { return nil }
        var hostRange = authorityStart..<authorityEnd
        var portRange: Range<String.Index>?
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            hostRange = bytes.index(after: authorityStart)..<close
            let afterClose = bytes.index(after: close)
            if afterClose < authorityEnd {
                guard bytes[afterClose] == UInt8(ascii: ":") else { return nil }
                portRange = bytes.index(after: afterClose)..<authorityEnd
            }
        } else if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            hostRange = authorityStart..<colon
            portRange = bytes.index(after: colon)..<authorityEnd
        }
        guard !hostRange.isEmpty else { return nil }
        var port = secure ? 443 : 80
        if let portRange {
            guard let value = Int(url[portRange]), (1...65_535).contains(value) else { return nil }
            port = value
        }
        let host = url[hostRange]
        let hasUppercase = host.utf8.contains { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
        origin = UpstreamOrigin(
            secure: secure, host: hasUppercase ? host.lowercased() : String(host), port: port, caFile: secure ? caFile : nil
        )
        let path = url[authorityEnd..<pathEnd]
        target = path.isEmpty ? "/" : (path.hasPrefix("?") ? "/" + path : String(path))
    }
}
