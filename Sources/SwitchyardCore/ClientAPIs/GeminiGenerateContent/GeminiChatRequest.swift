import Foundation

/// Gemini `generateContent` requests rewritten as OpenAI chat completions, for Gemini-native clients served by a
/// provider that does not speak Gemini (the mirror of GeminiRequestBuilder; providers.md §2.2, §2.6).
public enum GeminiChatRequest {
    /// A GenerateContentRequest body (camelCase, as the SDK sends it; accept snake_case top-level keys too:
    /// system_instruction, generation_config, tool_config) → an OpenAI chat-completions body with `model` and
    /// `stream` set (and `stream_options: {"include_usage": true}` when streaming).
    ///
    /// Every Gemini key is also read in snake_case, at any depth (the proto-JSON parser accepts both), but never
    /// inside `args`, `response` or schemas. System parts are joined with blank lines, as are a user content's
    /// texts; a model content's texts are joined as they are (they are fragments of one answer), and consecutive
    /// model contents — how SDK chat sessions record a streamed answer — become one assistant message. Thought parts
    /// are dropped. Function calls get ids `call_1`, `call_2`… in request order; a functionResponse answers the
    /// first unanswered call of the latest model turn with the same `id`, else the same name. Gemini `Schema`s
    /// (`parameters`, `responseSchema`) get their upper-case types (`"OBJECT"`, as the SDKs write them) in lower
    /// case, which JSON Schema validators require; `parametersJsonSchema`/`responseJsonSchema` pass as they are.
    /// Dropped, having no counterpart: `safetySettings`, `cachedContent` (its content is not sent!), and
    /// generationConfig's topK, thinkingConfig, logprobs, modalities and speech settings.
    public static func chatBody(
        fromGenerateContent body: JSONObject, model: String, stream: Bool
    ) throws(GatewayError) -> JSONObject {
        guard let contentsValue = field(body, "contents") else {
            throw .invalidRequest("'contents' is required.", param: "contents", code: "missing_required_parameter")
        }
        guard let contents = contentsValue as? [Any], !contents.isEmpty else {
            throw invalid("contents", "must be a non-empty array of contents", code: "invalid_type")
        }
        var conversation = Conversation()
        if let system = try systemMessage(field(body, "systemInstruction")) { conversation.messages.append(system) }
        for (index, content) in contents.enumerated() {
            try conversation.add(content, path: "contents[\(index)]")
        }
        conversation.endAssistantTurn()

        var chat: JSONObject = ["model": model, "messages": conversation.messages, "stream": stream]
        if stream { chat["stream_options"] = ["include_usage": true] }
        try addGenerationConfig(field(body, "generationConfig"), to: &chat)
        let tools = try functionTools(field(body, "tools"))
        let choice = try toolChoice(field(body, "toolConfig"), tools: tools)
        // OpenAI rejects tool_choice without tools.
        if !tools.isEmpty {
            chat["tools"] = tools
            if let choice { chat["tool_choice"] = choice }
        }
        return chat
    }

    // MARK: - Contents

    /// The messages made so far, with the model turn being read and its calls still to be answered.
    private struct Conversation {
        var messages: [Any] = []
        /// The assistant message being built from one or more consecutive model contents.
        private var assistant: (texts: [String], toolCalls: [Any])?
        /// Calls of the latest model turn without a response yet, in order.
        private var unanswered: [(callID: String, name: String, geminiID: String?)] = []
        private var callCount = 0

        mutating func add(_ value: Any, path: String) throws(GatewayError) {
            guard let content = value as? JSONObject else { throw invalid(path, "must be an object", code: "invalid_type") }
            let role = field(content, "role") ?? "user"
            guard let parts = field(content, "parts") as? [Any], !parts.isEmpty else {
                throw invalid("\(path).parts", "must be a non-empty array of parts", code: "invalid_type")
            }
            switch role as? String {
            case "user": try addUser(parts, path: "\(path).parts")
            case "model": try addModel(parts, path: "\(path).parts")
            default: throw invalid("\(path).role", "must be 'user' or 'model'")
            }
        }

