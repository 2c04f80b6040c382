import Foundation

/// A Responses request's `input` as OpenAI chat messages (providers.md §5.4).
///
/// A string input is one user message. Of the items: `message`s keep their role, but `developer` becomes `system`
/// (what the Anthropic, Gemini and GigaChat request builders read); text-only user content becomes one string
/// (what every OpenAI-compatible server takes), texts joined with blank lines, and stays parts when it holds images;
/// system and assistant content is always one string (`refusal` parts count as text). Consecutive assistant
/// messages and `function_call`s become one assistant message (parallel tool calls). A `function_call_output` is a
/// `tool` message with its texts; the images it returned, which a tool message cannot carry, follow the run of tool
/// messages in one user message. `reasoning` items are dropped: they mean something only to the provider that made
/// them. Any other item type, `input_file` parts and images given by `file_id` are a 400 naming their path: only
/// a provider with the Responses API can take them.
enum ResponsesInputTranslator {
    static func messages(fromInput input: Any?) throws(GatewayError) -> [Any] {
        switch input {
        case nil, is NSNull: return []
        case let text as String: return [["role": "user", "content": text]]
        case let items as [Any]:
            var conversation = Conversation()
            for (index, item) in items.enumerated() { try conversation.add(item, path: "input[\(index)]") }
            conversation.finish()
            return conversation.messages
        default: throw ResponsesRequest.invalidType("input", expected: "a string or an array of input items")
        }
    }

    /// The messages made so far, with the assistant turn being read and the images of the latest tool outputs.
    private struct Conversation {
        private(set) var messages: [Any] = []
        private var assistant: (texts: [String], toolCalls: [Any])?
        private var toolImages: [JSONObject] = []

        mutating func add(_ value: Any, path: String) throws(GatewayError) {
            guard let item = value as? JSONObject else {
                throw ResponsesRequest.invalidType(path, expected: "an object")
            }
            switch try itemType(item, path: path) {
            case "message": try addMessage(item, path: path)
            case "function_call":
                flushToolImages()
                let call = try toolCall(item, path: path)
                assistant = (assistant?.texts ?? [], (assistant?.toolCalls ?? []) + [call])
            case "function_call_output":
                endAssistantTurn()
                let callID = try nonEmptyString(item["call_id"], path: "\(path).call_id")
                let output = try toolOutput(item["output"], path: "\(path).output")
                messages.append(["role": "tool", "tool_call_id": callID, "content": output.text])
                toolImages += output.images
            case "reasoning": return
            case let type:
                let what = "The input item type '\(GatewayError.clipped(type, to: 64))'"
                throw ResponsesRequest.responsesOnly(what, param: path)
            }
        }

        /// Ends the conversation: the pending assistant turn and tool images are written.
        mutating func finish() {
            endAssistantTurn()
            flushToolImages()
        }

        private mutating func addMessage(_ item: JSONObject, path: String) throws(GatewayError) {
            guard let role = item["role"] as? String else {
                throw ResponsesRequest.invalidType("\(path).role", expected: "a string")
            }
            let contentPath = "\(path).content"
            switch role {
            case "assistant":
                flushToolImages()
                let text = try joinedText(item["content"], path: contentPath)
                assistant = ((assistant?.texts ?? []) + [text], assistant?.toolCalls ?? [])
            case "system", "developer":
                finish()
                let text = try joinedText(item["content"], path: contentPath)
                messages.append(["role": "system", "content": text])
            case "user":
                finish()
                let parts = try parts(item["content"], path: contentPath, allowsImages: true)
                let texts = parts.compactMap { $0["text"] as? String }
                let content: Any = texts.count == parts.count ? joined(texts) : parts
                messages.append(["role": "user", "content": content])
            default:
                let expected = "expected 'user', 'assistant', 'system' or 'developer'"
                throw ResponsesRequest.invalidValue("\(path).role", expected)
            }
        }

        /// Writes the assistant message being built, if any; a turn of only tool calls has no `content`.
        private mutating func endAssistantTurn() {
            guard let turn = assistant else { return }
            assistant = nil
            var message: JSONObject = ["role": "assistant"]
            if !turn.texts.isEmpty || turn.toolCalls.isEmpty { message["content"] = joined(turn.texts) }
            if !turn.toolCalls.isEmpty { message["tool_calls"] = turn.toolCalls }
            messages.append(message)
        }

        private mutating func flushToolImages() {
            guard !toolImages.isEmpty else { return }
            messages.append(["role": "user", "content": toolImages])
            toolImages = []
        }

