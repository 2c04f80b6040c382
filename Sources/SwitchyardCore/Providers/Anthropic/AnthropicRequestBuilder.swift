import Foundation

/// Builds Anthropic Messages requests from OpenAI chat-completions requests.
///
/// Only what Anthropic understands is sent: OpenAI fields it has no counterpart for (`n`, `logprobs`,
/// `stream_options`, `response_format`, penalties, `seed` …) are left out rather than rejected by the upstream.
/// Messages whose content translates to nothing (an empty string, only empty text parts, an assistant turn with
/// neither text nor tool calls) are left out, since Anthropic rejects empty text; a request left with no
/// message at all is the client's mistake.
public enum AnthropicRequestBuilder {
    /// `max_tokens` sent when the client set neither `max_tokens` nor `max_completion_tokens`.
    public static let defaultMaxTokens = 4096

    /// Media types Anthropic accepts in base64 image sources.
    private static let imageMediaTypes: Set<String> = ["image/jpeg", "image/png", "image/gif", "image/webp"]

    /// One Anthropic message being assembled; consecutive OpenAI messages of the same Anthropic role go into one.
    private struct Turn {
        var role: String
        /// `tool_result` blocks, which must come first in the user turn after the assistant's tool calls.
        var toolResults: [JSONObject] = []
        var blocks: [JSONObject] = []

        var isEmpty: Bool { toolResults.isEmpty && blocks.isEmpty }
        var message: JSONObject { ["role": role, "content": toolResults + blocks] }
    }

    /// An OpenAI chat-completions request body → an Anthropic Messages request body, with `model` and `stream` set.
    public static func messagesBody(fromChat chat: JSONObject, model: String, stream: Bool) throws(GatewayError)
        -> JSONObject
    {
        guard let messages = chat["messages"], !(messages is NSNull) else { throw .missingParameter("messages") }
        guard let messages = messages as? [Any] else {
            throw .invalidRequest("'messages' must be an array.", param: "messages", code: "invalid_type")
        }
        var system: [JSONObject] = []
        var turns: [Turn] = []
        for (index, item) in messages.enumerated() {
            let path = "messages[\(index)]"
            guard let message = item as? JSONObject else {
                throw .invalidRequest("Each message must be an object.", param: path, code: "invalid_type")
            }
            guard let role = message["role"] as? String else {
                throw .invalidRequest(
                    "Each message needs a 'role' string.", param: path + ".role", code: "invalid_type")
            }
            let content = message["content"]
            let turn: Turn
            switch role {
            case "system", "developer":
                system += try contentBlocks(content, at: path + ".content", allowsMedia: false)
                continue
            case "user":
                turn = Turn(role: "user", blocks: try contentBlocks(content, at: path + ".content", allowsMedia: true))
            case "assistant":
                let text = try contentBlocks(content, at: path + ".content", allowsMedia: false)
                turn = Turn(
                    role: "assistant",
                    blocks: text + (try toolUseBlocks(message["tool_calls"], at: path + ".tool_calls")))
            case "tool":
                turn = Turn(role: "user", toolResults: [try toolResult(message, at: path)])
            default:
                throw .invalidRequest(
                    "Unknown role '\(GatewayError.clipped(role, to: 64))'; the roles are system, developer, user, "
                        + "assistant and tool.",
                    param: path + ".role", code: "invalid_value"
                )
            }
            if turn.isEmpty { continue }
            if let last = turns.indices.last, turns[last].role == turn.role {
                turns[last].toolResults += turn.toolResults
                turns[last].blocks += turn.blocks
            } else {
                turns.append(turn)
            }
        }
        trimPrefill(&turns)
        guard !turns.isEmpty else {
            throw .invalidRequest(
                "'messages' must hold at least one user or assistant message with content.", param: "messages",
                code: "invalid_value"
            )
        }

        var body: JSONObject = [
            "model": model, "stream": stream, "messages": turns.map(\.message), "max_tokens": try maxTokens(chat),
        ]
        if !system.isEmpty { body["system"] = system }
        let temperature = try unitInterval(chat["temperature"], name: "temperature")
        let topP = try unitInterval(chat["top_p"], name: "top_p")
        // Newer Claude models refuse `temperature` together with `top_p`; `temperature` is the usual knob.
        if let temperature { body["temperature"] = temperature } else if let topP { body["top_p"] = topP }
        if let topK = chat["top_k"], !(topK is NSNull) {
            guard let count = JSONValue.count(topK), count > 0 else {
                throw .invalidRequest("'top_k' must be a positive integer.", param: "top_k", code: "invalid_value")
            }
            body["top_k"] = count
        }
        let stop = try stopSequences(chat["stop"])
        if !stop.isEmpty { body["stop_sequences"] = stop }
        let tools = try tools(chat["tools"])
        if !tools.isEmpty {
            body["tools"] = tools
            if let choice = try toolChoice(chat) { body["tool_choice"] = choice }
        }
        if let user = chat["user"], !(user is NSNull) {
            guard let user = user as? String else {
                throw .invalidRequest("'user' must be a string.", param: "user", code: "invalid_type")
            }
            if !user.isEmpty { body["metadata"] = ["user_id": user] }
        }
        return body
    }

