import Foundation

/// Turns an OpenAI chat-completions request into a body for GigaChat's v1 `/api/v1/chat/completions`: string-only
/// content, a system message only first, the legacy `functions`/`function_call` pair instead of tools, and one
/// function call per assistant turn with its arguments as an object.
public enum GigaChatRequestBuilder {
    /// An OpenAI chat-completions body → a GigaChat /api/v1/chat/completions body with `model` and `stream` set.
    public static func chatBody(fromChat chat: JSONObject, model: String, stream: Bool) throws(GatewayError) -> JSONObject {
        guard let messages = chat["messages"], !(messages is NSNull) else { throw GatewayError.missingParameter("messages") }
        guard let messageList = messages as? [Any], !messageList.isEmpty else {
            throw GatewayError.invalidRequest("'messages' must be a non-empty array.", param: "messages")
        }
        var body: JSONObject = ["model": model, "stream": stream, "messages": try gigaChatMessages(messageList)]
        let functions = try functions(fromTools: chat["tools"])
        let functionCall = try functionCall(fromToolChoice: chat["tool_choice"])
        if !functions.isEmpty {
            body["functions"] = functions
            if let functionCall { body["function_call"] = functionCall }
        }
        for key in ["temperature", "top_p"] {
            if let value = try nonNegativeNumber(chat[key], param: key) { body[key] = value }
        }
        // Newer OpenAI clients send only `max_completion_tokens`; it means what GigaChat's `max_tokens` does.
        let maxCompletionTokens = try positiveInteger(chat["max_completion_tokens"], param: "max_completion_tokens")
        if let maxTokens = try positiveInteger(chat["max_tokens"], param: "max_tokens") ?? maxCompletionTokens {
            body["max_tokens"] = maxTokens
        }
        if let choiceCount = try positiveInteger(chat["n"], param: "n") { body["n"] = choiceCount }
        return body
    }

    /// GigaChat has a built-in function called `web_search`; a client function of that name travels under this one
    /// (and is renamed back in answers) so that the two never clash.
    static let webSearchStandIn = "__switchyard_user_web_search"

    static func upstreamFunctionName(_ name: String) -> String {
        name == "web_search" ? webSearchStandIn : name
    }

    static func clientFunctionName(_ name: String) -> String {
        name == webSearchStandIn ? "web_search" : name
    }

    private static func gigaChatMessages(_ messages: [Any]) throws(GatewayError) -> [JSONObject] {
        var output: [JSONObject] = []
        var lastIsPlainText = false
        var toolNames: [String: String] = [:]
        var droppedCallIDs: Set<String> = []
        /// Adds a message; plain-text messages of the same role as the plain-text message before are merged into it.
        func append(_ message: JSONObject, plainText: Bool) {
            if plainText, lastIsPlainText, var last = output.last, last["role"] as? String == message["role"] as? String {
                let earlier = last["content"] as? String ?? ""
                let later = message["content"] as? String ?? ""
                last["content"] = earlier.isEmpty ? later : later.isEmpty ? earlier : earlier + "\n" + later
                output[output.count - 1] = last
            } else {
                output.append(message)
            }
            lastIsPlainText = plainText
        }
        for (index, element) in messages.enumerated() {
            let path = "messages[\(index)]"
            guard let message = element as? JSONObject else {
                throw GatewayError.invalidRequest("Each message must be an object.", param: path)
            }
            guard let role = message["role"] as? String else {
                throw GatewayError.invalidRequest("Each message must have a string 'role'.", param: "\(path).role")
            }
            switch role {
            case "system", "developer", "user":
                let content = try text(of: message["content"], path: "\(path).content")
                // GigaChat takes a system message only first; later ones are sent as the user's words.
                let isSystem = role != "user" && output.allSatisfy { $0["role"] as? String == "system" }
                append(["role": isSystem ? "system" : "user", "content": content], plainText: true)
            case "assistant":
                let content = try text(of: message["content"], path: "\(path).content")
                let calls = try toolCalls(of: message, path: path)
                guard let first = calls.first else {
                    append(["role": "assistant", "content": content], plainText: true)
                    continue
                }
                // GigaChat takes one function call per assistant turn: the first is kept, and the results of the
                // others are left out below so that every result sent answers the call before it.
                for call in calls { toolNames[call.id] = call.name }
                for call in calls.dropFirst() { droppedCallIDs.insert(call.id) }
                append(
                    [
                        "role": "assistant", "content": content,
                        "function_call": ["name": upstreamFunctionName(first.name), "arguments": first.arguments],
                        "functions_state_id": first.id,
                    ],
                    plainText: false
                )
            case "tool", "function":
                let callID = message["tool_call_id"] as? String
                if let callID, droppedCallIDs.contains(callID) { continue }
                guard let name = callID.flatMap({ toolNames[$0] }) ?? (message["name"] as? String), !name.isEmpty else {
                    throw GatewayError.invalidRequest(
                        "A tool message must answer an earlier tool call (by 'tool_call_id') or carry the function's 'name'.",
                        param: "\(path).tool_call_id"
                    )
                }
                let content = try text(of: message["content"], path: "\(path).content")
                append(
                    ["role": "function", "name": upstreamFunctionName(name), "content": functionResult(content)],
                    plainText: false
                )
            default:
                throw GatewayError.invalidRequest(
                    "Unsupported message role '\(GatewayError.clipped(role))'.", param: "\(path).role"
                )
            }
        }
        return output
    }

