import Foundation
import NIOCore

/// A `/v1/messages` request body, checked; the original bytes are kept for Anthropic providers.
public struct AnthropicMessagesRequest: Sendable {
    public let body: ByteBuffer
    public let model: String
    public let stream: Bool
    private let scan: JSONObjectScan
    /// nil only for `count_tokens` requests, which need none.
    private let maxTokens: Int?

    /// Anthropic's own ceiling is lower; this only keeps absurd values out.
    static let maximumMaxTokens = 10_000_000

    /// Validates: a JSON object; `model` a non-empty string; `messages` an array; `max_tokens` required, an integer
    /// 0...10_000_000 (Anthropic's own wording for a missing field: "max_tokens: Field required"); `stream` a
    /// boolean if present. Errors are GatewayError.invalidRequest with `param`. `count_tokens` requests pass
    /// `requiresMaxTokens: false`.
    public init(body: ByteBuffer, requiresMaxTokens: Bool = true) throws(GatewayError) {
        let scan: JSONObjectScan
        do {
            scan = try JSONObjectScan(body)
        } catch {
            throw .invalidJSON(error.description)
        }
        guard let modelMember = scan.member("model") else { throw Self.missing("model") }
        let model = body.withUnsafeReadableBytes { JSONObjectScan.decodeString($0, in: modelMember.valueRange) }
        guard let model, !model.isEmpty else { throw Self.invalid("model", "Input should be a non-empty string") }
        guard let messages = scan.member("messages") else { throw Self.missing("messages") }
        guard messages.kind == .array else { throw Self.invalid("messages", "Input should be a valid list") }
        var maxTokens: Int?
        if let maxTokensMember = scan.member("max_tokens") {
            let maxTokensText = body.withUnsafeReadableBytes { String(decoding: $0[maxTokensMember.valueRange], as: UTF8.self) }
            guard maxTokensMember.kind == .number, let value = Double(maxTokensText), value.rounded() == value,
                value >= 0, value <= Double(Self.maximumMaxTokens)
            else {
                throw Self.invalid("max_tokens", "Input should be an integer from 0 to \(Self.maximumMaxTokens)")
            }
            maxTokens = Int(value)
        } else if requiresMaxTokens {
            throw Self.missing("max_tokens")
        }
        var stream = false
        if let streamMember = scan.member("stream") {
            switch streamMember.kind {
            case .true: stream = true
            case .false, .null: stream = false
            default: throw Self.invalid("stream", "Input should be a valid boolean")
            }
        }
        self.body = body
        self.model = model
        self.stream = stream
        self.scan = scan
        self.maxTokens = maxTokens
    }

    /// For Anthropic providers: the original bytes with only `model` (and `stream` if it differs) replaced.
    public func upstreamBody(model upstreamModel: String, stream upstreamStream: Bool) -> ByteBuffer {
        JSONObjectEditor.nativeBody(body, scan: scan, model: (model, upstreamModel), stream: (stream, upstreamStream))
    }

    /// A rough input-token count (characters / 4 via UsageEstimate.tokens) of system, messages and tools, for
    /// `message_start` and `/v1/messages/count_tokens` when no Anthropic provider can count.
    public var estimatedInputTokens: Int {
        guard let request = JSONValue.object(body.readableBytesView) else { return 0 }
        let characters = ["system", "messages", "tools"].reduce(0) { $0 + Self.textCharacters(request[$1]) }
        return UsageEstimate.tokens(characters: characters)
    }

    /// Members whose strings are opaque payloads (image data, thinking signatures) that would swamp the estimate.
    private static let opaqueKeys: Set<String> = ["source", "signature", "data", "cache_control"]

    private static func textCharacters(_ value: Any?) -> Int {
        switch value {
        case let text as String: text.count
        case let array as [Any]: array.reduce(0) { $0 + textCharacters($1) }
        case let object as JSONObject:
            object.reduce(0) { total, member in opaqueKeys.contains(member.key) ? total : total + textCharacters(member.value) }
        default: 0
        }
    }
}