    /// Text, image and document blocks for one message's `content` (a string or an array of parts), without
    /// empty text. Images and documents only where Anthropic takes them (user turns and tool results).
    private static func contentBlocks(_ content: Any?, at path: String, allowsMedia: Bool) throws(GatewayError)
        -> [JSONObject]
    {
        guard let content, !(content is NSNull) else { return [] }
        if let text = content as? String { return text.isEmpty ? [] : [["type": "text", "text": text]] }
        guard let parts = content as? [Any] else {
            throw .invalidRequest("'content' must be a string or an array of parts.", param: path, code: "invalid_type")
        }
        var blocks: [JSONObject] = []
        for (index, item) in parts.enumerated() {
            let partPath = "\(path)[\(index)]"
            guard let part = item as? JSONObject, let type = part["type"] as? String else {
                throw .invalidRequest(
                    "Each content part must be an object with a 'type'.", param: partPath, code: "invalid_type")
            }
            var block: JSONObject
            switch type {
            case "text":
                guard let text = part["text"] as? String else {
                    throw .invalidRequest(
                        "A text part needs a 'text' string.", param: partPath + ".text", code: "invalid_type")
                }
                if text.isEmpty { continue }
                block = ["type": "text", "text": text]
            case "image_url" where allowsMedia:
                block = try mediaBlock(part["image_url"], at: partPath + ".image_url")
            default:
                throw .invalidRequest(
                    "Content parts of type '\(GatewayError.clipped(type, to: 64))' cannot be sent here to an "
                        + "Anthropic model.",
                    param: partPath + ".type", code: "invalid_value"
                )
            }
            if let cacheControl = part["cache_control"] as? JSONObject { block["cache_control"] = cacheControl }
            blocks.append(block)
        }
        return blocks
    }

    /// An `image_url` part → an image block, or a document block for a PDF; data URLs become base64 sources.
    private static func mediaBlock(_ imageURL: Any?, at path: String) throws(GatewayError) -> JSONObject {
        guard let url = (imageURL as? JSONObject)?["url"] as? String ?? imageURL as? String else {
            throw .invalidRequest(
                "An image_url part needs an 'image_url.url' string.", param: path + ".url", code: "invalid_type")
        }
        if url.hasPrefix("data:") {
            guard let dataURL = DataURL(url) else {
                throw .invalidRequest(
                    "A data URL must be base64 (data:<type>;base64,…).", param: path + ".url", code: "invalid_value")
            }
            let mediaType = dataURL.mediaType.lowercased()
            let kind: String
            if mediaType == "application/pdf" {
                kind = "document"
            } else if imageMediaTypes.contains(mediaType) {
                kind = "image"
            } else {
                throw .invalidRequest(
                    "Anthropic models take JPEG, PNG, GIF and WebP images and PDF documents, not "
                        + "'\(GatewayError.clipped(mediaType, to: 64))'.",
                    param: path + ".url", code: "invalid_value"
                )
            }
            let source: JSONObject = [
                "type": "base64", "media_type": mediaType, "data": dataURL.base64,
            ]
            return ["type": kind, "source": source]
        }
        let scheme = url.prefix { $0 != ":" }.lowercased()
        guard scheme == "https" || scheme == "http" else {
            throw .invalidRequest(
                "An image URL must be http(s) or a base64 data URL.", param: path + ".url", code: "invalid_value")
        }
        let isPDF = URL(string: url)?.path.lowercased().hasSuffix(".pdf") ?? false
        return ["type": isPDF ? "document" : "image", "source": ["type": "url", "url": url]]
    }

