import Foundation
import NIOCore

/// Turns an Anthropic Messages stream (`message_start`, content blocks, `message_delta`, `message_stop`) into
/// canonical OpenAI chunks. Reads each event's `data` only: Anthropic repeats the event name there as `type`.
public struct AnthropicStreamDecoder: UpstreamStreamDecoder {
    private let created: Int
    private var messageID = ""
    private var model = ""
    private var stopReason: String?
    /// Anthropic's usage counts so far; `message_delta` carries cumulative values for the fields it names.
    private var anthropicUsage: JSONObject = [:]
    /// The OpenAI tool-call index of each `tool_use` content block, by block index.
    private var toolCallIndices: [Int: Int] = [:]
    private var sawMessageStop = false

    public init(created: Int) {
        self.created = created
    }

    public var usage: TokenUsage? { AnthropicAnswer.usage(anthropicUsage) }

    public mutating func decode(_ data: ByteBuffer) throws(UpstreamStreamError) -> [JSONObject] {
        guard data.readableBytes > 0 else { return [] }
        guard let event = JSONValue.object(data.readableBytesView) else {
            throw UpstreamStreamError(
                reason: "the upstream sent an event that is not a JSON object",
                detail: GatewayError.clipped(String(buffer: data))
            )
        }
        switch event["type"] as? String {
        case "message_start":
            let message = event["message"] as? JSONObject ?? [:]
            messageID = message["id"] as? String ?? messageID
            model = message["model"] as? String ?? model
            mergeUsage(message["usage"])
            return [chunk(delta: ["role": "assistant", "content": ""])]
        case "content_block_start":
            return contentBlockStart(event)
        case "content_block_delta":
            return contentBlockDelta(event)
        case "message_delta":
            if let reason = (event["delta"] as? JSONObject)?["stop_reason"] as? String { stopReason = reason }
            mergeUsage(event["usage"])
            return []
        case "message_stop":
            sawMessageStop = true
            var chunks = [chunk(delta: [:], finishReason: AnthropicAnswer.finishReason(stopReason))]
            if let usage = AnthropicAnswer.openAIUsage(anthropicUsage) {
                chunks.append([
                    "id": messageID, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [Any](), "usage": usage,
                ])
            }
            return chunks
        case "error":
            let error = event["error"] as? JSONObject ?? [:]
            let type = GatewayError.clipped(error["type"] as? String ?? "an error", to: 64)
            let message = (error["message"] as? String).map { ": " + GatewayError.clipped($0) } ?? ""
            throw UpstreamStreamError(reason: "the upstream reported \(type)\(message)")
        default:
            // `ping`, `content_block_stop` and event types added after this was written.
            return []
        }
    }

    public mutating func finish() throws(UpstreamStreamError) -> [JSONObject] {
        guard sawMessageStop else { throw UpstreamStreamError(reason: "the stream ended before it finished") }
        return []
    }

    private mutating func contentBlockStart(_ event: JSONObject) -> [JSONObject] {
        // Server tools (`server_tool_use`) run on Anthropic's side: the client is not asked to call them.
        guard let block = event["content_block"] as? JSONObject, block["type"] as? String == "tool_use",
            let blockIndex = event["index"] as? Int
        else { return [] }
        let index = toolCallIndices.count
        toolCallIndices[blockIndex] = index
        // The start carries a placeholder `input: {}` that the `input_json_delta`s then spell out in full.
        let input = block["input"] as? JSONObject ?? [:]
        let call: JSONObject = [
            "index": index, "id": block["id"] as? String ?? "", "type": "function",
            "function": [
                "name": block["name"] as? String ?? "",
                "arguments": input.isEmpty ? "" : AnthropicAnswer.arguments(fromInput: input),
            ],
        ]
        return [chunk(delta: ["tool_calls": [call]])]
    }

    private func contentBlockDelta(_ event: JSONObject) -> [JSONObject] {
        guard let delta = event["delta"] as? JSONObject else { return [] }
        switch delta["type"] as? String {
        case "text_delta":
            guard let text = delta["text"] as? String, !text.isEmpty else { return [] }
            return [chunk(delta: ["content": text])]
        case "thinking_delta":
            guard let thinking = delta["thinking"] as? String, !thinking.isEmpty else { return [] }
            return [chunk(delta: ["reasoning_content": thinking])]
        case "input_json_delta":
            guard let fragment = delta["partial_json"] as? String, !fragment.isEmpty,
                let blockIndex = event["index"] as? Int, let index = toolCallIndices[blockIndex]
            else { return [] }
            return [chunk(delta: ["tool_calls": [["index": index, "function": ["arguments": fragment]]]])]
        default:
            // `signature_delta`, `citations_delta`: nothing an OpenAI client reads.
            return []
        }
    }

    /// Takes the counts `usage` names, keeping earlier ones it leaves out (some upstreams report input only at
    /// `message_start`).
    private mutating func mergeUsage(_ usage: Any?) {
        guard let usage = usage as? JSONObject else { return }
        for (key, value) in usage where !(value is NSNull) { anthropicUsage[key] = value }
    }

    private func chunk(delta: JSONObject, finishReason: Any = NSNull()) -> JSONObject {
        [
            "id": messageID, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [["index": 0, "delta": delta, "logprobs": NSNull(), "finish_reason": finishReason]],
        ]
    }
}
