import Foundation
import NIOCore

/// Gemini SSE (each event a whole GenerateContentResponse with incremental parts; no [DONE]) → canonical chunks.
///
/// Each function call arrives whole, so it becomes one tool-call delta with its full arguments; tool-call indices
/// run across the whole stream. A choice that made a tool call finishes with `tool_calls` even when Gemini's
/// `STOP` comes in a later event (providers.md §7 pitfall 7). Usage is the last `usageMetadata` with counts,
/// given once by `finish()`.
public struct GeminiStreamDecoder: UpstreamStreamDecoder {
    private let model: String
    private let created: Int
    private let id: String
    private var startedChoices: Set<Int> = []
    /// Tool calls made so far, by choice index.
    private var toolCallCounts: [Int: Int] = [:]
    private var sawFinishReason = false
    private var usageObject: JSONObject?

    public init(model: String, created: Int, id: String) {
        self.model = model
        self.created = created
        self.id = id
    }

    public var usage: TokenUsage? { TokenUsage(openAIUsage: usageObject) }

    public mutating func decode(_ data: ByteBuffer) throws(UpstreamStreamError) -> [JSONObject] {
        guard data.readableBytes > 0 else { return [] }
        let bytes = Data(data.readableBytesView)
        guard let parsed = try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]) else {
            throw UpstreamStreamError(
                reason: "the upstream sent a stream event that is not JSON", detail: GatewayError.clipped(String(buffer: data))
            )
        }
        // Google's errors on the streaming route may come as a one-element array.
        let event = (parsed as? [Any]).flatMap { $0.count == 1 ? $0[0] : nil } ?? parsed
        guard let response = event as? JSONObject else {
            throw UpstreamStreamError(
                reason: "the upstream sent a stream event that is not a Gemini response",
                detail: GatewayError.clipped(String(buffer: data))
            )
        }
        if let error = response["error"], !(error is NSNull) {
            let object = error as? JSONObject
            let status = (object?["status"] as? String).map { " (\($0))" } ?? ""
            let message = object?["message"] as? String ?? error as? String ?? "no message"
            throw UpstreamStreamError(
                reason: "the upstream reported an error\(status): \(GatewayError.clipped(message))",
                detail: GatewayError.clipped(String(buffer: data), to: 2048)
            )
        }
        if let usage = GeminiAnswer.openAIUsage(response["usageMetadata"]) { usageObject = usage }

        if GeminiAnswer.isBlockedPrompt(response) {
            sawFinishReason = true
            return [chunk(index: 0, delta: startDelta(index: 0), finishReason: "content_filter")]
        }
        var chunks: [JSONObject] = []
        for (position, value) in (response["candidates"] as? [Any] ?? []).enumerated() {
            guard let candidate = value as? JSONObject else { continue }
            let index = JSONValue.count(candidate["index"]) ?? position
            let parts = GeminiAnswer.CandidateParts(candidate)
            var delta = startDelta(index: index)
            if !parts.text.isEmpty { delta["content"] = parts.text }
            if !parts.reasoning.isEmpty { delta["reasoning_content"] = parts.reasoning }
            if !parts.toolCalls.isEmpty {
                let first = toolCallCounts[index] ?? 0
                delta["tool_calls"] = parts.toolCalls.enumerated().map { offset, call in
                    call.merging(["index": first + offset]) { _, index in index }
                }
                toolCallCounts[index] = first + parts.toolCalls.count
            }
            let finishReason = GeminiAnswer.finishReason(of: candidate, madeToolCall: toolCallCounts[index] != nil)
            if finishReason != nil { sawFinishReason = true }
            if !delta.isEmpty || finishReason != nil {
                chunks.append(chunk(index: index, delta: delta, finishReason: finishReason))
            }
        }
        return chunks
    }

    public mutating func finish() throws(UpstreamStreamError) -> [JSONObject] {
        guard sawFinishReason else { throw UpstreamStreamError(reason: "the stream ended before it finished") }
        guard let usageObject else { return [] }
        return [
            ["id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": usageObject]
        ]
    }

    /// `{"role":"assistant"}` the first time a choice appears, `{}` after.
    private mutating func startDelta(index: Int) -> JSONObject {
        startedChoices.insert(index).inserted ? ["role": "assistant"] : [:]
    }

    private func chunk(index: Int, delta: JSONObject, finishReason: String?) -> JSONObject {
        [
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [
                ["index": index, "delta": delta, "logprobs": NSNull(), "finish_reason": (finishReason as Any?) ?? NSNull()]
            ],
        ]
    }
}
