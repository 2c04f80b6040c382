import Foundation
import NIOCore

/// Builds one non-stream answer (`chat.completion` or `text_completion`) from an upstream SSE stream, for clients
/// that did not ask to stream when the provider can only stream.
public struct StreamAggregator {
    public let endpoint: APIEndpoint
    private var envelope: [String: Any] = [:]
    private var choices: [Int: Choice] = [:]
    public private(set) var usage: TokenUsage?
    public private(set) var sawDone = false
    public private(set) var sawFinishReason = false
    public private(set) var chunkCount = 0

    private struct ToolCall {
        var id: Any = NSNull()
        var type = "function"
        var name = ""
        var arguments = ""
    }

    private struct Choice {
        var role = "assistant"
        var content = ""
        var hasContent = false
        var refusal: String?
        var reasoning: String?
        var toolCalls: [Int: ToolCall] = [:]
        var functionCall: (name: String, arguments: String)?
        var finishReason: Any = NSNull()
    }

    public init(endpoint: APIEndpoint) {
        self.endpoint = endpoint
    }

    /// Adds one event's data; throws when the upstream reports an error in-stream or sends something that is not JSON.
    public mutating func add(data: ByteBuffer) throws(GatewayError) {
        if SSEEvent.isDone(data: data) {
            sawDone = true
            return
        }
        guard data.readableBytes > 0 else { return }
        guard let chunk = (try? JSONSerialization.jsonObject(with: Data(data.readableBytesView))) as? [String: Any] else {
            throw GatewayError(
                status: 502, type: "api_error", code: "invalid_upstream_response",
                message: "The upstream sent a stream chunk that is not a JSON object."
            )
        }
        if let error = chunk["error"], chunk["choices"] == nil {
            let message = ((error as? [String: Any])?["message"] as? String) ?? "upstream error"
            throw GatewayError(status: 502, type: "api_error", code: "upstream_stream_error", message: message)
        }
        add(chunk: chunk)
    }

    /// Adds one canonical chunk (already checked for errors by its decoder).
    public mutating func add(chunk: JSONObject) {
        chunkCount += 1
        for key in ["id", "created", "model", "system_fingerprint", "service_tier"] where envelope[key] == nil {
            if let value = chunk[key], !(value is NSNull) { envelope[key] = value }
        }
        if let usageObject = chunk["usage"] as? [String: Any], let parsed = TokenUsage(openAIUsage: usageObject) {
            usage = parsed
            envelope["usage"] = usageObject
        }
        for case let choiceObject as [String: Any] in chunk["choices"] as? [Any] ?? [] {
            let index = choiceObject["index"] as? Int ?? 0
            var choice = choices[index] ?? Choice()
            if let reason = choiceObject["finish_reason"], !(reason is NSNull) {
                choice.finishReason = reason
                sawFinishReason = true
            }
            if endpoint == .completions {
                if let text = choiceObject["text"] as? String {
                    choice.content += text
                    choice.hasContent = true
                }
            } else if let delta = choiceObject["delta"] as? [String: Any] {
                if let role = delta["role"] as? String { choice.role = role }
                if let content = delta["content"] as? String {
                    choice.content += content
                    choice.hasContent = true
                }
                if let refusal = delta["refusal"] as? String { choice.refusal = (choice.refusal ?? "") + refusal }
                if let reasoning = delta["reasoning_content"] as? String {
                    choice.reasoning = (choice.reasoning ?? "") + reasoning
                }
                for case let call as [String: Any] in delta["tool_calls"] as? [Any] ?? [] {
                    let callIndex = call["index"] as? Int ?? choice.toolCalls.count
                    var state = choice.toolCalls[callIndex] ?? ToolCall()
                    if let id = call["id"] as? String { state.id = id }
                    if let type = call["type"] as? String { state.type = type }
                    if let function = call["function"] as? [String: Any] {
                        if let name = function["name"] as? String { state.name += name }
                        if let arguments = function["arguments"] as? String { state.arguments += arguments }
                    }
                    choice.toolCalls[callIndex] = state
                }
                if let function = delta["function_call"] as? [String: Any] {
                    var call = choice.functionCall ?? ("", "")
                    call.name += function["name"] as? String ?? ""
                    call.arguments += function["arguments"] as? String ?? ""
                    choice.functionCall = call
                }
            }
            choices[index] = choice
        }
    }

    /// The aggregated answer as JSON bytes.
    public func result() -> [UInt8] {
        JSONValue.encode(resultObject())
    }

    /// The aggregated answer.
    public func resultObject() -> JSONObject {
        var response = envelope
        response["object"] = endpoint == .completions ? "text_completion" : "chat.completion"
        if response["id"] == nil { response["id"] = "" }
        if response["created"] == nil { response["created"] = 0 }
        if response["model"] == nil { response["model"] = "" }
        let indices = choices.isEmpty ? [0] : choices.keys.sorted()
        response["choices"] = indices.map { index -> [String: Any] in
            let choice = choices[index] ?? Choice()
            if endpoint == .completions {
                return ["index": index, "text": choice.content, "logprobs": NSNull(), "finish_reason": choice.finishReason]
            }
            var message: [String: Any] = ["role": choice.role]
            let toolCalls = choice.toolCalls.keys.sorted().map { callIndex -> [String: Any] in
                let call = choice.toolCalls[callIndex]!
                return ["id": call.id, "type": call.type, "function": ["name": call.name, "arguments": call.arguments]]
            }
            message["content"] = choice.hasContent || toolCalls.isEmpty ? choice.content : NSNull()
            if let refusal = choice.refusal { message["refusal"] = refusal }
            if let reasoning = choice.reasoning { message["reasoning_content"] = reasoning }
            if !toolCalls.isEmpty { message["tool_calls"] = toolCalls }
            if let function = choice.functionCall {
                message["function_call"] = ["name": function.name, "arguments": function.arguments]
            }
            return ["index": index, "message": message, "logprobs": NSNull(), "finish_reason": choice.finishReason]
        }
        return response
    }

    /// Characters of generated text so far (for estimating tokens when the upstream reports no usage).
    public var generatedCharacterCount: Int {
        choices.values.reduce(0) { total, choice in
            total + choice.content.count + choice.toolCalls.values.reduce(0) { $0 + $1.arguments.count + $1.name.count }
        }
    }
}

/// Encoding `JSONSerialization` trees with stable key order and unescaped slashes.
public enum JSONValue {
    public static func encode(_ value: Any) -> [UInt8] {
        // Without `.fragmentsAllowed` Foundation traps on a bare scalar; with it, what JSON cannot hold (NaN, a
        // date) throws, and becomes `{}`.
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]
        let data = (try? JSONSerialization.data(withJSONObject: value, options: options)) ?? Data("{}".utf8)
        return Array(data)
    }
}