    /// An assistant message's `tool_calls` → `tool_use` blocks. Arguments that are not a JSON object (empty,
    /// cut off, invalid) become `{}`: the conversation stays valid and the model sees the call was malformed.
    private static func toolUseBlocks(_ toolCalls: Any?, at path: String) throws(GatewayError) -> [JSONObject] {
        guard let toolCalls, !(toolCalls is NSNull) else { return [] }
        guard let calls = toolCalls as? [Any] else {
            throw .invalidRequest("'tool_calls' must be an array.", param: path, code: "invalid_type")
        }
        var blocks: [JSONObject] = []
        for (index, item) in calls.enumerated() {
            let callPath = "\(path)[\(index)]"
            guard let call = item as? JSONObject, let function = call["function"] as? JSONObject else {
                throw .invalidRequest(
                    "A tool call needs a 'function' object.", param: callPath + ".function", code: "invalid_type")
            }
            guard let id = call["id"] as? String, !id.isEmpty else {
                throw .invalidRequest(
                    "A tool call needs an 'id' string.", param: callPath + ".id", code: "invalid_type")
            }
            guard let name = function["name"] as? String, !name.isEmpty else {
                throw .invalidRequest(
                    "A tool call needs a 'function.name' string.", param: callPath + ".function.name",
                    code: "invalid_type")
            }
            let arguments = function["arguments"]
            let input = arguments as? JSONObject ?? (arguments as? String).flatMap { JSONValue.object($0.utf8) } ?? [:]
            blocks.append(["type": "tool_use", "id": id, "name": name, "input": input])
        }
        return blocks
    }

    /// A `tool` message → a `tool_result` block answering the call it names.
    private static func toolResult(_ message: JSONObject, at path: String) throws(GatewayError) -> JSONObject {
        guard let id = message["tool_call_id"] as? String, !id.isEmpty else {
            throw .invalidRequest(
                "A tool message needs the 'tool_call_id' of the call it answers.", param: path + ".tool_call_id",
                code: "invalid_type"
            )
        }
        var result: JSONObject = ["type": "tool_result", "tool_use_id": id]
        if let text = message["content"] as? String {
            if !text.isEmpty { result["content"] = text }
        } else {
            let blocks = try contentBlocks(message["content"], at: path + ".content", allowsMedia: true)
            if !blocks.isEmpty { result["content"] = blocks }
        }
        return result
    }

    /// Anthropic rejects a final assistant turn (a prefill the answer continues) that ends in whitespace.
    private static func trimPrefill(_ turns: inout [Turn]) {
        guard let last = turns.indices.last, turns[last].role == "assistant",
            let block = turns[last].blocks.last, block["type"] as? String == "text", let text = block["text"] as? String
        else { return }
        if let end = text.lastIndex(where: { !$0.isWhitespace }) {
            turns[last].blocks[turns[last].blocks.count - 1]["text"] = String(text[...end])
        } else {
            turns[last].blocks.removeLast()
            if turns[last].isEmpty { turns.removeLast() }
        }
    }

    /// `max_completion_tokens`, else `max_tokens`, else the default: Anthropic requires a limit.
    private static func maxTokens(_ chat: JSONObject) throws(GatewayError) -> Int {
        for key in ["max_completion_tokens", "max_tokens"] {
            guard let value = chat[key], !(value is NSNull) else { continue }
            guard let count = JSONValue.count(value), count > 0 else {
                throw .invalidRequest("'\(key)' must be a positive integer.", param: key, code: "invalid_value")
            }
            return count
        }
        return defaultMaxTokens
    }

    /// A sampling parameter that Anthropic takes from 0 to 1 (OpenAI's `temperature` goes up to 2).
    private static func unitInterval(_ value: Any?, name: String) throws(GatewayError) -> NSNumber? {
        guard let value, !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, number.doubleValue >= 0, number.doubleValue <= 1 else {
            throw .invalidRequest(
                "'\(name)' must be a number from 0 to 1 for Anthropic models.", param: name, code: "invalid_value")
        }
        return number
    }

