import Foundation
import NIOCore

/// A `/v1/responses` request body, checked without decoding it. Providers with the Responses API get the original
/// bytes (`upstreamBody`); every other provider gets the request translated to chat completions (`chatBody`).
public struct ResponsesRequest: Sendable {
    /// The original bytes, or those rewritten by `continuing(after:)`.
    public let body: ByteBuffer
    public let model: String
    public let stream: Bool
    /// Whether the gateway keeps the response for a later `previous_response_id` (OpenAI's default: true).
    public let store: Bool
    public let previousResponseID: String?
    private let scan: JSONObjectScan
    private let maxOutputTokens: Int?

    /// OpenAI's own ceilings are lower; this only keeps absurd values out.
    static let maximumOutputTokens = 10_000_000

    /// Validates: a JSON object; `model` a non-empty string; `input` a string or an array (required unless
    /// `previous_response_id` is given); `stream`, `store`, `parallel_tool_calls` booleans; `max_output_tokens` an
    /// integer 1...10_000_000; `temperature` a number 0...2, `top_p` 0...1; `previous_response_id` a non-empty
    /// string; `instructions` a string. Each may be absent or null, `model` excepted.
    public init(body: ByteBuffer) throws(GatewayError) {
        let scan: JSONObjectScan
        do {
            scan = try JSONObjectScan(body)
        } catch {
            throw .invalidJSON(error.description)
        }
        let fields = ScannedFields(body: body, scan: scan)
        guard let modelMember = fields.present("model") else { throw .missingParameter("model") }
        guard let model = fields.string(modelMember), !model.isEmpty else {
            throw Self.invalidType("model", expected: "a non-empty string")
        }
        var previousResponseID: String?
        if let member = fields.present("previous_response_id") {
            guard let id = fields.string(member), !id.isEmpty else {
                throw Self.invalidType("previous_response_id", expected: "a non-empty string")
            }
            previousResponseID = id
        }
        if let input = fields.present("input") {
            guard input.kind == .string || input.kind == .array else {
                throw Self.invalidType("input", expected: "a string or an array of input items")
            }
        } else if previousResponseID == nil {
            throw .missingParameter("input")
        }
        if let instructions = fields.present("instructions"), instructions.kind != .string {
            throw Self.invalidType("instructions", expected: "a string")
        }
        let stream = try fields.bool("stream") ?? false
        let store = try fields.bool("store") ?? true
        _ = try fields.bool("parallel_tool_calls")
        _ = try fields.number("temperature", in: 0...2)
        _ = try fields.number("top_p", in: 0...1)
        let maxOutputTokens = try fields.number(
            "max_output_tokens", in: 1...Double(Self.maximumOutputTokens), wholeNumber: true)
        self.init(
            body: body, scan: scan, model: model, stream: stream, store: store, previousResponseID: previousResponseID,
            maxOutputTokens: maxOutputTokens.map { Int($0) })
    }

    private init(
        body: ByteBuffer, scan: JSONObjectScan, model: String, stream: Bool, store: Bool, previousResponseID: String?,
        maxOutputTokens: Int?
    ) {
        self.body = body
        self.scan = scan
        self.model = model
        self.stream = stream
        self.store = store
        self.previousResponseID = previousResponseID
        self.maxOutputTokens = maxOutputTokens
    }

    /// `input` as a list of items: a string input is one user message; a list is returned as sent (an item without
    /// `type` but with `role` is a message, the SDK's EasyInputMessage), leaving out elements that are not objects.
    public func inputItems() -> [JSONObject] {
        switch JSONValue.object(body.readableBytesView)?["input"] {
        case let text as String: [Self.userMessage(text)]
        case let items as [Any]: items.compactMap { $0 as? JSONObject }
        default: []
        }
    }

