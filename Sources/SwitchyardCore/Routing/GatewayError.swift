/// An error the gateway itself answers with, rendered in OpenAI's shape:
/// `{"error":{"message":…,"type":…,"param":…,"code":…}}`.
public struct GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    public var statusCode: Int
    public var type: String
    public var code: String?
    public var param: String?
    public var message: String
    /// Extra response headers such as `Retry-After`.
    public var headers: [HeaderField]

    public init(
        status: Int, type: String, code: String?, param: String? = nil, message: String, headers: [HeaderField] = []
    ) {
        self.statusCode = status
        self.type = type
        self.code = code
        self.param = param
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(statusCode) \(code ?? type): \(message)" }

    /// The JSON object `{"message":…,"type":…,"param":…,"code":…}` (without the `error` wrapper).
    public var errorObject: [UInt8] {
        var out: [UInt8] = Array(#"{"message":"#.utf8)
        out += JSONText.quoted(message)
        out += Array(#","type":"#.utf8)
        out += JSONText.quoted(type)
        out += Array(#","param":"#.utf8)
        out += param.map(JSONText.quoted) ?? Array("null".utf8)
        out += Array(#","code":"#.utf8)
        out += code.map(JSONText.quoted) ?? Array("null".utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The full response body.
    public var body: [UInt8] {
        Array(#"{"error":"#.utf8) + errorObject + [UInt8(ascii: "}")]
    }

    /// The SSE event that ends a stream which failed after its first byte: `data: {"error":{…}}` + blank line.
    public var sseEvent: [UInt8] {
        Array("data: ".utf8) + body + Array("\n\n".utf8)
    }
}

/// A header name and value pair, kept independent of any HTTP library.
public struct HeaderField: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

extension GatewayError {
    public static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> GatewayError {
        GatewayError(status: 400, type: "invalid_request_error", code: code, param: param, message: message)
    }

    public static func missingParameter(_ name: String) -> GatewayError {
        invalidRequest("Missing required parameter: '\(name)'.", param: name, code: "missing_required_parameter")
    }

    public static func invalidJSON(_ detail: String) -> GatewayError {
        invalidRequest(
            "We could not parse the JSON body of your request (\(detail)). The body must be a JSON object.",
            code: "invalid_json"
        )
    }

    public static func modelNotFound(_ model: String) -> GatewayError {
        GatewayError(
            status: 404, type: "invalid_request_error", code: "model_not_found", param: "model",
            message: "The model '\(clipped(model))' does not exist or is not configured on this gateway."
        )
    }

    /// The client went away before its answer was ready (nginx's 499); only the request log sees this.
    public static let clientClosedRequest = GatewayError(
        status: 499, type: "invalid_request_error", code: "client_disconnected",
        message: "The client closed the connection before the answer was ready."
    )

    public static let shuttingDown = GatewayError(
        status: 503, type: "api_error", code: "shutting_down",
        message: "The gateway is shutting down; retry the request.",
        headers: [HeaderField("retry-after", "1")]
    )

    /// A client-chosen string shortened for messages and logs, so that a huge value is never copied around.
    public static func clipped(_ text: String, to limit: Int = 256) -> String {
        text.utf8.count <= limit ? text : String(decoding: text.utf8.prefix(limit), as: UTF8.self) + "…"
    }

    public static func unauthorized(_ message: String) -> GatewayError {
        GatewayError(status: 401, type: "invalid_request_error", code: "invalid_api_key", message: message)
    }

    public static func payloadTooLarge(limit: Int) -> GatewayError {
        GatewayError(
            status: 413, type: "invalid_request_error", code: "request_too_large",
            message: "Request body is larger than the gateway's limit of \(limit) bytes."
        )
    }

    public static func notFound(path: String) -> GatewayError {
        GatewayError(
            status: 404, type: "invalid_request_error", code: "unknown_url",
            message: "Unknown request URL: \(clipped(path))."
        )
    }

    public static func methodNotAllowed(method: String, path: String) -> GatewayError {
        GatewayError(
            status: 405, type: "invalid_request_error", code: "method_not_allowed",
            message: "Method \(clipped(method)) is not allowed on \(clipped(path))."
        )
    }

    public static func internalError(_ message: String) -> GatewayError {
        GatewayError(status: 500, type: "api_error", code: "internal_error", message: message)
    }
}