    /// `stop` (a string or an array of strings) → `stop_sequences`, without the empty or whitespace-only
    /// sequences Anthropic rejects.
    private static func stopSequences(_ stop: Any?) throws(GatewayError) -> [String] {
        guard let stop, !(stop is NSNull) else { return [] }
        guard let sequences = (stop as? String).map({ [$0] as [Any] }) ?? stop as? [Any] else {
            throw .invalidRequest(
                "'stop' must be a string or an array of strings.", param: "stop", code: "invalid_type")
        }
        var result: [String] = []
        for (index, item) in sequences.enumerated() {
            guard let sequence = item as? String else {
                throw .invalidRequest(
                    "'stop' must be a string or an array of strings.", param: "stop[\(index)]", code: "invalid_type")
            }
            if !sequence.allSatisfy(\.isWhitespace) { result.append(sequence) }
        }
        return result
    }

    /// OpenAI function tools → Anthropic tools (`name`, `description`, `input_schema`).
    private static func tools(_ tools: Any?) throws(GatewayError) -> [JSONObject] {
        guard let tools, !(tools is NSNull) else { return [] }
        guard let list = tools as? [Any] else {
            throw .invalidRequest("'tools' must be an array.", param: "tools", code: "invalid_type")
        }
        var converted: [JSONObject] = []
        for (index, item) in list.enumerated() {
            let path = "tools[\(index)]"
            guard let tool = item as? JSONObject, tool["type"] as? String ?? "function" == "function",
                let function = tool["function"] as? JSONObject
            else {
                throw .invalidRequest(
                    "Only function tools can be sent to Anthropic models.", param: path, code: "invalid_value")
            }
            guard let name = function["name"] as? String, !name.isEmpty else {
                throw .invalidRequest(
                    "A tool needs a 'function.name' string.", param: path + ".function.name", code: "invalid_type")
            }
            var schema: JSONObject = [:]
            if let parameters = function["parameters"], !(parameters is NSNull) {
                guard let parameters = parameters as? JSONObject else {
                    throw .invalidRequest(
                        "'function.parameters' must be a JSON Schema object.", param: path + ".function.parameters",
                        code: "invalid_type"
                    )
                }
                schema = parameters
            }
            // Anthropic requires an object schema; OpenAI lets a tool without parameters leave it out.
            if schema["type"] == nil { schema["type"] = "object" }
            var anthropicTool: JSONObject = ["name": name, "input_schema": schema]
            if let description = function["description"] as? String, !description.isEmpty {
                anthropicTool["description"] = description
            }
            if let cacheControl = tool["cache_control"] as? JSONObject { anthropicTool["cache_control"] = cacheControl }
            converted.append(anthropicTool)
        }
        return converted
    }

    /// `tool_choice` and `parallel_tool_calls` → Anthropic's `tool_choice` (nil for Anthropic's default).
    private static func toolChoice(_ chat: JSONObject) throws(GatewayError) -> JSONObject? {
        var choice: JSONObject?
        switch chat["tool_choice"] {
        case let mode as String:
            switch mode {
            case "auto": choice = ["type": "auto"]
            case "required": choice = ["type": "any"]
            case "none": choice = ["type": "none"]
            default:
                throw .invalidRequest(
                    "'tool_choice' must be auto, required, none or a named function.", param: "tool_choice",
                    code: "invalid_value")
            }
        case let named as JSONObject:
            guard let name = (named["function"] as? JSONObject)?["name"] as? String, !name.isEmpty else {
                throw .invalidRequest(
                    "A named 'tool_choice' needs 'function.name'.", param: "tool_choice.function.name",
                    code: "invalid_type")
            }
            choice = ["type": "tool", "name": name]
        case nil, is NSNull:
            choice = nil
        default:
            throw .invalidRequest(
                "'tool_choice' must be a string or an object.", param: "tool_choice", code: "invalid_type")
        }
        if JSONValue.bool(chat["parallel_tool_calls"]) == false, choice?["type"] as? String != "none" {
            choice = (choice ?? ["type": "auto"]).merging(["disable_parallel_tool_use": true]) { $1 }
        }
        return choice
    }
}