    /// The request continuing a stored conversation: `previous_response_id` removed and `input` replaced by
    /// `history` followed by this request's input (a string input as a user message item; array elements as their
    /// original bytes); every other byte unchanged. The properties keep their values, so the response still echoes
    /// `previous_response_id`.
    public func continuing(after history: [JSONObject]) -> ResponsesRequest {
        let edited = body.withUnsafeReadableBytes { bytes -> [UInt8] in
            var editor = JSONObjectEditor()
            editor.remove("previous_response_id")
            let input = scan.member("input").flatMap { $0.kind == .null ? nil : $0 }
            if !history.isEmpty || input == nil {
                var items = history.map(JSONValue.encode)
                if let input, input.kind == .string {
                    let text = JSONObjectScan.decodeString(bytes, in: input.valueRange) ?? ""
                    items.append(JSONValue.encode(Self.userMessage(text)))
                } else if let input, input.kind == .array {
                    // The elements as sent, without the brackets; nothing for an empty list.
                    let elements = bytes[(input.valueStart + 1)..<(input.valueEnd - 1)]
                    if elements.contains(where: { !Self.jsonWhitespace.contains($0) }) { items.append(Array(elements)) }
                }
                let list = Array("[".utf8) + items.joined(separator: Array(",".utf8)) + Array("]".utf8)
                editor.set("input", rawValue: list)
            }
            return editor.apply(to: bytes, scan: scan)
        }
        // Splicing encoded values into a scanned object always gives a valid object.
        guard let editedScan = try? JSONObjectScan(edited) else { return self }
        return ResponsesRequest(
            body: ByteBuffer(bytes: edited), scan: editedScan, model: model, stream: stream, store: store,
            previousResponseID: previousResponseID, maxOutputTokens: maxOutputTokens)
    }

    /// For a provider that speaks the Responses API: `model` renamed and `stream` set when they differ, all other
    /// bytes as sent.
    public func upstreamBody(model upstreamModel: String, stream upstreamStream: Bool) -> ByteBuffer {
        JSONObjectEditor.nativeBody(body, scan: scan, model: (model, upstreamModel), stream: (stream, upstreamStream))
    }

    /// The request fields a `response` object echoes, with OpenAI's defaults for those absent (`user` only when sent).
    public var responseEcho: JSONObject {
        let request = JSONValue.object(body.readableBytesView) ?? [:]
        var text = request["text"] as? JSONObject ?? [:]
        if !Self.isPresent(text["format"]) { text["format"] = ["type": "text"] }
        let reasoning = request["reasoning"] as? JSONObject
        var echo: JSONObject = [
            "instructions": Self.orNull(request["instructions"] as? String),
            "max_output_tokens": Self.orNull(maxOutputTokens),
            "metadata": request["metadata"] as? JSONObject ?? [:],
            "parallel_tool_calls": JSONValue.bool(request["parallel_tool_calls"]) ?? true,
            "previous_response_id": Self.orNull(previousResponseID),
            "temperature": JSONValue.number(request["temperature"]) ?? NSNumber(value: 1),
            "top_p": JSONValue.number(request["top_p"]) ?? NSNumber(value: 1),
            "tool_choice": request["tool_choice"].flatMap { $0 is NSNull ? nil : $0 } ?? "auto",
            "tools": request["tools"] as? [Any] ?? [],
            "text": text,
            "truncation": request["truncation"] as? String ?? "disabled",
            "store": store,
            "reasoning": ["effort": Self.orNull(reasoning?["effort"]), "summary": Self.orNull(reasoning?["summary"])],
        ]
        if let user = request["user"] as? String { echo["user"] = user }
        return echo
    }

    private static func orNull(_ value: Any?) -> Any { value ?? NSNull() }

    static func userMessage(_ text: String) -> JSONObject {
        ["type": "message", "role": "user", "content": [["type": "input_text", "text": text]]]
    }

    private static let jsonWhitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
}

// MARK: - Responses request → OpenAI chat completions (providers.md §5.4)

