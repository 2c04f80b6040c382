import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

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
    /// The TLS handshake failed (an untrusted or mismatched certificate, a protocol error).
    case tlsFailed(String)
    /// What came back is not HTTP/1.
    case malformedAnswer
    /// The gateway is shutting down its upstream connections.
    case shutDown

    var description: String {
        switch self {
        case .invalidURL: "the upstream URL is invalid"
        case .connectFailed(let reason): "could not connect (\(reason))"
        case .connectTimeout: "connecting took too long"
        case .responseTimeout: "no answer within the provider's timeout"
        case .closedEarly: "the connection closed before the answer was complete"
        case .tlsFailed(let reason): "the TLS handshake failed (\(reason))"
        case .malformedAnswer: "the answer is not valid HTTP"
        case .shutDown: "the gateway is shutting down"
        }
    }

    var isTimeout: Bool {
        self == .connectTimeout || self == .responseTimeout
    }

    /// Turns what NIO and NIOSSL throw into a short reason without addresses or source paths.
    static func from(_ error: any Error) -> UpstreamTransportError {
        if let error = error as? UpstreamTransportError { return error }
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
        if let error = error as? IOError { return .connectFailed(reason(error)) }
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
