import Foundation
import NIOCore

/// Canonical chunks → Anthropic stream events, each written `event: <type>\ndata: <json>\n\n`.
///
/// Blocks are opened as content arrives (thinking from `reasoning_content`, text, one tool_use per tool-call
/// index) and the open one is closed when another kind starts. OpenAI reports the finish reason and the usage in
/// separate chunks, so both are held until `finish()` writes `message_delta`.
public struct AnthropicStreamEncoder: ClientStreamEncoder {
    private let model: String
    private let inputTokensEstimate: Int
    private var started = false
    private var openBlock: Block?
    private var blockCount = 0
    /// The content-block index of each OpenAI tool-call index.
    private var toolBlocks: [Int: Int] = [:]
    private var finishReason: String?
    private var usage: (input: Int, output: Int, cacheRead: Int)?
    /// Characters generated, for estimating output tokens when the upstream reports no usage.
    private var generatedCharacters = 0

    private enum Block: Equatable {
        case thinking, text
        case toolUse(openAIIndex: Int)
    }

    public init(model: String, inputTokensEstimate: Int) {
        self.model = model
        self.inputTokensEstimate = inputTokensEstimate
    }

    public mutating func encode(_ chunk: JSONObject) -> [ByteBuffer] {
        var events = startMessage(id: chunk["id"])
        if let reported = AnthropicMessageEncoder.usage(chunk["usage"]) { usage = reported }
        guard let choice = (chunk["choices"] as? [Any])?.first as? JSONObject else { return events }
        let delta = choice["delta"] as? JSONObject ?? [:]
        if let thinking = delta["reasoning_content"] as? String, !thinking.isEmpty {
            events += open(.thinking, contentBlock: ["type": "thinking", "thinking": "", "signature": ""])
            events.append(blockDelta(index: blockCount - 1, ["type": "thinking_delta", "thinking": thinking]))
            generatedCharacters += thinking.count
        }
        if let text = delta["content"] as? String, !text.isEmpty {
            events += open(.text, contentBlock: ["type": "text", "text": ""])
            events.append(blockDelta(index: blockCount - 1, ["type": "text_delta", "text": text]))
            generatedCharacters += text.count
        }
        for case let call as JSONObject in delta["tool_calls"] as? [Any] ?? [] {
            events += toolCallEvents(call)
        }
        if let reason = choice["finish_reason"] as? String { finishReason = reason }
        return events
    }

    public mutating func finish() -> [ByteBuffer] {
        var events = startMessage(id: nil)
        events += closeOpenBlock()
        let final = usage ?? (inputTokensEstimate, UsageEstimate.tokens(characters: generatedCharacters), 0)
        var usageObject: JSONObject = ["input_tokens": final.input, "output_tokens": final.output]
        if final.cacheRead > 0 { usageObject["cache_read_input_tokens"] = final.cacheRead }
        let stopReason = AnthropicMessageEncoder.stopReason(finishReason, hasToolCalls: !toolBlocks.isEmpty)
        let delta: JSONObject = ["stop_reason": stopReason, "stop_sequence": NSNull()]
        events.append(Self.event("message_delta", ["delta": delta, "usage": usageObject]))
        events.append(Self.event("message_stop", [:]))
        return events
    }

    public func errorEvent(_ error: GatewayError) -> ByteBuffer {
        var event = ByteBuffer(string: "event: error\ndata: ")
        event.writeBytes(error.anthropicBody)
        event.writeString("\n\n")
        return event
    }

    /// `message_start`, once. OpenAI reports input tokens only at the end, but clients read them here, so the
    /// estimate stands in.
    private mutating func startMessage(id: Any?) -> [ByteBuffer] {
        guard !started else { return [] }
        started = true
        let message: JSONObject = [
            "id": AnthropicMessageEncoder.messageID(id), "type": "message", "role": "assistant", "model": model,
            "content": [Any](), "stop_reason": NSNull(), "stop_sequence": NSNull(),
            "usage": ["input_tokens": inputTokensEstimate, "output_tokens": 0],
        ]
        return [Self.event("message_start", ["message": message])]
    }

    private mutating func toolCallEvents(_ call: JSONObject) -> [ByteBuffer] {
        var events: [ByteBuffer] = []
        let openAIIndex = (call["index"] as? Int).flatMap { $0 >= 0 ? $0 : nil } ?? 0
        let function = call["function"] as? JSONObject
        if toolBlocks[openAIIndex] == nil {
            // The block starts with an empty input; the arguments follow as input_json_delta fragments.
            events += open(.toolUse(openAIIndex: openAIIndex), contentBlock: [
                "type": "tool_use", "id": AnthropicMessageEncoder.toolUseID(call["id"], index: openAIIndex),
                "name": function?["name"] as? String ?? "", "input": JSONObject(),
            ])
            toolBlocks[openAIIndex] = blockCount - 1
        }
        // A fragment for a call whose block was already closed (interleaved calls) still goes to that block's index,
        // so no argument text is lost.
        if let arguments = function?["arguments"] as? String, !arguments.isEmpty, let index = toolBlocks[openAIIndex] {
            events.append(blockDelta(index: index, ["type": "input_json_delta", "partial_json": arguments]))
            generatedCharacters += arguments.count
        }
        return events
    }

    /// Opens a block of `kind` unless it is the open one, closing the block that was open.
    private mutating func open(_ kind: Block, contentBlock: JSONObject) -> [ByteBuffer] {
        guard openBlock != kind else { return [] }
        var events = closeOpenBlock()
        events.append(Self.event("content_block_start", ["index": blockCount, "content_block": contentBlock]))
        openBlock = kind
        blockCount += 1
        return events
    }

    private mutating func closeOpenBlock() -> [ByteBuffer] {
        guard openBlock != nil else { return [] }
        openBlock = nil
        return [Self.event("content_block_stop", ["index": blockCount - 1])]
    }

    private func blockDelta(index: Int, _ delta: JSONObject) -> ByteBuffer {
        Self.event("content_block_delta", ["index": index, "delta": delta])
    }

    private static func event(_ type: String, _ fields: JSONObject) -> ByteBuffer {
        var payload = fields
        payload["type"] = type
        var event = ByteBuffer(string: "event: \(type)\ndata: ")
        event.writeBytes(JSONValue.encode(payload))
        event.writeString("\n\n")
        return event
    }
}