extension ResponsesRequest {
    /// The request as an OpenAI chat-completions body: `model` as the client sent it, `stream` as requested (with
    /// `stream_options.include_usage` when streaming), `instructions` the first system message, then the input
    /// items (see ResponsesInputTranslator), `max_output_tokens` as `max_tokens`, `reasoning.effort` as
    /// `reasoning_effort`, `text.format` as `response_format`, function tools nested as chat has them; `temperature`,
    /// `top_p`, `parallel_tool_calls`, `user` as they are. `tools`, `tool_choice` and `parallel_tool_calls` only go
    /// with at least one tool, since OpenAI rejects them without.
    ///
    /// Ignored, having no chat counterpart: `store` (the gateway keeps responses itself), `metadata` (chat servers
    /// reject it without `store`), `include`, `prompt_cache_key`, `prompt_cache_retention`, `truncation`,
    /// `service_tier`, `safety_identifier`, `stream_options`, `background: false`, `max_tool_calls`,
    /// `top_logprobs`, `text.verbosity`, `reasoning.summary`. Expects `continuing(after:)` to have replaced
    /// `previous_response_id` by its history. Throws a 400 naming the param for what chat cannot carry: tools other
    /// than functions, `background: true`, `conversation`, `prompt`, and the input items and parts listed in
    /// ResponsesInputTranslator.
    public func chatBody() throws(GatewayError) -> JSONObject {
        guard let request = JSONValue.object(body.readableBytesView) else { throw .invalidJSON("not a JSON object") }
        if JSONValue.bool(request["background"]) == true {
            throw Self.responsesOnly("A background response", param: "background")
        }
        for (key, what) in [("conversation", "A stored conversation"), ("prompt", "A stored prompt")]
        where Self.isPresent(request[key]) {
            throw Self.responsesOnly(what, param: key)
        }
        var messages: [Any] = []
        if let instructions = request["instructions"] as? String, !instructions.isEmpty {
            messages.append(["role": "system", "content": instructions])
        }
        messages += try ResponsesInputTranslator.messages(fromInput: request["input"])

        var chat: JSONObject = ["model": model, "messages": messages, "stream": stream]
        if stream { chat["stream_options"] = ["include_usage": true] }
        if let maxOutputTokens { chat["max_tokens"] = maxOutputTokens }
        for key in ["temperature", "top_p"] {
            if let number = JSONValue.number(request[key]) { chat[key] = number }
        }
        if Self.isPresent(request["user"]) {
            guard let user = request["user"] as? String else { throw Self.invalidType("user", expected: "a string") }
            chat["user"] = user
        }
        if let effort = try Self.reasoningEffort(request["reasoning"]) { chat["reasoning_effort"] = effort }
        if let format = try Self.responseFormat(request["text"]) { chat["response_format"] = format }
        let tools = try Self.functionTools(request["tools"])
        let choice = try Self.toolChoice(request["tool_choice"])
        if !tools.isEmpty {
            chat["tools"] = tools
            if let choice { chat["tool_choice"] = choice }
            if let parallel = JSONValue.bool(request["parallel_tool_calls"]) { chat["parallel_tool_calls"] = parallel }
        }
        return chat
    }

    private static func reasoningEffort(_ value: Any?) throws(GatewayError) -> String? {
        guard isPresent(value) else { return nil }
        guard let reasoning = value as? JSONObject else { throw invalidType("reasoning", expected: "an object") }
        guard isPresent(reasoning["effort"]) else { return nil }
        guard let effort = reasoning["effort"] as? String else {
            throw invalidType("reasoning.effort", expected: "a string")
        }
        return effort
    }

    /// `text.format` as chat's `response_format`; nil for plain text.
    private static func responseFormat(_ value: Any?) throws(GatewayError) -> JSONObject? {
        guard isPresent(value) else { return nil }
        guard let text = value as? JSONObject else { throw invalidType("text", expected: "an object") }
        guard isPresent(text["format"]) else { return nil }
        guard let format = text["format"] as? JSONObject, let type = format["type"] as? String else {
            throw invalidType("text.format", expected: "an object with a string 'type'")
        }
        switch type {
        case "text": return nil
        case "json_object": return ["type": "json_object"]
        case "json_schema":
            guard let name = format["name"] as? String, !name.isEmpty else {
                throw invalidType("text.format.name", expected: "a non-empty string")
            }
            guard let schema = format["schema"] as? JSONObject else {
                throw invalidType("text.format.schema", expected: "an object")
            }
            var jsonSchema: JSONObject = ["name": name, "schema": schema]
            if let strict = JSONValue.bool(format["strict"]) { jsonSchema["strict"] = strict }
            if let description = format["description"] as? String { jsonSchema["description"] = description }
            return ["type": "json_schema", "json_schema": jsonSchema]
        default:
            throw invalidValue("text.format.type", "expected 'text', 'json_object' or 'json_schema'")
        }
    }

    /// Flat Responses function tools as chat's nested ones, the functions of a namespace flattened (see
    /// ToolNamespaces); any other tool type only a Responses provider can run.
    private static func functionTools(_ value: Any?) throws(GatewayError) -> [Any] {
        guard isPresent(value) else { return [] }
        guard let list = value as? [Any] else { throw invalidType("tools", expected: "an array") }
        var tools: [Any] = []
        for (index, item) in list.enumerated() {
            let param = "tools[\(index)]"
            guard let tool = item as? JSONObject, tool["type"] as? String == "namespace" else {
                tools.append(try functionTool(item, param: param, namespace: nil))
                continue
            }
            guard let namespace = tool["name"] as? String, !namespace.isEmpty else {
                throw invalidType("\(param).name", expected: "a non-empty string")
            }
            guard let members = tool["tools"] as? [Any] else { throw invalidType("\(param).tools", expected: "an array") }
            for (memberIndex, member) in members.enumerated() {
                tools.append(try functionTool(member, param: "\(param).tools[\(memberIndex)]", namespace: namespace))
            }
        }
        return tools
    }

