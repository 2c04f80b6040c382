import Foundation

/// Turns GigaChat's v1 answers into the canonical OpenAI `chat.completion`.
public enum GigaChatAnswer {
    /// A GigaChat chat.completion → a canonical chat.completion (function_call → tool_calls, finish reasons mapped).
    public static func chatCompletion(fromResponse response: JSONObject) throws(GatewayError) -> JSONObject {
        guard let choices = response["choices"] as? [Any] else {
            throw GatewayError(
                status: 502, type: "api_error", code: "invalid_upstream_response",
                message: "GigaChat's answer has no 'choices' array."
            )
        }
        var canonicalChoices: [JSONObject] = []
        for (position, element) in choices.enumerated() {
            guard let choice = element as? JSONObject else {
                throw GatewayError(
                    status: 502, type: "api_error", code: "invalid_upstream_response",
                    message: "GigaChat's answer has a choice that is not an object."
                )
            }
            let message = choice["message"] as? JSONObject ?? [:]
            let content = message["content"] as? String ?? ""
            var canonical: JSONObject = ["role": "assistant", "content": content]
            var finishReason = finishReason(choice["finish_reason"] as? String ?? "stop")
            if let call = message["function_call"] as? JSONObject {
                canonical["tool_calls"] = [toolCall(call, stateID: message["functions_state_id"])]
                if content.isEmpty { canonical["content"] = NSNull() }
                finishReason = "tool_calls"
            }
            if let reasoning = message["reasoning_content"] as? String { canonical["reasoning_content"] = reasoning }
            canonicalChoices.append([
                "index": JSONValue.count(choice["index"]) ?? position, "message": canonical, "logprobs": NSNull(),
                "finish_reason": finishReason,
            ])
        }
        var answer: JSONObject = [
            // GigaChat's v1 answers carry no id; clients expect one.
            "id": response["id"] as? String ?? generatedID(prefix: "chatcmpl-"),
            "object": "chat.completion",
            "created": JSONValue.count(response["created"]) ?? 0,
            "model": response["model"] as? String ?? "",
            "choices": canonicalChoices,
        ]
        if let usage = usageObject(response["usage"]) { answer["usage"] = usage }
        return answer
    }

    /// GigaChat usage → TokenUsage (precached_prompt_tokens treated as part of prompt_tokens, i.e. cached_tokens).
    public static func usage(_ usage: Any?) -> TokenUsage? {
        TokenUsage(openAIUsage: usage)
    }

    /// The canonical `usage` object: the counts, and `prompt_tokens_details.cached_tokens` from
    /// `precached_prompt_tokens` (read as a part of `prompt_tokens`, as Sber's own gpt2giga proxy does).
    static func usageObject(_ usage: Any?) -> JSONObject? {
        guard let tokens = Self.usage(usage) else { return nil }
        var object = tokens.jsonObject
        if let cached = JSONValue.count((usage as? JSONObject)?["precached_prompt_tokens"]) {
            object["prompt_tokens_details"] = ["cached_tokens": cached]
        }
        return object
    }

    /// A GigaChat `function_call` (arguments as an object) as a canonical tool call (arguments as a JSON string).
    static func toolCall(_ call: JSONObject, stateID: Any?) -> JSONObject {
        let arguments: String
        switch call["arguments"] {
        case let text as String: arguments = text
        case let object as JSONObject: arguments = String(decoding: JSONValue.encode(object), as: UTF8.self)
        default: arguments = "{}"
        }
        let id = (stateID as? String).flatMap { $0.isEmpty ? nil : $0 } ?? generatedID(prefix: "call_")
        let name = GigaChatRequestBuilder.clientFunctionName(call["name"] as? String ?? "")
        return ["id": id, "type": "function", "function": ["name": name, "arguments": arguments]]
    }

    /// GigaChat's finish reason as one of OpenAI's: `blacklist` (a topic GigaChat refuses) is a content filter.
    static func finishReason(_ reason: String) -> String {
        switch reason {
        case "stop", "length": reason
        case "function_call": "tool_calls"
        case "blacklist": "content_filter"
        default: "stop"
        }
    }

    static func generatedID(prefix: String) -> String {
        prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }
}