// MARK: - Anthropic request → OpenAI chat completions (providers.md §1.9)

extension AnthropicMessagesRequest {
    /// The request as an OpenAI chat-completions body (model unchanged; when streaming, `stream: true` and
    /// `stream_options: {"include_usage": true}`), for providers that do not speak Anthropic.
    public func chatBody() throws(GatewayError) -> JSONObject {
        guard let request = JSONValue.object(body.readableBytesView), let turns = request["messages"] as? [Any] else {
            throw .invalidJSON("not a JSON object with a 'messages' list")
        }
        var messages: [Any] = []
        if let system = try Self.systemText(request["system"]), !system.isEmpty {
            messages.append(["role": "system", "content": system])
        }
        for (index, turn) in turns.enumerated() {
            messages += try Self.chatMessages(turn, param: "messages[\(index)]")
        }

        var chat: JSONObject = ["model": model, "messages": messages]
        if let maxTokens { chat["max_tokens"] = maxTokens }
        if stream {
            chat["stream"] = true
            chat["stream_options"] = ["include_usage": true]
        }
        if let stop = try Self.stopSequences(request["stop_sequences"]), !stop.isEmpty { chat["stop"] = stop }
        for key in ["temperature", "top_p"] where Self.isPresent(request[key]) {
            guard let number = JSONValue.number(request[key]) else { throw Self.invalid(key, "Input should be a valid number") }
            chat[key] = number
        }
        if let user = (request["metadata"] as? JSONObject)?["user_id"] as? String, !user.isEmpty { chat["user"] = user }

        let tools = try Self.functionTools(request["tools"])
        let choice = try Self.toolChoice(request["tool_choice"])
        // OpenAI rejects tool_choice and parallel_tool_calls without tools.
        if !tools.isEmpty {
            chat["tools"] = tools
            if let choice {
                chat["tool_choice"] = choice.openAI
                if choice.disableParallelToolUse { chat["parallel_tool_calls"] = false }
            }
        }
        return chat
    }

    /// `system` as one text: a string, or text blocks joined.
    private static func systemText(_ value: Any?) throws(GatewayError) -> String? {
        guard isPresent(value) else { return nil }
        if let text = value as? String { return text }
        guard let blocks = value as? [Any] else { throw invalid("system", "Input should be a string or a list of text blocks") }
        var texts: [String] = []
        for (index, item) in blocks.enumerated() {
            let param = "system[\(index)]"
            let block = try contentBlock(item, param: param)
            guard block.type == "text" else { throw invalid(param, "System blocks must be of type 'text'") }
            texts.append(try text(of: block.fields, param: param))
        }
        return joined(texts)
    }

    /// One Anthropic turn as OpenAI messages: a user turn's tool results become `tool` messages first (they must
    /// follow the assistant's tool calls directly), then its other content as one user message.
    private static func chatMessages(_ value: Any, param: String) throws(GatewayError) -> [Any] {
        guard let turn = value as? JSONObject else { throw invalid(param, "Input should be an object") }
        guard let role = turn["role"] as? String, role == "user" || role == "assistant" else {
            throw invalid("\(param).role", "Input should be 'user' or 'assistant'")
        }
        if let text = turn["content"] as? String { return [["role": role, "content": text]] }
        guard let blocks = turn["content"] as? [Any] else {
            throw invalid("\(param).content", "Input should be a string or a list of content blocks")
        }
        return role == "user"
            ? try userMessages(blocks, param: "\(param).content") : [try assistantMessage(blocks, param: "\(param).content")]
    }

