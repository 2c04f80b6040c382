import Foundation

/// OpenAI chat-completions requests rewritten for Gemini's `generateContent` (providers.md §2.6).
public enum GeminiRequestBuilder {
    /// An OpenAI chat-completions body → a Gemini GenerateContentRequest body (camelCase keys; the model and stream
    /// mode go in the URL, not the body).
    ///
    /// A tool result becomes `functionResponse.response = {"output": <its text>}`, never the text parsed as an
    /// object: the model sees exactly what the tool returned, and a result that happens to hold an `error` key is
    /// not taken for a failed call. The first function call of each assistant message carries Gemini's documented
    /// placeholder thought signature, since the client cannot send back the real one and Gemini 3 rejects a
    /// function-call turn without it (§7 pitfall 6). `tool_choice` is dropped when there are no tools.
    public static func generateContentBody(fromChat chat: JSONObject) throws(GatewayError) -> JSONObject {
        guard let messages = chat["messages"] as? [Any] else {
            throw .invalidRequest("'messages' must be an array.", param: "messages", code: "invalid_type")
        }
        var conversation = Conversation()
        for (index, message) in messages.enumerated() {
            try conversation.add(message, path: "messages[\(index)]")
        }
        guard !conversation.turns.isEmpty else {
            throw .invalidRequest("The request has no user or assistant message with content.", param: "messages")
        }
        var body: JSONObject = ["contents": conversation.turns.map { ["role": $0.role, "parts": $0.parts] }]
        if !conversation.systemParts.isEmpty {
            body["systemInstruction"] = ["parts": conversation.systemParts]
        }
        let generationConfig = try generationConfig(chat)
        if !generationConfig.isEmpty { body["generationConfig"] = generationConfig }
        let declarations = try functionDeclarations(chat["tools"])
        let callingConfig = try functionCallingConfig(chat["tool_choice"], declarations: declarations)
        if !declarations.isEmpty {
            // One tool holding every declaration: some Gemini models reject several function tools.
            body["tools"] = [["functionDeclarations": declarations]]
            if let callingConfig { body["toolConfig"] = ["functionCallingConfig": callingConfig] }
        }
        return body
    }

    /// Gemini's placeholder for a function call whose thought signature is unknown.
    private static let placeholderThoughtSignature = "skip_thought_signature_validator"


    // MARK: - generationConfig

    private static func generationConfig(_ chat: JSONObject) throws(GatewayError) -> JSONObject {
        var config: JSONObject = [:]
        let decimals: [(key: String, target: String, range: ClosedRange<Double>)] = [
            ("temperature", "temperature", 0...2),
            ("top_p", "topP", 0...1),
            ("presence_penalty", "presencePenalty", -2...2),
            ("frequency_penalty", "frequencyPenalty", -2...2),
        ]
        for (key, target, range) in decimals {
            if let value = try decimal(chat, key, in: range) { config[target] = value }
        }
        let int32Range = Int(Int32.min)...Int(Int32.max)
        if let topK = try wholeNumber(chat, "top_k", in: 1...int32Range.upperBound) { config["topK"] = topK }
        if let seed = try wholeNumber(chat, "seed", in: int32Range) { config["seed"] = seed }
        if let candidates = try wholeNumber(chat, "n", in: 1...8) { config["candidateCount"] = candidates }
        let maxTokensKey = isPresent(chat["max_completion_tokens"]) ? "max_completion_tokens" : "max_tokens"
        if let maxTokens = try wholeNumber(chat, maxTokensKey, in: 1...int32Range.upperBound) {
            config["maxOutputTokens"] = maxTokens
        }
        if let stop = try stopSequences(chat["stop"]) { config["stopSequences"] = stop }
        try addResponseFormat(chat["response_format"], to: &config)
        return config
    }

    private static func decimal(
        _ chat: JSONObject, _ key: String, in range: ClosedRange<Double>
    ) throws(GatewayError) -> NSNumber? {
        guard isPresent(chat[key]) else { return nil }
        guard let value = JSONValue.number(chat[key]), range.contains(value.doubleValue) else {
            throw .invalidRequest(
                "'\(key)' must be a number from \(Int(range.lowerBound)) to \(Int(range.upperBound)).", param: key,
                code: "invalid_value"
            )
        }
        return value
    }

