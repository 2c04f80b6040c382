import Foundation

/// Canonical OpenAI answers in Gemini's GenerateContentResponse shape, for clients of Gemini's native routes served
/// by a provider that does not speak Gemini (the mirror of GeminiAnswer; providers.md §2.3).
public enum GeminiAnswerEncoder {
    /// A canonical chat.completion → a GenerateContentResponse: candidates (content role "model", parts: text,
    /// functionCall {name, args parsed from arguments ({} on failure)}, thought parts from reasoning_content with
    /// "thought": true), finishReason (stop→STOP, length→MAX_TOKENS, content_filter→SAFETY, tool_calls→STOP),
    /// index, usageMetadata {promptTokenCount, candidatesTokenCount, totalTokenCount, cachedContentTokenCount when
    /// cached > 0}, modelVersion = `model`, responseId from the completion id.
    ///
    /// Reasoning tokens (inside OpenAI's completion count) become `thoughtsTokenCount`, apart from
    /// `candidatesTokenCount` as Gemini counts them. A finish reason OpenAI does not define becomes OTHER.
    public static func response(fromChatCompletion completion: JSONObject, model: String) -> JSONObject {
        var candidates: [JSONObject] = []
        for (position, value) in (completion["choices"] as? [Any] ?? []).enumerated() {
            guard let choice = value as? JSONObject else { continue }
            let message = choice["message"] as? JSONObject ?? [:]
            var parts = textParts(reasoning: message["reasoning_content"], text: message["content"])
            for case let call as JSONObject in message["tool_calls"] as? [Any] ?? [] {
                let function = call["function"] as? JSONObject
                parts.append(
                    functionCallPart(name: function?["name"] as? String ?? "", arguments: function?["arguments"] as? String)
                )
            }
            candidates.append(
                candidate(
                    index: JSONValue.count(choice["index"]) ?? position, parts: parts,
                    finishReason: finishReason(choice["finish_reason"] as? String)
                ))
        }
        var response: JSONObject = ["candidates": candidates, "modelVersion": model]
        if let usage = usageMetadata(completion["usage"]) { response["usageMetadata"] = usage }
        if let id = completion["id"] as? String, !id.isEmpty { response["responseId"] = id }
        return response
    }

    // MARK: - Shared with the stream encoder

    /// A thought part for reasoning, then a text part, each only when non-empty.
    static func textParts(reasoning: Any?, text: Any?) -> [JSONObject] {
        var parts: [JSONObject] = []
        if let reasoning = reasoning as? String, !reasoning.isEmpty { parts.append(["text": reasoning, "thought": true]) }
        if let text = text as? String, !text.isEmpty { parts.append(["text": text]) }
        return parts
    }

    /// Arguments parsed as the call's `args`; anything unparseable becomes `{}` rather than failing the answer.
    static func functionCallPart(name: String, arguments: String?) -> JSONObject {
        ["functionCall": ["name": name, "args": arguments.flatMap { JSONValue.object(Array($0.utf8)) } ?? JSONObject()]]
    }

    /// A candidate; one without parts gets an empty text part, as Gemini sends it, so that SDKs read its text as ""
    /// rather than none.
    static func candidate(index: Int, parts: [JSONObject], finishReason: String?) -> JSONObject {
        var candidate: JSONObject = [
            "content": ["role": "model", "parts": parts.isEmpty ? [["text": ""]] : parts], "index": index,
        ]
        if let finishReason { candidate["finishReason"] = finishReason }
        return candidate
    }

    /// OpenAI finish reasons as Gemini's; Gemini reports tool calls with STOP.
    static func finishReason(_ reason: String?) -> String {
        switch reason {
        case "length": "MAX_TOKENS"
        case "content_filter": "SAFETY"
        case nil, "stop", "tool_calls", "function_call": "STOP"
        default: "OTHER"
        }
    }

    /// An OpenAI `usage` in Gemini's terms; nil when it has no believable counts. Reasoning tokens larger than the
    /// completion count (an upstream counting them apart) are not split off.
    static func usageMetadata(_ openAIUsage: Any?) -> JSONObject? {
        guard let tokens = TokenUsage(openAIUsage: openAIUsage) else { return nil }
        let usage = openAIUsage as? JSONObject
        let cached = JSONValue.count((usage?["prompt_tokens_details"] as? JSONObject)?["cached_tokens"]) ?? 0
        let reported = JSONValue.count((usage?["completion_tokens_details"] as? JSONObject)?["reasoning_tokens"]) ?? 0
        let reasoning = reported <= tokens.completionTokens ? reported : 0
        var metadata: JSONObject = [
            "promptTokenCount": tokens.promptTokens, "candidatesTokenCount": tokens.completionTokens - reasoning,
            "totalTokenCount": tokens.totalTokens,
        ]
        if cached > 0 { metadata["cachedContentTokenCount"] = cached }
        if reasoning > 0 { metadata["thoughtsTokenCount"] = reasoning }
        return metadata
    }
}