        /// Function responses become tool messages first (they must follow the assistant's calls directly), then
        /// the content's other parts one user message.
        private mutating func addUser(_ parts: [Any], path: String) throws(GatewayError) {
            endAssistantTurn()
            var toolMessages: [Any] = []
            var items: [JSONObject] = []
            for (index, value) in parts.enumerated() {
                let partPath = "\(path)[\(index)]"
                switch try part(value, path: partPath) {
                case .text(let text): if !text.isEmpty { items.append(["type": "text", "text": text]) }
                case .thought: continue
                case .media(let url): items.append(["type": "image_url", "image_url": ["url": url]])
                case .functionResponse(let name, let content, let geminiID):
                    let callID = try answer(name: name, geminiID: geminiID, path: "\(partPath).functionResponse.name")
                    toolMessages.append(["role": "tool", "tool_call_id": callID, "content": content])
                case .functionCall:
                    throw invalid("\(partPath).functionCall", "can only be in a content of role 'model'")
                }
            }
            messages += toolMessages
            guard !items.isEmpty || toolMessages.isEmpty else { return }
            // Text-only content as one string (what every OpenAI-compatible server takes); parts when it holds media.
            let texts = items.compactMap { $0["text"] as? String }
            let content: Any = texts.count == items.count ? texts.joined(separator: "\n\n") : items
            messages.append(["role": "user", "content": content])
        }

        private mutating func addModel(_ parts: [Any], path: String) throws(GatewayError) {
            if assistant == nil {
                assistant = ([], [])
                unanswered = []
            }
            for (index, value) in parts.enumerated() {
                let partPath = "\(path)[\(index)]"
                switch try part(value, path: partPath) {
                case .text(let text): assistant?.texts.append(text)
                case .thought: continue
                case .functionCall(let name, let arguments, let geminiID):
                    callCount += 1
                    let callID = "call_\(callCount)"
                    assistant?.toolCalls.append([
                        "id": callID, "type": "function", "function": ["name": name, "arguments": arguments],
                    ])
                    unanswered.append((callID, name, geminiID))
                case .media, .functionResponse:
                    throw invalid(partPath, "must be a text or functionCall part: only those can be replayed as the model's turn")
                }
            }
        }

        /// Writes the assistant message being built, if any; a turn of only calls has no `content`.
        mutating func endAssistantTurn() {
            guard let turn = assistant else { return }
            assistant = nil
            var message: JSONObject = ["role": "assistant"]
            let text = turn.texts.joined()
            if !text.isEmpty || turn.toolCalls.isEmpty { message["content"] = text }
            if !turn.toolCalls.isEmpty { message["tool_calls"] = turn.toolCalls }
            messages.append(message)
        }

        /// The id of the call a response answers, which then counts as answered.
        private mutating func answer(name: String, geminiID: String?, path: String) throws(GatewayError) -> String {
            let position =
                unanswered.firstIndex { geminiID != nil && $0.geminiID == geminiID }
                ?? unanswered.firstIndex { $0.name == name }
            guard let position else {
                throw invalid(
                    path, "('\(GatewayError.clipped(name))') answers no unanswered functionCall of the model content before it"
                )
            }
            return unanswered.remove(at: position).callID
        }
    }

    private enum Part {
        case text(String)
        case thought
        /// inlineData as a data URL, or fileData's URI.
        case media(url: String)
        case functionCall(name: String, arguments: String, id: String?)
        case functionResponse(name: String, content: String, id: String?)
    }

