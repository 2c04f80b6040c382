import Foundation

/// Reading an Anthropic Messages answer in OpenAI terms.
public enum AnthropicAnswer {
    /// An Anthropic `message` object → a canonical `chat.completion`.
    ///
    /// Text blocks are joined into `content` (null when there is none but there are tool calls), `thinking` blocks
    /// into `reasoning_content`, and `tool_use` blocks become `tool_calls`. Server tool blocks (`server_tool_use`,
    /// web search results …) ran on Anthropic's side, so the client is not asked to run them.
    public static func chatCompletion(fromMessage message: JSONObject, created: Int) throws(GatewayError) -> JSONObject
    {
        guard message["type"] as? String == "message", let content = message["content"] as? [Any] else {
            throw GatewayError(
                status: 502, type: "api_error", code: "invalid_upstream_response",
                message: "The upstream sent an answer that is not an Anthropic message."
            )
        }
        var text = ""
        var reasoning = ""
        var toolCalls: [JSONObject] = []
        for case let block as JSONObject in content {
            switch block["type"] as? String {
            case "text": text += block["text"] as? String ?? ""
            case "thinking": reasoning += block["thinking"] as? String ?? ""
            case "tool_use":
                toolCalls.append([
                    "id": block["id"] as? String ?? "", "type": "function",
                    "function": [
                        "name": block["name"] as? String ?? "", "arguments": arguments(fromInput: block["input"]),
                    ],
                ])
            default: break
            }
        }
        var answer: JSONObject = [
            "role": "assistant", "content": text.isEmpty && !toolCalls.isEmpty ? NSNull() : text,
        ]
        if !reasoning.isEmpty { answer["reasoning_content"] = reasoning }
        if !toolCalls.isEmpty { answer["tool_calls"] = toolCalls }
        var completion: JSONObject = [
            "id": message["id"] as? String ?? "", "object": "chat.completion", "created": created,
            "model": message["model"] as? String ?? "",
            "choices": [
                [
                    "index": 0, "message": answer, "logprobs": NSNull(),
                    "finish_reason": finishReason(message["stop_reason"]),
                ]
            ],
        ]
        if let usage = openAIUsage(message["usage"]) { completion["usage"] = usage }
        return completion
    }

    /// A tool call's `input` as OpenAI `arguments` text; `{}` when there is no usable input.
    static func arguments(fromInput input: Any?) -> String {
        guard let input = input as? JSONObject else { return "{}" }
        return String(decoding: JSONValue.encode(input), as: UTF8.self)
    }

    /// Anthropic usage → OpenAI terms: prompt = input + cache_read + cache_creation, completion = output.
    ///
    /// Anthropic counts cached and cache-writing tokens apart from `input_tokens`; OpenAI's prompt includes them,
    /// so totals keep meaning prompt + completion. Nil when there are no counts or one is not believable.
    public static func usage(_ anthropicUsage: Any?) -> TokenUsage? {
        counts(anthropicUsage).map { TokenUsage(promptTokens: $0.prompt, completionTokens: $0.completion) }
    }

    /// The OpenAI `usage` object for that (with prompt_tokens_details.cached_tokens = cache_read).
    public static func openAIUsage(_ anthropicUsage: Any?) -> JSONObject? {
        guard let counts = counts(anthropicUsage) else { return nil }
        return [
            "prompt_tokens": counts.prompt, "completion_tokens": counts.completion,
            "total_tokens": counts.prompt + counts.completion,
            "prompt_tokens_details": ["cached_tokens": counts.cacheRead],
        ]
    }

    private static func counts(_ anthropicUsage: Any?) -> (prompt: Int, completion: Int, cacheRead: Int)? {
        guard let usage = anthropicUsage as? JSONObject else { return nil }
        var values: [String: Int] = [:]
        for key in ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"] {
            guard let value = usage[key], !(value is NSNull) else { continue }
            guard let count = JSONValue.count(value) else { return nil }
            values[key] = count
        }
        guard values["input_tokens"] != nil || values["output_tokens"] != nil else { return nil }
        let cacheRead = values["cache_read_input_tokens"] ?? 0
        let prompt = (values["input_tokens"] ?? 0) + cacheRead + (values["cache_creation_input_tokens"] ?? 0)
        guard prompt <= TokenUsage.maximumCount else { return nil }
        return (prompt, values["output_tokens"] ?? 0, cacheRead)
    }

    /// stop_reason → finish_reason (end_turn/stop_sequence/pause_turn/unknown → stop, max_tokens and
    /// model_context_window_exceeded → length, tool_use → tool_calls, refusal → content_filter).
    public static func finishReason(_ stopReason: Any?) -> String {
        switch stopReason as? String {
        case "max_tokens", "model_context_window_exceeded": "length"
        case "tool_use": "tool_calls"
        case "refusal": "content_filter"
        default: "stop"
        }
    }
}
