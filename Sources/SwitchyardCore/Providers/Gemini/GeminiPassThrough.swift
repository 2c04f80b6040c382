import Foundation
import NIOCore

/// A Gemini stream relayed to a Gemini client byte-exact (CRLF framing included). Each event is a whole
/// `GenerateContentResponse`; the last `usageMetadata` is the usage, a `finishReason` marks the end (Gemini sends no
/// `[DONE]`).
public struct GeminiPassThrough: StreamTranslator {
    private var usageMetadata: Any?
    private var finished = false
    public private(set) var generatedBytes = 0
    /// Gemini's first event already carries part of the answer.
    public private(set) var carriesAnswer = false

    public init() {}

    public var usage: TokenUsage? { GeminiAnswer.usage(usageMetadata) }

    public mutating func translate(_ event: ByteBuffer, into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        guard let data = SSEEvent.data(of: event) else {
            output.append(event)
            return
        }
        let parsed = try? JSONSerialization.jsonObject(with: Data(data.readableBytesView))
        guard let response = (parsed as? JSONObject) ?? ((parsed as? [Any])?.first as? JSONObject) else {
            throw UpstreamStreamError(reason: "the upstream sent an event that is not a JSON object")
        }
        if let error = response["error"] as? JSONObject {
            throw UpstreamStreamError(
                reason: "the upstream reported \(error["status"] as? String ?? "an error"): "
                    + GatewayError.clipped(error["message"] as? String ?? ""),
                forwarded: [event]
            )
        }
        output.append(event)
        carriesAnswer = true
        if let metadata = response["usageMetadata"] { usageMetadata = metadata }
        if response["promptFeedback"].flatMap({ ($0 as? JSONObject)?["blockReason"] }) != nil { finished = true }
        for case let candidate as JSONObject in response["candidates"] as? [Any] ?? [] {
            if candidate["finishReason"] is String { finished = true }
            for case let part as JSONObject in (candidate["content"] as? JSONObject)?["parts"] as? [Any] ?? [] {
                generatedBytes += (part["text"] as? String)?.utf8.count ?? 0
            }
        }
    }

    public mutating func finish(into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        guard finished else { throw UpstreamStreamError(reason: "the stream ended before it finished") }
    }

    public func errorEvent(_ error: GatewayError) -> ByteBuffer {
        SSEEvent.encode(data: error.geminiBody)
    }
}
