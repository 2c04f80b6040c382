import Foundation
import NIOCore

/// GigaChat's stream (OpenAI-like chunks ending in data: [DONE]) → canonical chunks.
///
/// A function call arrives whole in one delta, so it becomes one tool call with its full arguments. GigaChat puts
/// usage into an ordinary chunk; it is held back and sent once, as the final usage chunk, when the stream ends.
public struct GigaChatStreamDecoder: UpstreamStreamDecoder {
    public private(set) var usage: TokenUsage?
    private var usageObject: JSONObject?
    /// `id`, `created` and `model` of every chunk, taken from the first (GigaChat's chunks have no id).
    private var envelope: JSONObject?
    private var choices: [Int: ChoiceState] = [:]
    private var sawFinishReason = false
    private var finished = false

    private struct ChoiceState {
        var sentRole = false
        var toolCallCount = 0
    }

    public init() {}

    public mutating func decode(_ data: ByteBuffer) throws(UpstreamStreamError) -> [JSONObject] {
        if SSEEvent.isDone(data: data) {
            guard !finished else { return [] }
            finished = true
            return finalUsageChunk()
        }
        guard !finished, data.readableBytes > 0 else { return [] }
        guard let chunk = JSONValue.object(data.readableBytesView) else {
            throw UpstreamStreamError(
                reason: "GigaChat sent a stream event that is not JSON.",
                detail: GatewayError.clipped(String(buffer: data))
            )
        }
        if let error = chunk["error"], !(error is NSNull) {
            let message = (error as? JSONObject)?["message"] as? String ?? error as? String ?? "no message"
            throw UpstreamStreamError(
                reason: "GigaChat reported an error in its stream: \(GatewayError.clipped(message))",
                detail: GatewayError.clipped(String(buffer: data))
            )
        }
        let envelope = self.envelope ?? [
            "id": chunk["id"] as? String ?? GigaChatAnswer.generatedID(prefix: "chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": JSONValue.count(chunk["created"]) ?? 0,
            "model": chunk["model"] as? String ?? "",
        ]
        self.envelope = envelope
        if let usageObject = GigaChatAnswer.usageObject(chunk["usage"]) {
            self.usageObject = usageObject
            usage = GigaChatAnswer.usage(usageObject)
        }
        var output: [JSONObject] = []
        for (position, element) in (chunk["choices"] as? [Any] ?? []).enumerated() {
            guard let choice = element as? JSONObject else { continue }
            let index = JSONValue.count(choice["index"]) ?? position
            var state = choices[index] ?? ChoiceState()
            let upstreamDelta = choice["delta"] as? JSONObject ?? [:]
            var delta: JSONObject = [:]
            if !state.sentRole {
                delta["role"] = "assistant"
                state.sentRole = true
            }
            for key in ["content", "reasoning_content"] {
                if let text = upstreamDelta[key] as? String, !text.isEmpty { delta[key] = text }
            }
            if let call = upstreamDelta["function_call"] as? JSONObject {
                var toolCall = GigaChatAnswer.toolCall(call, stateID: upstreamDelta["functions_state_id"])
                toolCall["index"] = state.toolCallCount
                state.toolCallCount += 1
                delta["tool_calls"] = [toolCall]
            }
            var finishReason: Any = NSNull()
            if let reason = choice["finish_reason"] as? String {
                sawFinishReason = true
                finishReason = state.toolCallCount > 0 ? "tool_calls" : GigaChatAnswer.finishReason(reason)
            }
            choices[index] = state
            guard !delta.isEmpty || !(finishReason is NSNull) else { continue }
            var canonical = envelope
            canonical["choices"] = [["index": index, "delta": delta, "logprobs": NSNull(), "finish_reason": finishReason]]
            output.append(canonical)
        }
        return output
    }

    /// A stream that ended after a finish reason but without `[DONE]` still counts as finished.
    public mutating func finish() throws(UpstreamStreamError) -> [JSONObject] {
        guard !finished else { return [] }
        guard sawFinishReason else {
            throw UpstreamStreamError(reason: "GigaChat's stream ended before it finished.")
        }
        finished = true
        return finalUsageChunk()
    }

    private func finalUsageChunk() -> [JSONObject] {
        guard var chunk = envelope, let usageObject else { return [] }
        chunk["choices"] = [Any]()
        chunk["usage"] = usageObject
        return [chunk]
    }
}