    private static func part(_ value: Any, path: String) throws(GatewayError) -> Part {
        guard let part = value as? JSONObject else { throw invalid(path, "must be an object", code: "invalid_type") }
        if let text = field(part, "text") {
            guard let text = text as? String else { throw invalid("\(path).text", "must be a string", code: "invalid_type") }
            let thought = field(part, "thought")
            return JSONValue.bool(thought) == true ? .thought : .text(text)
        }
        if let inline = field(part, "inlineData") {
            let inline = inline as? JSONObject
            guard let mimeType = field(inline, "mimeType") as? String, !mimeType.isEmpty,
                let data = field(inline, "data") as? String, !data.isEmpty
            else {
                throw invalid("\(path).inlineData", "must hold a 'mimeType' and base64 'data'")
            }
            return .media(url: "data:\(mimeType);base64,\(data)")
        }
        if let file = field(part, "fileData") {
            guard let uri = field(file as? JSONObject, "fileUri") as? String, !uri.isEmpty else {
                throw invalid("\(path).fileData.fileUri", "must be a non-empty string")
            }
            return .media(url: uri)
        }
        if let call = field(part, "functionCall") {
            let call = call as? JSONObject
            let name = try functionName(call, path: "\(path).functionCall.name")
            let args = field(call, "args") ?? JSONObject()
            guard args is JSONObject else { throw invalid("\(path).functionCall.args", "must be an object", code: "invalid_type") }
            return .functionCall(name: name, arguments: json(args), id: field(call, "id") as? String)
        }
        if let response = field(part, "functionResponse") {
            let response = response as? JSONObject
            let name = try functionName(response, path: "\(path).functionResponse.name")
            guard let result = field(response, "response") as? JSONObject else {
                throw invalid("\(path).functionResponse.response", "must be an object", code: "invalid_type")
            }
            return .functionResponse(name: name, content: json(result), id: field(response, "id") as? String)
        }
        throw invalid(
            path,
            "must hold text, inlineData, fileData, functionCall or functionResponse: other parts (executableCode, "
                + "codeExecutionResult…) cannot be sent to this model's provider"
        )
    }

    private static func functionName(_ object: JSONObject?, path: String) throws(GatewayError) -> String {
        guard let name = field(object, "name") as? String, !name.isEmpty else { throw invalid(path, "must be a non-empty string") }
        return name
    }

    /// `systemInstruction`'s text parts as one system message; nil when they hold no text.
    private static func systemMessage(_ value: Any?) throws(GatewayError) -> JSONObject? {
        guard let value else { return nil }
        guard let parts = field(value as? JSONObject, "parts") as? [Any] else {
            throw invalid("systemInstruction.parts", "must be an array of text parts", code: "invalid_type")
        }
        var texts: [String] = []
        for (index, value) in parts.enumerated() {
            let path = "systemInstruction.parts[\(index)]"
            switch try part(value, path: path) {
            case .text(let text): if !text.isEmpty { texts.append(text) }
            case .thought: continue
            default: throw invalid(path, "must be a text part")
            }
        }
        return texts.isEmpty ? nil : ["role": "system", "content": texts.joined(separator: "\n\n")]
    }

    // MARK: - generationConfig

