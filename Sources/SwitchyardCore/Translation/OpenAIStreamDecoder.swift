import Foundation
import NIOCore

/// An OpenAI stream read into canonical chunks, for clients of other dialects. Chunks are already canonical;
/// this parses them, keeps the usage and notices the end.
public struct OpenAIStreamDecoder: UpstreamStreamDecoder {
    private var finished = false
    private var usageChunk: JSONObject?
    public private(set) var usage: TokenUsage?
    /// Azure sends chunks with empty `choices` and only prompt-filter results.
    private let dropsChunksWithoutChoices: Bool

    public init(dropsChunksWithoutChoices: Bool = false) {
        self.dropsChunksWithoutChoices = dropsChunksWithoutChoices
    }

    public mutating func decode(_ data: ByteBuffer) throws(UpstreamStreamError) -> [JSONObject] {
        if SSEEvent.isDone(data: data) {
            finished = true
            return []
        }
        guard data.readableBytes > 0 else { return [] }
        guard var chunk = JSONValue.object(data.readableBytesView) else {
            throw UpstreamStreamError(reason: "the upstream sent an event that is not a JSON object")
        }
        if let error = chunk["error"], chunk["choices"] == nil {
            let message = ((error as? JSONObject)?["message"] as? String) ?? (error as? String) ?? "an error event"
            throw UpstreamStreamError(reason: "the upstream reported: \(GatewayError.clipped(message))")
        }
        if let reported = TokenUsage(openAIUsage: chunk["usage"]) {
            usage = reported
            usageChunk = ["id": chunk["id"] ?? "", "object": "chat.completion.chunk", "created": chunk["created"] ?? 0,
                          "model": chunk["model"] ?? "", "choices": [Any](), "usage": chunk["usage"] ?? NSNull()]
        }
        chunk["usage"] = nil
        let choices = chunk["choices"] as? [Any] ?? []
        if choices.contains(where: { (($0 as? JSONObject)?["finish_reason"] ?? NSNull()) is String }) {
            finished = true
        }
        if choices.isEmpty && (dropsChunksWithoutChoices || usageChunk != nil) { return [] }
        return [chunk]
    }

    public mutating func finish() throws(UpstreamStreamError) -> [JSONObject] {
        guard finished else { throw UpstreamStreamError(reason: "the stream ended before it finished") }
        return usageChunk.map { [$0] } ?? []
    }
}
