import NIOCore

/// Turns canonical OpenAI chunks into the events a client of one API expects. Made per attempt.
public protocol ClientStreamEncoder {
    /// Complete SSE events (framing included) for one canonical chunk.
    mutating func encode(_ chunk: JSONObject) -> [ByteBuffer]
    /// The events that end a stream that finished properly (`data: [DONE]`, `message_stop`, …).
    mutating func finish() -> [ByteBuffer]
    /// The event that ends a stream that failed after it started, in the client's dialect.
    func errorEvent(_ error: GatewayError) -> ByteBuffer
    /// The whole answer, once the stream finished, for APIs whose answers the gateway keeps (Responses).
    var completedAnswer: JSONObject? { get }
}

extension ClientStreamEncoder {
    public var completedAnswer: JSONObject? { nil }
}
