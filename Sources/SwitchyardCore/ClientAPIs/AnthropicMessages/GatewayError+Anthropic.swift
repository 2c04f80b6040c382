extension GatewayError {
    /// Anthropic's error type for this error's status: 400 invalid_request_error, 401 authentication_error,
    /// 402 billing_error, 403 permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error,
    /// 499/5xx api_error except 503/529 overloaded_error, 504 timeout_error.
    public var anthropicErrorType: String {
        switch statusCode {
        case 401: "authentication_error"
        case 402: "billing_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 503, 529: "overloaded_error"
        case 504: "timeout_error"
        case 499, 500...: "api_error"
        default: "invalid_request_error"
        }
    }

    /// `{"type":"error","error":{"type":…,"message":…}}`
    public var anthropicBody: [UInt8] {
        var out: [UInt8] = Array(#"{"type":"error","error":{"type":"#.utf8)
        out += JSONText.quoted(anthropicErrorType)
        out += Array(#","message":"#.utf8)
        out += JSONText.quoted(message)
        out += Array("}}".utf8)
        return out
    }
}
