import Foundation

/// Canonical OpenAI answers as Responses `response` objects, for `/v1/responses` clients served by a
/// chat-completions provider.
public enum ResponsesAnswerEncoder {
    /// A canonical chat.completion as a Responses `response` object (status completed/incomplete).
    ///
    /// Output items in order: a `reasoning` item from `reasoning_content`, a `message` item (an `output_text` part
    /// and/or a `refusal` part), one `function_call` item per tool call (`call_id` = the chat tool-call id). A
    /// completion without usage gets zero counts: nothing here knows the prompt's size.
    public static func response(fromChatCompletion completion: JSONObject, envelope: ResponseEnvelope) -> JSONObject {
        let choices = (completion["choices"] as? [Any] ?? []).compactMap { $0 as? JSONObject }
        let choice = choices.first { JSONValue.count($0["index"]) == 0 } ?? choices.first
        let message = choice?["message"] as? JSONObject ?? [:]

        var output: [Any] = []
        if let reasoning = nonEmpty(message["reasoning_content"]) {
            output.append(reasoningItem(id: ResponseEnvelope.makeID(prefix: "rs"), summary: [summaryText(reasoning)]))
        }
        var content: [Any] = []
        if let text = nonEmpty(message["content"]) { content.append(outputText(text)) }
        if let refusal = nonEmpty(message["refusal"]) { content.append(refusalPart(refusal)) }
        if !content.isEmpty {
            output.append(
                messageItem(id: ResponseEnvelope.makeID(prefix: "msg"), content: content, status: "completed"))
        }
        for case let call as JSONObject in message["tool_calls"] as? [Any] ?? [] {
            let function = call["function"] as? JSONObject
            output.append(
                functionCallItem(
                    callID: call["id"], name: function?["name"], arguments: function?["arguments"] as? String ?? "",
                    status: "completed", namespaces: ToolNamespaces(tools: envelope.echo["tools"])
                ))
        }
        let outcome = outcome(finishReason: choice?["finish_reason"] as? String)
        return envelope.response(
            status: outcome.status, output: output,
            usage: usage(fromChat: completion["usage"]) ?? usage(input: 0, output: 0),
            incompleteReason: outcome.incompleteReason
        )
    }

    /// A response's status for a chat finish reason: cut off by length or by the content filter is incomplete.
    static func outcome(finishReason: String?) -> (status: String, incompleteReason: String?) {
        switch finishReason {
        case "length": ("incomplete", "max_output_tokens")
        case "content_filter": ("incomplete", "content_filter")
        default: ("completed", nil)
        }
    }

    /// A chat `usage` in Responses terms; nil when it has no believable counts.
    static func usage(fromChat usage: Any?) -> JSONObject? {
        guard let tokens = TokenUsage(openAIUsage: usage) else { return nil }
        let promptDetails = (usage as? JSONObject)?["prompt_tokens_details"] as? JSONObject
        let completionDetails = (usage as? JSONObject)?["completion_tokens_details"] as? JSONObject
        return self.usage(
            input: tokens.promptTokens, output: tokens.completionTokens, total: tokens.totalTokens,
            cached: JSONValue.count(promptDetails?["cached_tokens"]) ?? 0,
            cacheWrite: JSONValue.count(promptDetails?["cache_write_tokens"]) ?? 0,
            reasoning: JSONValue.count(completionDetails?["reasoning_tokens"]) ?? 0
        )
    }

    /// A Responses `usage` object; the SDK requires every detail field.
    static func usage(
        input: Int, output: Int, total: Int? = nil, cached: Int = 0, cacheWrite: Int = 0, reasoning: Int = 0
    ) -> JSONObject {
        [
            "input_tokens": input, "input_tokens_details": ["cached_tokens": cached, "cache_write_tokens": cacheWrite],
            "output_tokens": output, "output_tokens_details": ["reasoning_tokens": reasoning],
            "total_tokens": total ?? input + output,
        ]
    }

    static func messageItem(id: String, content: [Any], status: String) -> JSONObject {
        ["type": "message", "id": id, "status": status, "role": "assistant", "content": content]
    }

    /// A function call item (with its namespace, for a function of one); a tool call without an id gets one, since
    /// clients answer it by `call_id`.
    static func functionCallItem(
        callID: Any?, name: Any?, arguments: String, status: String, namespaces: ToolNamespaces
    ) -> JSONObject {
        let call = namespaces.call(named: name as? String ?? "")
        var item: JSONObject = [
            "type": "function_call", "id": ResponseEnvelope.makeID(prefix: "fc"),
            "call_id": nonEmpty(callID) ?? ResponseEnvelope.makeID(prefix: "call"), "name": call.name,
            "arguments": arguments, "status": status,
        ]
        if let namespace = call.namespace { item["namespace"] = namespace }
        return item
    }

    static func reasoningItem(id: String, summary: [Any]) -> JSONObject {
        ["type": "reasoning", "id": id, "summary": summary]
    }

    static func outputText(_ text: String) -> JSONObject {
        ["type": "output_text", "text": text, "annotations": [Any]()]
    }

    static func refusalPart(_ refusal: String) -> JSONObject {
        ["type": "refusal", "refusal": refusal]
    }

    static func summaryText(_ text: String) -> JSONObject {
        ["type": "summary_text", "text": text]
    }

    static func nonEmpty(_ value: Any?) -> String? {
        guard let text = value as? String, !text.isEmpty else { return nil }
        return text
    }
}
