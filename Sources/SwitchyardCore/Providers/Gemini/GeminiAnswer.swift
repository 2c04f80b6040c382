import Foundation

/// Gemini `GenerateContentResponse`s read in OpenAI terms (providers.md §2.7).
public enum GeminiAnswer {
    /// A GenerateContentResponse → a canonical chat.completion (one choice per candidate; text parts joined, thought
    /// parts → reasoning_content, functionCall parts → tool_calls with ids "call_<hex>", content null when only tool
    /// calls; finish_reason: STOP→stop or tool_calls when a functionCall was produced, MAX_TOKENS→length,
    /// SAFETY/BLOCKLIST/PROHIBITED_CONTENT/SPII/IMAGE_*/RECITATION→content_filter, others→stop; a blocked prompt
    /// (promptFeedback.blockReason, no candidates) → one choice with content "" and finish_reason content_filter).
    ///
    /// A choice that made a tool call always finishes with `tool_calls`, whatever Gemini's reason, so that OpenAI
    /// clients run the calls they were given. Throws (502) when there are neither candidates nor a block reason.
    public static func chatCompletion(
        fromResponse response: JSONObject, model: String, created: Int, id: String
    ) throws(GatewayError) -> JSONObject {
        var choices: [JSONObject] = []
        for (index, value) in (response["candidates"] as? [Any] ?? []).enumerated() {
            guard let candidate = value as? JSONObject else { throw invalidResponse("a candidate is not an object") }
            let parts = CandidateParts(candidate)
            var message: JSONObject = ["role": "assistant"]
            message["content"] = parts.text.isEmpty && !parts.toolCalls.isEmpty ? NSNull() : parts.text
            if !parts.reasoning.isEmpty { message["reasoning_content"] = parts.reasoning }
            if !parts.toolCalls.isEmpty { message["tool_calls"] = parts.toolCalls }
            let finishReason = finishReason(of: candidate, madeToolCall: !parts.toolCalls.isEmpty)
                ?? (parts.toolCalls.isEmpty ? "stop" : "tool_calls")
            choices.append(choice(index: index, message: message, finishReason: finishReason))
        }
        if choices.isEmpty {
            guard isBlockedPrompt(response) else {
                let upstreamMessage = (response["error"] as? JSONObject)?["message"] as? String
                let quoted = upstreamMessage.map { ": " + GatewayError.clipped($0) } ?? ""
                throw invalidResponse("it has no candidates" + quoted)
            }
            choices = [choice(index: 0, message: ["role": "assistant", "content": ""], finishReason: "content_filter")]
        }
        var completion: JSONObject = [
            "id": id, "object": "chat.completion", "created": created, "model": model, "choices": choices,
        ]
        if let usage = openAIUsage(response["usageMetadata"]) { completion["usage"] = usage }
        return completion
    }

    /// usageMetadata → OpenAI terms: prompt = promptTokenCount (+ toolUsePromptTokenCount), completion =
    /// candidatesTokenCount + thoughtsTokenCount, total = totalTokenCount (or the sum), cached =
    /// cachedContentTokenCount.
    public static func usage(_ usageMetadata: Any?) -> TokenUsage? {
        TokenUsage(openAIUsage: openAIUsage(usageMetadata))
    }

    /// The same as an OpenAI `usage` object, with `prompt_tokens_details.cached_tokens` and
    /// `completion_tokens_details.reasoning_tokens` when Gemini reports them; nil when it reports no counts (the
    /// first stream events carry only `trafficType`) or an unbelievable one.
    public static func openAIUsage(_ usageMetadata: Any?) -> JSONObject? {
        guard let metadata = usageMetadata as? JSONObject else { return nil }
        var counts: [String: Int] = [:]
        for key in [
            "promptTokenCount", "toolUsePromptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
            "totalTokenCount", "cachedContentTokenCount",
        ] where metadata[key] != nil && !(metadata[key] is NSNull) {
            guard let count = JSONValue.count(metadata[key]) else { return nil }
            counts[key] = count
        }
        guard !counts.isEmpty else { return nil }
        let prompt = (counts["promptTokenCount"] ?? 0) + (counts["toolUsePromptTokenCount"] ?? 0)
        let completion = (counts["candidatesTokenCount"] ?? 0) + (counts["thoughtsTokenCount"] ?? 0)
        let total = counts["totalTokenCount"] ?? prompt + completion
        guard max(prompt, completion, total) <= TokenUsage.maximumCount else { return nil }
        var usage: JSONObject = ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total]
        if let cached = counts["cachedContentTokenCount"] { usage["prompt_tokens_details"] = ["cached_tokens": cached] }
        if let thoughts = counts["thoughtsTokenCount"] { usage["completion_tokens_details"] = ["reasoning_tokens": thoughts] }
        return usage
    }

    // MARK: - Shared with the stream decoder

    /// One candidate's parts in OpenAI terms.
    struct CandidateParts {
        var text = ""
        var reasoning = ""
        /// `{"id","type":"function","function":{"name","arguments"}}` each (no stream `index`).
        var toolCalls: [JSONObject] = []

        init(_ candidate: JSONObject) {
            let parts = (candidate["content"] as? JSONObject)?["parts"] as? [Any] ?? []
            for case let part as JSONObject in parts {
                if let text = part["text"] as? String {
                    if JSONValue.bool(part["thought"]) == true { reasoning += text } else { self.text += text }
                } else if let call = part["functionCall"] as? JSONObject, let name = call["name"] as? String {
                    let arguments = (call["args"] as? JSONObject).map {
                        String(decoding: JSONValue.encode($0), as: UTF8.self)
                    }
                    toolCalls.append([
                        "id": GeminiAnswer.toolCallID(), "type": "function",
                        "function": ["name": name, "arguments": arguments ?? "{}"],
                    ])
                }
            }
        }
    }

    /// The OpenAI finish reason for a candidate's `finishReason`; nil while it has none.
    static func finishReason(of candidate: JSONObject, madeToolCall: Bool) -> String? {
        guard let reason = candidate["finishReason"] as? String, !reason.isEmpty, reason != "FINISH_REASON_UNSPECIFIED"
        else { return nil }
        if madeToolCall { return "tool_calls" }
        switch reason {
        case "MAX_TOKENS": return "length"
        case "SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "RECITATION": return "content_filter"
        case _ where reason.hasPrefix("IMAGE_"): return "content_filter"
        default: return "stop"
        }
    }

    /// Gemini refused the prompt itself: no candidates, a `promptFeedback.blockReason`.
    static func isBlockedPrompt(_ response: JSONObject) -> Bool {
        (response["candidates"] as? [Any] ?? []).isEmpty
            && (response["promptFeedback"] as? JSONObject)?["blockReason"] is String
    }

    /// Gemini's function calls have no id an OpenAI client could use: each gets a fresh one.
    static func toolCallID() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return "call_" + String((0..<24).map { _ in digits[Int(generator.next() % 16)] })
    }

    private static func choice(index: Int, message: JSONObject, finishReason: String) -> JSONObject {
        ["index": index, "message": message, "logprobs": NSNull(), "finish_reason": finishReason]
    }

    private static func invalidResponse(_ problem: String) -> GatewayError {
        GatewayError(
            status: 502, type: "api_error", code: "invalid_upstream_response",
            message: "The upstream sent a Gemini answer that cannot be read: \(problem)."
        )
    }
}
