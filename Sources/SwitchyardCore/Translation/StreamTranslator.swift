import NIOCore

/// Turns an upstream's stream into the stream its client expects, one upstream event at a time. Built per attempt
/// for one (client API, provider kind) pair; holds that stream's state, so it is never shared.
public protocol StreamTranslator {
    /// Appends the client events one upstream event (framing included) stands for. Throws when the upstream
    /// failed inside its stream.
    mutating func translate(_ event: ByteBuffer, into output: inout [ByteBuffer]) throws(UpstreamStreamError)
    /// Appends the events that end the stream once the upstream body ended; throws when it ended before it
    /// finished properly.
    mutating func finish(into output: inout [ByteBuffer]) throws(UpstreamStreamError)
    /// Tokens the upstream reported so far.
    var usage: TokenUsage? { get }
    /// Whether the events so far carry part of the answer, not just its opening (a role chunk, `message_start`):
    /// the attempt commits to this provider then, so an error right after the opening still fails over unseen.
    var carriesAnswer: Bool { get }
    /// Bytes of generated text seen so far, for an estimate when the upstream reports no usage.
    var generatedBytes: Int { get }
    /// The event that ends a stream that failed after it started, in the client's dialect.
    func errorEvent(_ error: GatewayError) -> ByteBuffer
    /// The whole answer a finished stream carried, for APIs whose answers the gateway keeps (Responses); nil for
    /// the others.
    var completedAnswer: JSONObject? { get }
}

extension StreamTranslator {
    public var completedAnswer: JSONObject? { nil }
}

/// A stream between different dialects: upstream events are decoded into canonical chunks, which are encoded for
/// the client.
public struct TranslatingStream: StreamTranslator {
    private var decoder: any UpstreamStreamDecoder
    private var encoder: any ClientStreamEncoder
    public private(set) var generatedBytes = 0
    public private(set) var carriesAnswer = false

    public init(decoder: any UpstreamStreamDecoder, encoder: any ClientStreamEncoder) {
        self.decoder = decoder
        self.encoder = encoder
    }

    public var usage: TokenUsage? { decoder.usage }
    public var completedAnswer: JSONObject? { encoder.completedAnswer }

    public mutating func translate(_ event: ByteBuffer, into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        guard let data = SSEEvent.data(of: event) else { return }
        encode(try decoder.decode(data), into: &output)
    }

    public mutating func finish(into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        encode(try decoder.finish(), into: &output)
        output += encoder.finish()
    }

    public func errorEvent(_ error: GatewayError) -> ByteBuffer {
        encoder.errorEvent(error)
    }

    private mutating func encode(_ chunks: [JSONObject], into output: inout [ByteBuffer]) {
        for chunk in chunks {
            let generated = CanonicalChunk.generatedBytes(chunk)
            generatedBytes += generated
            if generated > 0 || CanonicalChunk.hasFinishReason(chunk) { carriesAnswer = true }
            output += encoder.encode(chunk)
        }
    }
}

/// Reading canonical chunks.
public enum CanonicalChunk {
    public static func hasFinishReason(_ chunk: JSONObject) -> Bool {
        (chunk["choices"] as? [Any] ?? []).contains { ($0 as? JSONObject)?["finish_reason"] is String }
    }

    /// Characters of generated text in a chunk's deltas (content, reasoning, tool-call names and arguments).
    public static func generatedBytes(_ chunk: JSONObject) -> Int {
        var total = 0
        for case let choice as JSONObject in chunk["choices"] as? [Any] ?? [] {
            guard let delta = choice["delta"] as? JSONObject else { continue }
            total += (delta["content"] as? String)?.utf8.count ?? 0
            total += (delta["reasoning_content"] as? String)?.utf8.count ?? 0
            for case let call as JSONObject in delta["tool_calls"] as? [Any] ?? [] {
                let function = call["function"] as? JSONObject
                total += (function?["name"] as? String)?.utf8.count ?? 0
                total += (function?["arguments"] as? String)?.utf8.count ?? 0
            }
        }
        return total
    }
}
