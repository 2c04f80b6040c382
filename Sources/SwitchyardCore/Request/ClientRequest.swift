import NIOCore

/// The OpenAI endpoints Switchyard proxies.
public enum APIEndpoint: String, Sendable, CaseIterable {
    case chatCompletions = "chat/completions"
    case completions = "completions"
    case embeddings = "embeddings"

    /// Path appended to a provider's base URL.
    public var upstreamPath: String { "/" + rawValue }

    public var supportsStreaming: Bool { self != .embeddings }

    /// The member a request must carry besides `model`.
    var requiredMember: String {
        switch self {
        case .chatCompletions: "messages"
        case .completions: "prompt"
        case .embeddings: "input"
        }
    }
}

/// A client request body, checked and summarised without decoding it.
///
/// Only `model`, `stream` and `stream_options` are read; everything else (images, tools, unknown fields) is carried
/// as the original bytes and forwarded unchanged.
public struct ClientRequest: Sendable {
    public let endpoint: APIEndpoint
    public let body: ByteBuffer
    public let scan: JSONObjectScan
    public let model: String
    public let stream: Bool
    /// The client asked for `stream_options.include_usage`.
    public let includeUsage: Bool

    public init(endpoint: APIEndpoint, body: ByteBuffer) throws(GatewayError) {
        let scan: JSONObjectScan
        do {
            scan = try JSONObjectScan(body)
        } catch {
            throw .invalidJSON(error.description)
        }
        guard let modelMember = scan.member("model") else { throw .missingParameter("model") }
        let model = body.withUnsafeReadableBytes { JSONObjectScan.decodeString($0, in: modelMember.valueRange) }
        guard let model, !model.isEmpty else {
            throw .invalidRequest("'model' must be a non-empty string.", param: "model", code: "invalid_type")
        }
        let required = endpoint.requiredMember
        guard let requiredMember = scan.member(required), requiredMember.kind != .null else {
            throw .missingParameter(required)
        }
        if endpoint == .chatCompletions && requiredMember.kind != .array {
            throw .invalidRequest("'messages' must be an array.", param: "messages", code: "invalid_type")
        }

        var stream = false
        if let streamMember = scan.member("stream") {
            switch streamMember.kind {
            case .true: stream = true
            case .false, .null: stream = false
            default: throw .invalidRequest("'stream' must be a boolean.", param: "stream", code: "invalid_type")
            }
        }
        if stream && !endpoint.supportsStreaming {
            throw .invalidRequest("Streaming is not supported on /v1/\(endpoint.rawValue).", param: "stream")
        }

        var includeUsage = false
        if stream, let options = scan.member("stream_options"), options.kind == .object {
            includeUsage = body.withUnsafeReadableBytes { bytes in
                guard let nested = try? JSONObjectScan.scanObject(bytes, in: options.valueRange) else { return false }
                return nested.member("include_usage")?.kind == .true
            }
        }

        self.endpoint = endpoint
        self.body = body
        self.scan = scan
        self.model = model
        self.stream = stream
        self.includeUsage = includeUsage
    }

    /// The body to send upstream: `model` renamed, `stream` set to the upstream mode, and for upstream streams
    /// `stream_options.include_usage` turned on when `requestUsage` (so tokens can be counted), or `stream_options`
    /// left out altogether when not (for servers that reject the field); other bytes unchanged.
    public func upstreamBody(model upstreamModel: String, stream upstreamStream: Bool, requestUsage: Bool) -> ByteBuffer {
        body.withUnsafeReadableBytes { bytes in
            var editor = JSONObjectEditor()
            if upstreamModel != model {
                editor.set("model", string: upstreamModel)
            }
            if upstreamStream != stream {
                editor.set("stream", rawValue: Array((upstreamStream ? "true" : "false").utf8))
            }
            let options = scan.member("stream_options")
            if !upstreamStream || !requestUsage {
                if options != nil { editor.remove("stream_options") }
            } else if !includeUsage {
                let inner = options.map { UnsafeRawBufferPointer(rebasing: bytes[$0.valueRange]) }
                if let options, options.kind == .object, let inner,
                    let nested = try? JSONObjectScan.scanObject(inner, in: 0..<inner.count)
                {
                    var nestedEditor = JSONObjectEditor()
                    nestedEditor.set("include_usage", rawValue: Array("true".utf8))
                    editor.set("stream_options", rawValue: nestedEditor.apply(to: inner, scan: nested))
                } else {
                    editor.set("stream_options", rawValue: Array(#"{"include_usage":true}"#.utf8))
                }
            }
            if editor.isEmpty { return body }
            return ByteBuffer(bytes: editor.apply(to: bytes, scan: scan))
        }
    }
}
