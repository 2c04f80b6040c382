import NIOCore

/// Turns one upstream stream, event by event, into OpenAI `chat.completion.chunk` objects (the canonical form
/// every client encoder reads). Made per attempt; not shared between requests.
///
/// Chunks carry `id`, `object: "chat.completion.chunk"`, `created`, `model` and `choices: [{index, delta,
/// logprobs: null, finish_reason}]`; `finish_reason` is always one of OpenAI's values (`stop`, `length`,
/// `tool_calls`, `content_filter`). Usage, when the upstream reports it, comes once, as a final chunk with
/// `choices: []` and an OpenAI `usage` object, and also in `usage`.
public protocol UpstreamStreamDecoder {
    /// The chunks one upstream event's `data` field stands for (often none). Throws when the upstream reports
    /// an error inside its stream, or sends something that is not its format.
    mutating func decode(_ data: ByteBuffer) throws(UpstreamStreamError) -> [JSONObject]
    /// Called when the upstream body ended: the chunks still owed (a finish or usage chunk the upstream's format
    /// leaves implicit). Throws when the stream ended before it finished properly.
    mutating func finish() throws(UpstreamStreamError) -> [JSONObject]
    /// Tokens the upstream reported so far, in OpenAI terms (prompt includes cached and cache-creation tokens).
    var usage: TokenUsage? { get }
}

/// An upstream stream that failed: an error event inside it, a malformed event, or an early end.
public struct UpstreamStreamError: Error, Sendable, Equatable {
    /// What the client is told (no addresses, keys or transport details).
    public var reason: String
    /// What only the gateway log gets.
    public var detail: String?
    /// Events to hand the client before the stream ends (an upstream's own error event, when the client speaks
    /// the upstream's dialect); empty when the gateway writes its own error event.
    public var forwarded: [ByteBuffer]

    public init(reason: String, detail: String? = nil, forwarded: [ByteBuffer] = []) {
        self.reason = reason
        self.detail = detail
        self.forwarded = forwarded
    }
}