    private static func userMessages(_ blocks: [Any], param: String) throws(GatewayError) -> [Any] {
        var toolMessages: [Any] = []
        var parts: [JSONObject] = []
        for (index, item) in blocks.enumerated() {
            let blockParam = "\(param)[\(index)]"
            let block = try contentBlock(item, param: blockParam)
            switch block.type {
            case "text": parts.append(["type": "text", "text": try text(of: block.fields, param: blockParam)])
            case "image": parts.append(try imagePart(block.fields, param: blockParam))
            case "tool_result":
                guard let id = block.fields["tool_use_id"] as? String, !id.isEmpty else {
                    throw invalid("\(blockParam).tool_use_id", "Input should be a non-empty string")
                }
                let result = try toolResult(block.fields, param: blockParam)
                toolMessages.append(["role": "tool", "tool_call_id": id, "content": result.text])
                // A tool message carries text only; the images it returned go to the model in the user message.
                parts += result.images
            default:
                throw unsupported(block.type, param: blockParam)
            }
        }
        if parts.isEmpty && !toolMessages.isEmpty { return toolMessages }
        return toolMessages + [["role": "user", "content": userContent(parts)]]
    }

    /// Text-only content as one string (what every OpenAI-compatible server takes); content parts when it holds images.
    private static func userContent(_ parts: [JSONObject]) -> Any {
        let texts = parts.compactMap { $0["text"] as? String }
        return texts.count == parts.count ? joined(texts) : parts
    }

    private static func assistantMessage(_ blocks: [Any], param: String) throws(GatewayError) -> JSONObject {
        var texts: [String] = []
        var toolCalls: [Any] = []
        for (index, item) in blocks.enumerated() {
            let blockParam = "\(param)[\(index)]"
            let block = try contentBlock(item, param: blockParam)
            switch block.type {
            case "text": texts.append(try text(of: block.fields, param: blockParam))
            case "tool_use": toolCalls.append(try toolCall(block.fields, param: blockParam))
            default:
                // Thinking and server-tool blocks were produced for Anthropic; an OpenAI provider cannot take them back.
                continue
            }
        }
        var message: JSONObject = ["role": "assistant"]
        if !texts.isEmpty || toolCalls.isEmpty { message["content"] = joined(texts) }
        if !toolCalls.isEmpty { message["tool_calls"] = toolCalls }
        return message
    }

    private static func toolCall(_ block: JSONObject, param: String) throws(GatewayError) -> JSONObject {
        guard let id = block["id"] as? String, !id.isEmpty else {
            throw invalid("\(param).id", "Input should be a non-empty string")
        }
        guard let name = block["name"] as? String, !name.isEmpty else {
            throw invalid("\(param).name", "Input should be a non-empty string")
        }
        let input = block["input"] ?? JSONObject()
        guard input is JSONObject else { throw invalid("\(param).input", "Input should be an object") }
        let arguments = String(decoding: JSONValue.encode(input), as: UTF8.self)
        return ["id": id, "type": "function", "function": ["name": name, "arguments": arguments]]
    }

    /// A tool result's text (an error marked as such) and any images it holds.
    private static func toolResult(_ block: JSONObject, param: String) throws(GatewayError)
        -> (text: String, images: [JSONObject])
    {
        var texts: [String] = []
        var images: [JSONObject] = []
        switch block["content"] {
        case nil, is NSNull: break
        case let text as String: texts.append(text)
        case let blocks as [Any]:
            for (index, item) in blocks.enumerated() {
                let blockParam = "\(param).content[\(index)]"
                let inner = try contentBlock(item, param: blockParam)
                switch inner.type {
                case "text": texts.append(try text(of: inner.fields, param: blockParam))
                case "image": images.append(try imagePart(inner.fields, param: blockParam))
                default:
                    throw unsupported(inner.type, param: blockParam)
                }
            }
        default:
            throw invalid("\(param).content", "Input should be a string or a list of content blocks")
        }
        let text = joined(texts)
        return (JSONValue.bool(block["is_error"]) == true ? "Error: " + text : text, images)
    }

    private static func imagePart(_ block: JSONObject, param: String) throws(GatewayError) -> JSONObject {
        let source = block["source"] as? JSONObject
        let url: String
        switch source?["type"] as? String {
        case "base64":
            guard let mediaType = source?["media_type"] as? String, let data = source?["data"] as? String else {
                throw invalid("\(param).source", "A base64 source needs a string 'media_type' and 'data'")
            }
            url = "data:\(mediaType);base64,\(data)"
        case "url":
            guard let location = source?["url"] as? String else {
                throw invalid("\(param).source.url", "Input should be a string")
            }
            url = location
        default:
            throw invalid("\(param).source", "Input should be a base64 or url image source")
        }
        return ["type": "image_url", "image_url": ["url": url]]
    }

