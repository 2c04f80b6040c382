import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOSOCKS

/// Why an upstream request failed below HTTP. The descriptions name no address and no library internals: they
/// reach clients inside error messages.
enum UpstreamTransportError: Error, Equatable, CustomStringConvertible {
    /// The URL cannot be sent (not `http(s)://host[:port]/…`).
    case invalidURL
    /// No connection could be opened (refused, unreachable, no such host).
    case connectFailed(String)
    /// The connection did not open within `upstream_connect_timeout_seconds`.
    case connectTimeout
    /// No answer head arrived within the provider's `timeout`.
    case responseTimeout
    /// The connection closed before the answer was complete.
    case closedEarly
    /// The upstream reset an open connection (a TCP reset while the request or its answer was under way).
    case connectionReset
    /// The TLS handshake failed (an untrusted or mismatched certificate, a protocol error).
    case tlsFailed(String)
    /// What came back is not HTTP/1.
    case malformedAnswer
    /// The gateway is shutting down its upstream connections.
    case shutDown
    /// The outbound proxy could not be reached or refused to carry the request.
    case proxyFailed(String)
    /// Every outbound proxy of the provider is out, and it does not fall back to going directly.
    case noProxyUsable

    var description: String {
        switch self {
        case .invalidURL: "the upstream URL is invalid"
        case .connectFailed(let reason): "could not connect (\(reason))"
        case .connectTimeout: "connecting took too long"
        case .responseTimeout: "no answer within the provider's timeout"
        case .closedEarly: "the connection closed before the answer was complete"
        case .connectionReset: "the upstream reset the connection"
        case .tlsFailed(let reason): "the TLS handshake failed (\(reason))"
        case .malformedAnswer: "the answer is not valid HTTP"
        case .shutDown: "the gateway is shutting down"
        case .proxyFailed(let reason): "the outbound proxy failed (\(reason))"
        case .noProxyUsable: "no outbound proxy is usable"
        }
    }

    var isProxyOrTLSFailure: Bool {
        switch self {
        case .proxyFailed, .tlsFailed: true
        default: false
        }
    }

    var isTimeout: Bool {
        self == .connectTimeout || self == .responseTimeout
    }

    /// Turns what NIO and NIOSSL throw into a short reason without addresses or source paths.
    static func from(_ error: any Error) -> UpstreamTransportError {
        if let error = error as? UpstreamTransportError { return error }
        if let refused = error as? ProxyTunnelHandler.Refused {
            return .proxyFailed(refused.status.map { "CONNECT answered \($0)" } ?? "not an HTTP proxy")
        }
        if error is SOCKSError.ConnectionFailed || error is SOCKSError.NoValidAuthenticationMethod
            || error is SOCKSError.InvalidProtocolVersion || error is SOCKSError.InvalidReservedByte
            || error is SOCKSError.InvalidAuthenticationSelection || error is SOCKSError.InvalidAddressType
            || error is SOCKSError.InvalidServerState || error is SOCKSError.UnexpectedRead
        {
            return .proxyFailed("the SOCKS proxy refused")
        }
        if let error = error as? ChannelError {
            switch error {
            case .connectTimeout: return .connectTimeout
            case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed, .inputClosed: return .closedEarly
            default: return .connectFailed("channel error")
            }
        }
        if let error = error as? NIOConnectionError {
            let errors = error.connectionErrors.map(\.error)
            if errors.isEmpty { return .connectFailed("no address for the host") }
            return .connectFailed(errors.map(Self.reason).first ?? "unknown")
        }
        if let error = error as? IOError {
            // A connect that meets a reset is refused; a reset or a broken pipe is of a connection that was open.
            if error.errnoCode == ECONNRESET || error.errnoCode == EPIPE { return .connectionReset }
            return .connectFailed(reason(error))
        }
        // The decoder reports a body cut short by the connection's end as an invalid EOF state.
        if let error = error as? HTTPParserError { return error == .invalidEOFState ? .closedEarly : .malformedAnswer }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            let text = String(describing: error)
            if text.contains("CERTIFICATE_VERIFY_FAILED") { return .tlsFailed("the certificate is not trusted") }
            if error as? NIOSSLExtraError == .failedToValidateHostname { return .tlsFailed("the certificate names another host") }
            return .tlsFailed("protocol error")
        }
        return .connectFailed("unknown error")
    }

    private static func reason(_ error: any Error) -> String {
        guard let error = error as? IOError else {
            if case .connectTimeout = error as? ChannelError { return "timed out" }
            return "unknown error"
        }
        switch error.errnoCode {
        case ECONNREFUSED: return "connection refused"
        case ECONNRESET: return "connection reset"
        case ENETUNREACH, EHOSTUNREACH: return "host unreachable"
        case ETIMEDOUT: return "timed out"
        default: return "errno \(error.errnoCode)"
        }
    }
}