    private static func wholeNumber(
        _ chat: JSONObject, _ key: String, in range: ClosedRange<Int>
    ) throws(GatewayError) -> Int? {
        guard isPresent(chat[key]) else { return nil }
        let double = JSONValue.number(chat[key])?.doubleValue ?? .nan
        guard double.rounded() == double, double >= Double(range.lowerBound), double <= Double(range.upperBound) else {
            throw .invalidRequest(
                "'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound).", param: key,
                code: "invalid_value"
            )
        }
        return Int(double)
    }

    private static func stopSequences(_ value: Any?) throws(GatewayError) -> [String]? {
        guard isPresent(value) else { return nil }
        let sequences: [String]
        if let single = value as? String {
            sequences = [single]
        } else if let list = value as? [Any], list.count <= 5, let strings = list as? [String] {
            sequences = strings
        } else {
            throw .invalidRequest(
                "'stop' must be a string or an array of at most 5 strings.", param: "stop", code: "invalid_value"
            )
        }
        let nonEmpty = sequences.filter { !$0.isEmpty }
        return nonEmpty.isEmpty ? nil : nonEmpty
    }

    private static func addResponseFormat(_ value: Any?, to config: inout JSONObject) throws(GatewayError) {
        guard isPresent(value) else { return }
        guard let format = value as? JSONObject, let type = format["type"] as? String else {
            throw .invalidRequest(
                "'response_format' must be an object with a string 'type'.", param: "response_format", code: "invalid_type"
            )
        }
        switch type {
        case "text":
            return
        case "json_object":
            config["responseMimeType"] = "application/json"
        case "json_schema":
            config["responseMimeType"] = "application/json"
            if let schema = (format["json_schema"] as? JSONObject)?["schema"] as? JSONObject {
                config["responseSchema"] = GeminiSchema.cleaned(schema)
            }
        default:
            throw .invalidRequest(
                "'response_format.type' must be 'text', 'json_object' or 'json_schema'.", param: "response_format.type",
                code: "invalid_value"
            )
        }
    }

    // MARK: - Tools

    private static func functionDeclarations(_ value: Any?) throws(GatewayError) -> [JSONObject] {
        guard isPresent(value) else { return [] }
        guard let tools = value as? [Any] else {
            throw .invalidRequest("'tools' must be an array.", param: "tools", code: "invalid_type")
        }
        var declarations: [JSONObject] = []
        for (index, value) in tools.enumerated() {
            let path = "tools[\(index)]"
            guard let tool = value as? JSONObject else {
                throw .invalidRequest("'\(path)' must be an object.", param: path, code: "invalid_type")
            }
            guard tool["type"] as? String ?? "function" == "function" else {
                throw .invalidRequest(
                    "'\(path).type' must be 'function': only function tools can be sent to Gemini.", param: "\(path).type",
                    code: "invalid_value"
                )
            }
            guard let function = tool["function"] as? JSONObject, let name = function["name"] as? String, !name.isEmpty else {
                throw .invalidRequest("'\(path).function.name' must be a non-empty string.", param: "\(path).function.name")
            }
            var declaration: JSONObject = ["name": name]
            if let description = function["description"] as? String, !description.isEmpty {
                declaration["description"] = description
            }
            if isPresent(function["parameters"]) {
                guard let parameters = function["parameters"] as? JSONObject else {
                    throw .invalidRequest(
                        "'\(path).function.parameters' must be a JSON Schema object.", param: "\(path).function.parameters",
                        code: "invalid_type"
                    )
                }
                declaration["parameters"] = GeminiSchema.cleaned(parameters)
            }
            declarations.append(declaration)
        }
        return declarations
    }

    private static func functionCallingConfig(
        _ value: Any?, declarations: [JSONObject]
    ) throws(GatewayError) -> JSONObject? {
        guard isPresent(value) else { return nil }
        switch value {
        case let mode as String:
            let modes = ["auto": "AUTO", "none": "NONE", "required": "ANY"]
            guard let geminiMode = modes[mode] else {
                throw .invalidRequest(
                    "'tool_choice' must be 'auto', 'none', 'required' or a named function.", param: "tool_choice",
                    code: "invalid_value"
                )
            }
            return ["mode": geminiMode]
        case let choice as JSONObject:
            guard let function = choice["function"] as? JSONObject, let name = function["name"] as? String else {
                throw .invalidRequest(
                    "'tool_choice.function.name' must name one of the tools.", param: "tool_choice.function.name"
                )
            }
            guard declarations.contains(where: { $0["name"] as? String == name }) else {
                throw .invalidRequest(
                    "'tool_choice' names the function '\(GatewayError.clipped(name))', which is not among the tools.",
                    param: "tool_choice.function.name", code: "invalid_value"
                )
            }
            return ["mode": "ANY", "allowedFunctionNames": [name]]
        default:
            throw .invalidRequest(
                "'tool_choice' must be a string or an object.", param: "tool_choice", code: "invalid_type"
            )
        }
    }