    private static func contentBlock(_ value: Any, param: String) throws(GatewayError) -> (type: String, fields: JSONObject) {
        guard let fields = value as? JSONObject, let type = fields["type"] as? String else {
            throw invalid(param, "Input should be a content block object with a string 'type'")
        }
        return (type, fields)
    }

    private static func text(of block: JSONObject, param: String) throws(GatewayError) -> String {
        guard let text = block["text"] as? String else { throw invalid("\(param).text", "Input should be a valid string") }
        return text
    }

    private static func stopSequences(_ value: Any?) throws(GatewayError) -> [String]? {
        guard isPresent(value) else { return nil }
        guard let list = value as? [Any], let strings = list as? [String] else {
            throw invalid("stop_sequences", "Input should be a list of strings")
        }
        return strings
    }

    /// Client tools as OpenAI function tools; Anthropic's server tools (a `type` other than `custom`) are left out,
    /// since only Anthropic can run them.
    private static func functionTools(_ value: Any?) throws(GatewayError) -> [Any] {
        guard isPresent(value) else { return [] }
        guard let list = value as? [Any] else { throw invalid("tools", "Input should be a valid list") }
        var tools: [Any] = []
        for (index, item) in list.enumerated() {
            let param = "tools[\(index)]"
            guard let tool = item as? JSONObject else { throw invalid(param, "Input should be an object") }
            if isPresent(tool["type"]) && tool["type"] as? String != "custom" { continue }
            guard let name = tool["name"] as? String, !name.isEmpty else {
                throw invalid("\(param).name", "Input should be a non-empty string")
            }
            guard let schema = tool["input_schema"] as? JSONObject else {
                throw invalid("\(param).input_schema", "Input should be an object")
            }
            var function: JSONObject = ["name": name, "parameters": schema]
            if let description = tool["description"] as? String { function["description"] = description }
            if let strict = JSONValue.bool(tool["strict"]) { function["strict"] = strict }
            tools.append(["type": "function", "function": function])
        }
        return tools
    }

    private static func toolChoice(_ value: Any?) throws(GatewayError) -> (openAI: Any, disableParallelToolUse: Bool)? {
        guard isPresent(value) else { return nil }
        guard let choice = value as? JSONObject, let type = choice["type"] as? String else {
            throw invalid("tool_choice", "Input should be an object with a string 'type'")
        }
        let openAI: Any
        switch type {
        case "auto": openAI = "auto"
        case "any": openAI = "required"
        case "none": openAI = "none"
        case "tool":
            guard let name = choice["name"] as? String, !name.isEmpty else {
                throw invalid("tool_choice.name", "Input should be a non-empty string")
            }
            openAI = ["type": "function", "function": ["name": name]]
        default:
            throw invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
        }
        return (openAI, JSONValue.bool(choice["disable_parallel_tool_use"]) == true)
    }

    private static func joined(_ texts: [String]) -> String { texts.joined(separator: "\n\n") }

    private static func isPresent(_ value: Any?) -> Bool { value != nil && !(value is NSNull) }

    private static func missing(_ param: String) -> GatewayError {
        .invalidRequest("\(param): Field required", param: param, code: "missing_required_parameter")
    }

    private static func invalid(_ param: String, _ problem: String) -> GatewayError {
        .invalidRequest("\(param): \(problem)", param: param, code: "invalid_value")
    }

    /// Blocks an OpenAI provider has no counterpart for (documents, search results, …).
    private static func unsupported(_ type: String, param: String) -> GatewayError {
        invalid(param, "Content blocks of type '\(GatewayError.clipped(type))' cannot be sent to this model's provider")
    }
}