    /// A message's content as GigaChat's string: text parts joined with newlines.
    private static func text(of content: Any?, path: String) throws(GatewayError) -> String {
        guard let content, !(content is NSNull) else { return "" }
        if let string = content as? String { return string }
        guard let parts = content as? [Any] else {
            throw GatewayError.invalidRequest("Message content must be a string or an array of content parts.", param: path)
        }
        var texts: [String] = []
        for (index, element) in parts.enumerated() {
            let partPath = "\(path)[\(index)]"
            guard let part = element as? JSONObject, let type = part["type"] as? String else {
                throw GatewayError.invalidRequest("Each content part must be an object with a string 'type'.", param: partPath)
            }
            switch type {
            case "text":
                guard let text = part["text"] as? String else {
                    throw GatewayError.invalidRequest("A text content part must have a string 'text'.", param: "\(partPath).text")
                }
                texts.append(text)
            case "image_url":
                throw GatewayError.invalidRequest(
                    "GigaChat's v1 API takes images only as uploaded files, which this gateway does not do; send text only.",
                    param: partPath, code: "unsupported_content"
                )
            default:
                throw GatewayError.invalidRequest(
                    "Content parts of type '\(GatewayError.clipped(type))' are not supported by GigaChat; only text is.",
                    param: partPath, code: "unsupported_content"
                )
            }
        }
        return texts.joined(separator: "\n")
    }

    private struct ToolCall {
        var id: String
        var name: String
        var arguments: JSONObject
    }

    private static func toolCalls(of message: JSONObject, path: String) throws(GatewayError) -> [ToolCall] {
        guard let value = message["tool_calls"], !(value is NSNull) else { return [] }
        guard let list = value as? [Any] else {
            throw GatewayError.invalidRequest("'tool_calls' must be an array.", param: "\(path).tool_calls")
        }
        var calls: [ToolCall] = []
        for (index, element) in list.enumerated() {
            let callPath = "\(path).tool_calls[\(index)]"
            guard let call = element as? JSONObject, let id = call["id"] as? String, !id.isEmpty else {
                throw GatewayError.invalidRequest("Each tool call must be an object with a non-empty string 'id'.", param: callPath)
            }
            guard let function = call["function"] as? JSONObject, let name = function["name"] as? String, !name.isEmpty else {
                throw GatewayError.invalidRequest("Each tool call must name its function.", param: "\(callPath).function.name")
            }
            let arguments: JSONObject
            switch function["arguments"] {
            case nil, is NSNull:
                arguments = [:]
            case let text as String:
                // The arguments were written by a model; ones that are not a JSON object must not make the whole
                // conversation unsendable.
                arguments = JSONValue.object(text.utf8) ?? [:]
            default:
                throw GatewayError.invalidRequest(
                    "Tool call arguments must be a string.", param: "\(callPath).function.arguments"
                )
            }
            calls.append(ToolCall(id: id, name: name, arguments: arguments))
        }
        return calls
    }