    private static func isPresent(_ value: Any?) -> Bool {
        value != nil && !(value is NSNull)
    }

    // MARK: - Messages

    /// The messages read so far: system text, and user/model turns that alternate.
    private struct Conversation {
        var systemParts: [JSONObject] = []
        var turns: [(role: String, parts: [JSONObject])] = []
        /// Function names of the tool calls made so far, by tool-call id, for the tool results that follow.
        var functionNames: [String: String] = [:]

        mutating func add(_ value: Any, path: String) throws(GatewayError) {
            guard let message = value as? JSONObject else {
                throw .invalidRequest("'\(path)' must be an object.", param: path, code: "invalid_type")
            }
            guard let role = message["role"] as? String else {
                throw .invalidRequest("'\(path).role' must be a string.", param: "\(path).role", code: "invalid_type")
            }
            let content = message["content"]
            switch role {
            case "system", "developer":
                systemParts += try Self.parts(content, path: "\(path).content", role: role, media: false)
            case "user":
                append("user", try Self.parts(content, path: "\(path).content", role: role, media: true))
            case "assistant":
                var parts = try Self.parts(content, path: "\(path).content", role: role, media: false)
                parts += try functionCalls(message["tool_calls"], path: "\(path).tool_calls")
                append("model", parts)
            case "tool":
                append("user", [try functionResponse(message, path: path)])
            default:
                throw .invalidRequest(
                    "'\(path).role' must be 'system', 'developer', 'user', 'assistant' or 'tool', not "
                        + "'\(GatewayError.clipped(role))'.",
                    param: "\(path).role", code: "invalid_value"
                )
            }
        }

        /// Adds parts to the conversation, into the last turn when it has the same role (Gemini wants turns to
        /// alternate, and all results of one model turn in the next content).
        private mutating func append(_ role: String, _ parts: [JSONObject]) {
            guard !parts.isEmpty else { return }
            if let last = turns.indices.last, turns[last].role == role {
                turns[last].parts += parts
            } else {
                turns.append((role, parts))
            }
        }

        private mutating func functionCalls(_ value: Any?, path: String) throws(GatewayError) -> [JSONObject] {
            guard isPresent(value) else { return [] }
            guard let calls = value as? [Any] else {
                throw .invalidRequest("'\(path)' must be an array.", param: path, code: "invalid_type")
            }
            var parts: [JSONObject] = []
            for (index, value) in calls.enumerated() {
                let callPath = "\(path)[\(index)]"
                guard let call = value as? JSONObject, call["type"] as? String ?? "function" == "function",
                    let function = call["function"] as? JSONObject
                else {
                    throw .invalidRequest("'\(callPath)' must be a function tool call.", param: callPath)
                }
                guard let name = function["name"] as? String, !name.isEmpty else {
                    throw .invalidRequest(
                        "'\(callPath).function.name' must be a non-empty string.", param: "\(callPath).function.name"
                    )
                }
                if let id = call["id"] as? String { functionNames[id] = name }
                var part: JSONObject = ["functionCall": ["name": name, "args": Self.arguments(function["arguments"])]]
                if parts.isEmpty { part["thoughtSignature"] = placeholderThoughtSignature }
                parts.append(part)
            }
            return parts
        }

        /// Arguments as an object: the JSON text parsed, `{}` when it is not an object (a model's broken
        /// arguments must not make the whole conversation unusable).
        private static func arguments(_ value: Any?) -> JSONObject {
            if let object = value as? JSONObject { return object }
            guard let text = value as? String else { return [:] }
            return JSONValue.object(Array(text.utf8)) ?? [:]
        }

        private func functionResponse(_ message: JSONObject, path: String) throws(GatewayError) -> JSONObject {
            guard let callID = message["tool_call_id"] as? String else {
                throw .invalidRequest(
                    "'\(path).tool_call_id' must be a string.", param: "\(path).tool_call_id", code: "invalid_type"
                )
            }
            guard let name = functionNames[callID] ?? (message["name"] as? String).flatMap({ $0.isEmpty ? nil : $0 }) else {
                throw .invalidRequest(
                    "'\(path).tool_call_id' ('\(GatewayError.clipped(callID))') matches no tool call of an earlier "
                        + "assistant message.",
                    param: "\(path).tool_call_id", code: "invalid_value"
                )
            }
            let text = try Self.parts(message["content"], path: "\(path).content", role: "tool", media: false)
                .compactMap { $0["text"] as? String }.joined()
            return ["functionResponse": ["name": name, "response": ["output": text]]]
        }

