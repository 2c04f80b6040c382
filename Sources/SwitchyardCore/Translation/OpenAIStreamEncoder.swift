import NIOCore

/// Canonical chunks → an OpenAI client's stream: `data: <chunk>` events and `data: [DONE]`; the usage chunk only
/// when the client asked for `stream_options.include_usage`.
public struct OpenAIStreamEncoder: ClientStreamEncoder {
    private let includeUsage: Bool

    public init(includeUsage: Bool) {
        self.includeUsage = includeUsage
    }

    public mutating func encode(_ chunk: JSONObject) -> [ByteBuffer] {
        if !includeUsage, (chunk["choices"] as? [Any])?.isEmpty ?? true, chunk["usage"] != nil { return [] }
        var chunk = chunk
        if !includeUsage { chunk["usage"] = nil }
        return [SSEEvent.encode(data: JSONValue.encode(chunk))]
    }

    public mutating func finish() -> [ByteBuffer] {
        [SSEEvent.done]
    }

    public func errorEvent(_ error: GatewayError) -> ByteBuffer {
        ByteBuffer(bytes: error.sseEvent)
    }
}