    private static func functionTool(_ item: Any, param: String, namespace: String?) throws(GatewayError) -> JSONObject {
        guard let tool = item as? JSONObject, let type = tool["type"] as? String else {
            throw invalidType(param, expected: "an object with a string 'type'")
        }
        guard type == "function" else {
            throw responsesOnly("The tool type '\(GatewayError.clipped(type, to: 64))'", param: param)
        }
        guard let name = tool["name"] as? String, !name.isEmpty else {
            throw invalidType("\(param).name", expected: "a non-empty string")
        }
        var function: JSONObject = ["name": ToolNamespaces.chatName(name, namespace: namespace)]
        if let description = tool["description"] as? String { function["description"] = description }
        if isPresent(tool["parameters"]) {
            guard let parameters = tool["parameters"] as? JSONObject else {
                throw invalidType("\(param).parameters", expected: "an object")
            }
            function["parameters"] = parameters
        }
        if let strict = JSONValue.bool(tool["strict"]) { function["strict"] = strict }
        return ["type": "function", "function": function]
    }

    private static func toolChoice(_ value: Any?) throws(GatewayError) -> Any? {
        guard isPresent(value) else { return nil }
        if let mode = value as? String {
            guard ["auto", "none", "required"].contains(mode) else {
                throw invalidValue("tool_choice", "expected 'auto', 'none', 'required' or a function")
            }
            return mode
        }
        guard let choice = value as? JSONObject, let type = choice["type"] as? String else {
            throw invalidType("tool_choice", expected: "a string or an object with a string 'type'")
        }
        guard type == "function" else {
            throw responsesOnly("The tool_choice type '\(GatewayError.clipped(type, to: 64))'", param: "tool_choice")
        }
        guard let name = choice["name"] as? String, !name.isEmpty else {
            throw invalidType("tool_choice.name", expected: "a non-empty string")
        }
        return ["type": "function", "function": ["name": name]]
    }
}

// MARK: - Errors and field reading shared with ResponsesInputTranslator

extension ResponsesRequest {
    static func isPresent(_ value: Any?) -> Bool { value != nil && !(value is NSNull) }

    static func invalidType(_ param: String, expected: String) -> GatewayError {
        .invalidRequest("Invalid type for '\(param)': expected \(expected).", param: param, code: "invalid_type")
    }

    static func invalidValue(_ param: String, _ problem: String) -> GatewayError {
        .invalidRequest("Invalid value for '\(param)': \(problem).", param: param, code: "invalid_value")
    }

    /// What only a provider with the Responses API can serve, e.g. "The tool type 'web_search'".
    static func responsesOnly(_ what: String, param: String) -> GatewayError {
        .invalidRequest(
            "\(what) (\(param)) can only be served by a provider with the Responses API (responses: true).",
            param: param, code: "unsupported_value")
    }

    /// Top-level members read from the scan, without decoding the body.
    private struct ScannedFields {
        let body: ByteBuffer
        let scan: JSONObjectScan

        /// The member, unless absent or null.
        func present(_ key: String) -> JSONObjectScan.Member? {
            scan.member(key).flatMap { $0.kind == .null ? nil : $0 }
        }

        func string(_ member: JSONObjectScan.Member) -> String? {
            guard member.kind == .string else { return nil }
            return body.withUnsafeReadableBytes { JSONObjectScan.decodeString($0, in: member.valueRange) }
        }

        func bool(_ key: String) throws(GatewayError) -> Bool? {
            guard let member = present(key) else { return nil }
            switch member.kind {
            case .true: return true
            case .false: return false
            default: throw ResponsesRequest.invalidType(key, expected: "a boolean")
            }
        }

        func number(
            _ key: String, in range: ClosedRange<Double>, wholeNumber: Bool = false
        ) throws(GatewayError) -> Double? {
            guard let member = present(key) else { return nil }
            let expected = wholeNumber ? "an integer" : "a number"
            let text = body.withUnsafeReadableBytes { String(decoding: $0[member.valueRange], as: UTF8.self) }
            guard member.kind == .number, let value = Double(text) else {
                throw ResponsesRequest.invalidType(key, expected: expected)
            }
            guard range.contains(value), !wholeNumber || value.rounded() == value else {
                throw ResponsesRequest.invalidValue(
                    key, "expected \(expected) from \(Int(range.lowerBound)) to \(Int(range.upperBound))")
            }
            return value
        }
    }
}