        /// Gemini parts for a message's content (a string or an array of content parts); empty text is left out.
        private static func parts(
            _ content: Any?, path: String, role: String, media: Bool
        ) throws(GatewayError) -> [JSONObject] {
            guard isPresent(content) else { return [] }
            if let text = content as? String { return text.isEmpty ? [] : [["text": text]] }
            guard let items = content as? [Any] else {
                throw .invalidRequest(
                    "'\(path)' must be a string or an array of content parts.", param: path, code: "invalid_type"
                )
            }
            var parts: [JSONObject] = []
            for (index, value) in items.enumerated() {
                let itemPath = "\(path)[\(index)]"
                guard let item = value as? JSONObject, let type = item["type"] as? String else {
                    throw .invalidRequest(
                        "'\(itemPath)' must be a content part with a string 'type'.", param: itemPath, code: "invalid_type"
                    )
                }
                if type == "text" {
                    guard let text = item["text"] as? String else {
                        throw .invalidRequest(
                            "'\(itemPath).text' must be a string.", param: "\(itemPath).text", code: "invalid_type"
                        )
                    }
                    if !text.isEmpty { parts.append(["text": text]) }
                    continue
                }
                guard media, ["image_url", "input_audio", "file"].contains(type) else {
                    throw .invalidRequest(
                        "'\(itemPath).type' is '\(GatewayError.clipped(type))', which Gemini cannot take in "
                            + "\(role) messages.",
                        param: "\(itemPath).type", code: "invalid_value"
                    )
                }
                parts.append(try mediaPart(item, type: type, path: itemPath))
            }
            return parts
        }

        private static func mediaPart(_ item: JSONObject, type: String, path: String) throws(GatewayError) -> JSONObject {
            switch type {
            case "image_url":
                let image = item["image_url"]
                guard let url = (image as? JSONObject)?["url"] as? String ?? image as? String, !url.isEmpty else {
                    throw .invalidRequest("'\(path).image_url.url' must be a non-empty string.", param: "\(path).image_url.url")
                }
                if url.hasPrefix("data:") { return try inlineData(dataURL: url, path: "\(path).image_url.url") }
                return ["fileData": ["mimeType": mimeType(ofURL: url), "fileUri": url]]
            case "input_audio":
                guard let audio = item["input_audio"] as? JSONObject, let data = audio["data"] as? String,
                    let format = audio["format"] as? String, !data.isEmpty, !format.isEmpty
                else {
                    throw .invalidRequest(
                        "'\(path).input_audio' must hold a base64 'data' string and a 'format'.", param: "\(path).input_audio"
                    )
                }
                return ["inlineData": ["mimeType": "audio/\(format)", "data": data]]
            default:
                guard let fileData = (item["file"] as? JSONObject)?["file_data"] as? String, fileData.hasPrefix("data:") else {
                    throw .invalidRequest(
                        "'\(path).file.file_data' must be a base64 data URL (file ids cannot be sent to Gemini).",
                        param: "\(path).file.file_data"
                    )
                }
                return try inlineData(dataURL: fileData, path: "\(path).file.file_data")
            }
        }

        /// `data:<mime type>;base64,<data>` → `inlineData`.
        private static func inlineData(dataURL: String, path: String) throws(GatewayError) -> JSONObject {
            guard let parsed = DataURL(dataURL) else {
                throw .invalidRequest("'\(path)' must be a base64 data URL (data:<type>;base64,…).", param: path)
            }
            return ["inlineData": ["mimeType": parsed.mediaType.isEmpty ? "image/jpeg" : parsed.mediaType, "data": parsed.base64]]
        }

        /// The media type a URL's file extension suggests; image/jpeg when it suggests none.
        private static func mimeType(ofURL url: String) -> String {
            let path = url.prefix { $0 != "?" && $0 != "#" }
            let name = path.split(separator: "/").last ?? ""
            guard let dot = name.lastIndex(of: ".") else { return "image/jpeg" }
            let types = [
                "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
                "heic": "image/heic", "heif": "image/heif", "pdf": "application/pdf",
            ]
            return types[name[name.index(after: dot)...].lowercased()] ?? "image/jpeg"
        }
    }
}
