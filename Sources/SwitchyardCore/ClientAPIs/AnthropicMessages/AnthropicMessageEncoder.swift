import Foundation

/// Canonical OpenAI answers in Anthropic's Messages shape, for `/v1/messages` clients served by an OpenAI provider.
public enum AnthropicMessageEncoder {
    /// A canonical `chat.completion` → an Anthropic `message` (id "msg_…" derived from the completion's id, the
    /// client's requested `model`, content blocks text/tool_use (arguments parsed, {} on failure), thinking from
    /// reasoning_content, stop_reason mapped stop→end_turn length→max_tokens tool_calls→tool_use
    /// content_filter→refusal, usage input_tokens = max(prompt − cached, 0), cache_read_input_tokens = cached,
    /// output_tokens = completion).
    public static func message(fromChatCompletion completion: JSONObject, model: String) -> JSONObject {
        let choices = (completion["choices"] as? [Any] ?? []).compactMap { $0 as? JSONObject }
        let choice = choices.first { $0["index"] as? Int == 0 } ?? choices.first
        let message = choice?["message"] as? JSONObject ?? [:]

        var content: [Any] = []
        if let reasoning = message["reasoning_content"] as? String, !reasoning.isEmpty {
            content.append(["type": "thinking", "thinking": reasoning, "signature": ""])
        }
        if let text = message["content"] as? String, !text.isEmpty {
            content.append(["type": "text", "text": text])
        }
        let toolCalls = (message["tool_calls"] as? [Any] ?? []).compactMap { $0 as? JSONObject }
        for (index, call) in toolCalls.enumerated() {
            let function = call["function"] as? JSONObject
            content.append([
                "type": "tool_use", "id": toolUseID(call["id"], index: index), "name": function?["name"] as? String ?? "",
                "input": toolInput(function?["arguments"] as? String),
            ])
        }
        let usage = usage(completion["usage"])
        return [
            "id": messageID(completion["id"]), "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stopReason(choice?["finish_reason"] as? String, hasToolCalls: !toolCalls.isEmpty),
            "stop_sequence": NSNull(),
            "usage": [
                "input_tokens": usage?.input ?? 0, "output_tokens": usage?.output ?? 0,
                "cache_read_input_tokens": usage?.cacheRead ?? 0,
            ],
        ]
    }

    /// Anthropic ids start with `msg_`; the upstream's id is kept behind it so logs can be matched.
    static func messageID(_ completionID: Any?) -> String {
        guard let id = completionID as? String, !id.isEmpty else {
            return "msg_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        }
        return id.hasPrefix("msg_") ? id : "msg_" + id
    }

    /// Anthropic requires an id on every tool_use block; an upstream that sent none gets one by position.
    static func toolUseID(_ id: Any?, index: Int) -> String {
        (id as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "toolu_\(index)"
    }

    /// OpenAI finish reasons as Anthropic stop reasons; a turn that called tools always reports `tool_use`, since
    /// clients run tools only when they see it.
    static func stopReason(_ finishReason: String?, hasToolCalls: Bool) -> String {
        switch finishReason {
        case "length": "max_tokens"
        case "content_filter": "refusal"
        case "tool_calls", "function_call": "tool_use"
        default: hasToolCalls ? "tool_use" : "end_turn"
        }
    }

    /// An OpenAI `usage` in Anthropic's terms: OpenAI counts cached tokens inside the prompt, Anthropic apart from
    /// `input_tokens`.
    static func usage(_ openAIUsage: Any?) -> (input: Int, output: Int, cacheRead: Int)? {
        guard let tokens = TokenUsage(openAIUsage: openAIUsage) else { return nil }
        let details = (openAIUsage as? JSONObject)?["prompt_tokens_details"] as? JSONObject
        let cached = JSONValue.count(details?["cached_tokens"]) ?? 0
        return (max(tokens.promptTokens - cached, 0), tokens.completionTokens, cached)
    }

    /// Tool-call arguments as an object; anything unparseable becomes `{}` rather than failing the whole answer.
    private static func toolInput(_ arguments: String?) -> JSONObject {
        arguments.flatMap { JSONValue.object(Array($0.utf8)) } ?? [:]
    }
}