    private static func addGenerationConfig(_ value: Any?, to chat: inout JSONObject) throws(GatewayError) {
        guard let value else { return }
        guard let config = value as? JSONObject else {
            throw invalid("generationConfig", "must be an object", code: "invalid_type")
        }
        let decimals: [(name: String, target: String, range: ClosedRange<Double>)] = [
            ("temperature", "temperature", 0...2),
            ("topP", "top_p", 0...1),
            ("presencePenalty", "presence_penalty", -2...2),
            ("frequencyPenalty", "frequency_penalty", -2...2),
        ]
        for (name, target, range) in decimals {
            guard let raw = field(config, name) else { continue }
            guard let number = JSONValue.number(raw), range.contains(number.doubleValue) else {
                throw invalid(
                    "generationConfig.\(name)", "must be a number from \(Int(range.lowerBound)) to \(Int(range.upperBound))"
                )
            }
            chat[target] = number
        }
        let int32Max = Int(Int32.max)
        let wholeNumbers: [(name: String, target: String, range: ClosedRange<Int>)] = [
            ("maxOutputTokens", "max_tokens", 1...int32Max),
            ("candidateCount", "n", 1...8),
            ("seed", "seed", Int(Int32.min)...int32Max),
        ]
        for (name, target, range) in wholeNumbers {
            guard let raw = field(config, name) else { continue }
            let double = JSONValue.number(raw)?.doubleValue ?? .nan
            guard double.rounded() == double, double >= Double(range.lowerBound), double <= Double(range.upperBound) else {
                throw invalid("generationConfig.\(name)", "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            chat[target] = Int(double)
        }
        if let raw = field(config, "stopSequences") {
            guard let list = raw as? [Any], let sequences = list as? [String] else {
                throw invalid("generationConfig.stopSequences", "must be an array of strings", code: "invalid_type")
            }
            let nonEmpty = sequences.filter { !$0.isEmpty }
            if !nonEmpty.isEmpty { chat["stop"] = nonEmpty }
        }
        if let format = try responseFormat(config) { chat["response_format"] = format }
    }

    /// `responseMimeType` application/json → json_object, or json_schema when a schema comes with it.
    private static func responseFormat(_ config: JSONObject) throws(GatewayError) -> JSONObject? {
        let path = "generationConfig.responseMimeType"
        guard let raw = field(config, "responseMimeType") else { return nil }
        guard let mimeType = raw as? String else { throw invalid(path, "must be a string", code: "invalid_type") }
        switch mimeType {
        case "", "text/plain":
            return nil
        case "application/json":
            let schema: JSONObject
            if let raw = field(config, "responseJsonSchema") {
                guard let object = raw as? JSONObject else {
                    throw invalid("generationConfig.responseJsonSchema", "must be an object", code: "invalid_type")
                }
                schema = object
            } else if let raw = field(config, "responseSchema") {
                guard let object = raw as? JSONObject else {
                    throw invalid("generationConfig.responseSchema", "must be an object", code: "invalid_type")
                }
                schema = jsonSchema(fromGeminiSchema: object)
            } else {
                return ["type": "json_object"]
            }
            return ["type": "json_schema", "json_schema": ["name": "response", "schema": schema]]
        default:
            throw invalid(path, "must be 'text/plain' or 'application/json' for this model's provider")
        }
    }

    // MARK: - Tools

    private static func functionTools(_ value: Any?) throws(GatewayError) -> [JSONObject] {
        guard let value else { return [] }
        guard let list = value as? [Any] else { throw invalid("tools", "must be an array", code: "invalid_type") }
        var tools: [JSONObject] = []
        for (index, value) in list.enumerated() {
            let path = "tools[\(index)]"
            guard let tool = value as? JSONObject else { throw invalid(path, "must be an object", code: "invalid_type") }
            let otherKinds = tool.filter { !($0.value is NSNull) && !["functionDeclarations", "function_declarations"].contains($0.key) }
            if let kind = otherKinds.keys.min() {
                throw invalid(
                    path, "holds '\(GatewayError.clipped(kind))': only function declarations can be translated for this model's provider"
                )
            }
            guard let declarations = field(tool, "functionDeclarations") as? [Any] else {
                throw invalid("\(path).functionDeclarations", "must be an array", code: "invalid_type")
            }
            for (offset, declaration) in declarations.enumerated() {
                tools.append(try functionTool(declaration, path: "\(path).functionDeclarations[\(offset)]"))
            }
        }
        return tools
    }

    private static func functionTool(_ value: Any, path: String) throws(GatewayError) -> JSONObject {
        guard let declaration = value as? JSONObject else { throw invalid(path, "must be an object", code: "invalid_type") }
        var function: JSONObject = ["name": try functionName(declaration, path: "\(path).name")]
        if let description = field(declaration, "description") as? String, !description.isEmpty {
            function["description"] = description
        }
        if let raw = field(declaration, "parametersJsonSchema") {
            guard let schema = raw as? JSONObject else {
                throw invalid("\(path).parametersJsonSchema", "must be an object", code: "invalid_type")
            }
            function["parameters"] = schema
        } else if let raw = field(declaration, "parameters") {
            guard let schema = raw as? JSONObject else {
                throw invalid("\(path).parameters", "must be an object", code: "invalid_type")
            }
            function["parameters"] = jsonSchema(fromGeminiSchema: schema)
        }
        return ["type": "function", "function": function]
    }

    /// `functionCallingConfig.mode` as a tool_choice: AUTO/VALIDATED → auto, NONE → none, ANY → required, or the
    /// function itself when ANY allows exactly one (several allowed names cannot be expressed; they give required).
    private static func toolChoice(_ value: Any?, tools: [JSONObject]) throws(GatewayError) -> Any? {
        guard let value else { return nil }
        guard let config = value as? JSONObject else { throw invalid("toolConfig", "must be an object", code: "invalid_type") }
        let path = "toolConfig.functionCallingConfig"
        guard let raw = field(config, "functionCallingConfig") else { return nil }
        guard let calling = raw as? JSONObject else { throw invalid(path, "must be an object", code: "invalid_type") }
        var allowed: [String] = []
        if let raw = field(calling, "allowedFunctionNames") {
            guard let list = raw as? [Any], let names = list as? [String] else {
                throw invalid("\(path).allowedFunctionNames", "must be an array of strings", code: "invalid_type")
            }
            allowed = names
        }
        guard let rawMode = field(calling, "mode") else { return nil }
        switch (rawMode as? String)?.uppercased() {
        case "MODE_UNSPECIFIED": return nil
        case "AUTO", "VALIDATED": return "auto"
        case "NONE": return "none"
        case "ANY":
            guard allowed.count == 1, let name = allowed.first else { return "required" }
            guard tools.contains(where: { ($0["function"] as? JSONObject)?["name"] as? String == name }) else {
                throw invalid(
                    "\(path).allowedFunctionNames", "names '\(GatewayError.clipped(name))', which is not among the function declarations"
                )
            }
            return ["type": "function", "function": ["name": name]]
        default:
            throw invalid("\(path).mode", "must be 'AUTO', 'ANY', 'NONE' or 'VALIDATED'")
        }
    }

    /// Gemini's `Schema` (an OpenAPI subset) with its types in lower case, through properties, items and anyOf;
    /// its other keywords pass as they are.
    static func jsonSchema(fromGeminiSchema schema: JSONObject) -> JSONObject {
        func converted(_ value: Any) -> Any { (value as? JSONObject).map(jsonSchema(fromGeminiSchema:)) ?? value }
        var result = schema
        if let type = schema["type"] as? String { result["type"] = type.lowercased() }
        if let properties = schema["properties"] as? JSONObject { result["properties"] = properties.mapValues(converted) }
        if let items = schema["items"] { result["items"] = converted(items) }
        if let anyOf = schema["anyOf"] as? [Any] { result["anyOf"] = anyOf.map(converted) }
        return result
    }

    // MARK: - Helpers

    /// A member by its camelCase name or its snake_case one (`generationConfig`, `generation_config`); JSON null
    /// counts as absent.
    private static func field(_ object: JSONObject?, _ name: String) -> Any? {
        guard let object else { return nil }
        let value = object[name] ?? object[snakeCase(name)]
        return value is NSNull ? nil : value
    }

    private static func snakeCase(_ name: String) -> String {
        name.reduce(into: "") { result, character in
            if character.isUppercase { result += "_" + character.lowercased() } else { result.append(character) }
        }
    }

    private static func json(_ value: Any) -> String { String(decoding: JSONValue.encode(value), as: UTF8.self) }

    private static func invalid(_ param: String, _ problem: String, code: String = "invalid_value") -> GatewayError {
        .invalidRequest("'\(param)' \(problem).", param: param, code: code)
    }
}
