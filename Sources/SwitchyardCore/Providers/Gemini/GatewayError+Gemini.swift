/// Gateway errors in Google's shape, for clients that speak Gemini (providers.md §2.5).
extension GatewayError {
    /// Google's status name for this error's status (400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403
    /// PERMISSION_DENIED, 404 NOT_FOUND, 408/504 DEADLINE_EXCEEDED, 413 INVALID_ARGUMENT, 429 RESOURCE_EXHAUSTED,
    /// 499 CANCELLED, 500/502 INTERNAL, 503 UNAVAILABLE).
    ///
    /// Also 402 RESOURCE_EXHAUSTED (Google's prepaid credits), 409 ABORTED and 501 UNIMPLEMENTED; any other client
    /// error is INVALID_ARGUMENT, any other server error INTERNAL.
    public var geminiStatus: String {
        switch statusCode {
        case 401: "UNAUTHENTICATED"
        case 402, 429: "RESOURCE_EXHAUSTED"
        case 403: "PERMISSION_DENIED"
        case 404: "NOT_FOUND"
        case 408, 504: "DEADLINE_EXCEEDED"
        case 409: "ABORTED"
        case 499: "CANCELLED"
        case 501: "UNIMPLEMENTED"
        case 503: "UNAVAILABLE"
        case 400..<500: "INVALID_ARGUMENT"
        case 500..<600: "INTERNAL"
        default: "UNKNOWN"
        }
    }

    /// `{"error":{"code":<status>,"message":…,"status":…}}`
    public var geminiBody: [UInt8] {
        var out = Array(#"{"error":{"code":"#.utf8) + Array(String(statusCode).utf8)
        out += Array(#","message":"#.utf8)
        out += JSONText.quoted(message)
        out += Array(#","status":"#.utf8)
        out += JSONText.quoted(geminiStatus)
        out += Array("}}".utf8)
        return out
    }
}