    /// GigaChat wants a function's result as a JSON object in a string: an object passes, a double-encoded object
    /// is unwrapped, anything else becomes `{"result": …}`.
    private static func functionResult(_ text: String) -> String {
        switch try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) {
        case is JSONObject:
            return text
        case let inner as String:
            return JSONValue.object(inner.utf8) != nil ? inner : String(decoding: JSONValue.encode(["result": inner]), as: UTF8.self)
        case let value?:
            return String(decoding: JSONValue.encode(["result": value]), as: UTF8.self)
        case nil:
            return String(decoding: JSONValue.encode(["result": text]), as: UTF8.self)
        }
    }

    private static func functions(fromTools tools: Any?) throws(GatewayError) -> [JSONObject] {
        guard let tools, !(tools is NSNull) else { return [] }
        guard let list = tools as? [Any] else { throw GatewayError.invalidRequest("'tools' must be an array.", param: "tools") }
        var functions: [JSONObject] = []
        for (index, element) in list.enumerated() {
            let path = "tools[\(index)]"
            guard let tool = element as? JSONObject, tool["type"] as? String == "function" else {
                throw GatewayError.invalidRequest("GigaChat takes only tools of type 'function'.", param: "\(path).type")
            }
            guard let function = tool["function"] as? JSONObject, let name = function["name"] as? String, !name.isEmpty else {
                throw GatewayError.invalidRequest("Each tool must name its function.", param: "\(path).function.name")
            }
            var entry: JSONObject = ["name": upstreamFunctionName(name)]
            switch function["description"] {
            case nil, is NSNull: break
            case let description as String: entry["description"] = description
            default:
                throw GatewayError.invalidRequest("A function's 'description' must be a string.", param: "\(path).function.description")
            }
            switch function["parameters"] {
            case nil, is NSNull: break
            case let parameters as JSONObject: entry["parameters"] = parameters
            default:
                throw GatewayError.invalidRequest("A function's 'parameters' must be a JSON Schema object.", param: "\(path).function.parameters")
            }
            functions.append(entry)
        }
        return functions
    }

    /// `tool_choice` as GigaChat's `function_call`; nil for "required", which GigaChat cannot express.
    private static func functionCall(fromToolChoice choice: Any?) throws(GatewayError) -> Any? {
        switch choice {
        case nil, is NSNull:
            return nil
        case let mode as String where mode == "auto" || mode == "none":
            return mode
        case let mode as String where mode == "required":
            return nil
        case let named as JSONObject:
            guard named["type"] as? String == "function", let function = named["function"] as? JSONObject,
                let name = function["name"] as? String, !name.isEmpty
            else {
                throw GatewayError.invalidRequest(
                    "A named 'tool_choice' must be {\"type\":\"function\",\"function\":{\"name\":…}}.", param: "tool_choice"
                )
            }
            return ["name": upstreamFunctionName(name)]
        default:
            throw GatewayError.invalidRequest(
                "'tool_choice' must be \"auto\", \"none\", \"required\" or a named function.", param: "tool_choice"
            )
        }
    }

    private static func nonNegativeNumber(_ value: Any?, param: String) throws(GatewayError) -> NSNumber? {
        guard let value, !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, !JSONValue.isBoolean(number), number.doubleValue.isFinite, number.doubleValue >= 0 else {
            throw GatewayError.invalidRequest("'\(param)' must be a non-negative number.", param: param)
        }
        return number
    }

    private static func positiveInteger(_ value: Any?, param: String) throws(GatewayError) -> Int? {
        guard let value, !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, !JSONValue.isBoolean(number), number.doubleValue >= 1,
            number.doubleValue <= Double(TokenUsage.maximumCount), number.doubleValue.rounded() == number.doubleValue
        else {
            throw GatewayError.invalidRequest("'\(param)' must be a positive integer.", param: param)
        }
        return number.intValue
    }
}