        /// The item's `type`; an item with a `role` but no `type` is a message (the SDK's EasyInputMessage).
        private func itemType(_ item: JSONObject, path: String) throws(GatewayError) -> String {
            if ResponsesRequest.isPresent(item["type"]) {
                guard let type = item["type"] as? String else {
                    throw ResponsesRequest.invalidType("\(path).type", expected: "a string")
                }
                return type
            }
            guard ResponsesRequest.isPresent(item["role"]) else {
                throw GatewayError.missingParameter("\(path).type")
            }
            return "message"
        }
    }

    private static func toolCall(_ item: JSONObject, path: String) throws(GatewayError) -> JSONObject {
        let callID = try nonEmptyString(item["call_id"], path: "\(path).call_id")
        let name = try nonEmptyString(item["name"], path: "\(path).name")
        guard let arguments = item["arguments"] as? String else {
            throw ResponsesRequest.invalidType("\(path).arguments", expected: "a string")
        }
        let chatName = ToolNamespaces.chatName(name, namespace: item["namespace"] as? String)
        return ["id": callID, "type": "function", "function": ["name": chatName, "arguments": arguments]]
    }

    /// A tool output's text (a string, or the texts of its parts) and the images among its parts.
    private static func toolOutput(
        _ value: Any?, path: String
    ) throws(GatewayError) -> (text: String, images: [JSONObject]) {
        let parts = try parts(value, path: path, allowsImages: true)
        let texts = parts.compactMap { $0["text"] as? String }
        return (joined(texts), parts.filter { $0["type"] as? String == "image_url" })
    }

    /// Content that chat takes as one string.
    private static func joinedText(_ value: Any?, path: String) throws(GatewayError) -> String {
        joined(try parts(value, path: path, allowsImages: false).compactMap { $0["text"] as? String })
    }

    /// Content (a string or a list of parts) as chat content parts.
    private static func parts(_ value: Any?, path: String, allowsImages: Bool) throws(GatewayError) -> [JSONObject] {
        if let text = value as? String { return [["type": "text", "text": text]] }
        guard let list = value as? [Any] else {
            throw ResponsesRequest.invalidType(path, expected: "a string or an array of parts")
        }
        var parts: [JSONObject] = []
        for (index, item) in list.enumerated() {
            let partPath = "\(path)[\(index)]"
            guard let part = item as? JSONObject, let type = part["type"] as? String else {
                throw ResponsesRequest.invalidType(partPath, expected: "an object with a string 'type'")
            }
            switch type {
            case "input_text", "output_text":
                guard let text = part["text"] as? String else {
                    throw ResponsesRequest.invalidType("\(partPath).text", expected: "a string")
                }
                parts.append(["type": "text", "text": text])
            case "refusal":
                guard let refusal = part["refusal"] as? String else {
                    throw ResponsesRequest.invalidType("\(partPath).refusal", expected: "a string")
                }
                parts.append(["type": "text", "text": refusal])
            case "input_image" where allowsImages:
                parts.append(try imagePart(part, path: partPath))
            case "input_image":
                let problem = "images can only be sent in user messages and tool outputs"
                throw ResponsesRequest.invalidValue(partPath, problem)
            case "input_file":
                throw ResponsesRequest.responsesOnly("A file part", param: partPath)
            default:
                let problem = "'\(GatewayError.clipped(type, to: 64))' is not a content part type"
                throw ResponsesRequest.invalidValue("\(partPath).type", problem)
            }
        }
        return parts
    }

    /// An `input_image` part by URL or data URL; one given by `file_id` refers to a file stored at OpenAI.
    private static func imagePart(_ part: JSONObject, path: String) throws(GatewayError) -> JSONObject {
        guard ResponsesRequest.isPresent(part["image_url"]) else {
            throw ResponsesRequest.responsesOnly("An image given by file_id", param: path)
        }
        guard let url = part["image_url"] as? String, !url.isEmpty else {
            throw ResponsesRequest.invalidType("\(path).image_url", expected: "a non-empty string")
        }
        var image: JSONObject = ["url": url]
        if let detail = part["detail"] as? String { image["detail"] = detail }
        return ["type": "image_url", "image_url": image]
    }

    private static func nonEmptyString(_ value: Any?, path: String) throws(GatewayError) -> String {
        guard let string = value as? String, !string.isEmpty else {
            throw ResponsesRequest.invalidType(path, expected: "a non-empty string")
        }
        return string
    }

    private static func joined(_ texts: [String]) -> String { texts.joined(separator: "\n\n") }
}
