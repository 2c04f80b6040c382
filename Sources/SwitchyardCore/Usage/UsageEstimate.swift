import Foundation
import NIOCore

/// Token estimates for answers whose upstream reported no usage: about four characters per token, the usual rule
/// of thumb for English text. Estimated counts are marked as such wherever they are shown.
public enum UsageEstimate {
    public static func tokens(characters: Int) -> Int {
        characters == 0 ? 0 : max(1, (characters + 3) / 4)
    }

    public static func usage(promptCharacters: Int, completionCharacters: Int) -> TokenUsage {
        TokenUsage(
            promptTokens: tokens(characters: promptCharacters),
            completionTokens: tokens(characters: completionCharacters),
            estimated: true
        )
    }

    /// Characters of text a request sends: message contents (text parts), `prompt` or `input`.
    public static func promptCharacters(_ request: ClientRequest) -> Int {
        guard let body = (try? JSONSerialization.jsonObject(with: Data(request.body.readableBytesView))) as? [String: Any]
        else { return 0 }
        switch request.endpoint {
        case .chatCompletions:
            return (body["messages"] as? [Any] ?? []).reduce(0) { total, message in
                total + textCharacters((message as? [String: Any])?["content"])
            }
        case .completions:
            return textCharacters(body["prompt"])
        case .embeddings:
            return textCharacters(body["input"])
        }
    }

    /// Characters of generated text in a non-stream answer: message contents, tool-call arguments, or `text`.
    public static func completionCharacters(inResponse body: ByteBuffer) -> Int {
        guard let response = JSONValue.object(body.readableBytesView) else { return 0 }
        return completionCharacters(inCompletion: response)
    }

    /// Characters of generated text in a decoded answer.
    public static func completionCharacters(inCompletion response: JSONObject) -> Int {
        (response["choices"] as? [Any] ?? []).reduce(0) { total, choice in
            guard let choice = choice as? [String: Any] else { return total }
            let message = choice["message"] as? [String: Any] ?? [:]
            let calls = (message["tool_calls"] as? [[String: Any]] ?? []).reduce(0) { sum, call in
                sum + textCharacters((call["function"] as? [String: Any])?["arguments"])
            }
            return total + textCharacters(message["content"]) + textCharacters(choice["text"]) + calls
        }
    }

    /// Characters in a string, a list of strings, or a list of `{"type":"text","text":…}` parts.
    static func textCharacters(_ value: Any?) -> Int {
        if let text = value as? String { return text.count }
        return (value as? [Any] ?? []).reduce(0) { total, item in
            if let text = item as? String { return total + text.count }
            if let part = item as? [String: Any], let text = part["text"] as? String { return total + text.count }
            return total
        }
    }
}
