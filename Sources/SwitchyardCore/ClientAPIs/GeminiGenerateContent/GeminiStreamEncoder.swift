import NIOCore

/// Canonical chunks → Gemini SSE events (`data: <GenerateContentResponse>\r\n\r\n`; no [DONE]).
///
/// Content and reasoning go out as they arrive, one event per chunk. Gemini sends each function call whole, so
/// tool-call fragments are collected per choice and index and sent as functionCall parts with the choice's
/// finishReason. OpenAI reports usage in a chunk after the finish, so finished candidates are held and `finish()`
/// sends them with `usageMetadata` in one last event, as Gemini's last event carries both; usage with no candidate
/// to go with goes alone, as `{"candidates":[],"usageMetadata":…}`. A choice the upstream never finished (its
/// stream ended by `[DONE]` alone) is finished there with STOP.
public struct GeminiStreamEncoder: ClientStreamEncoder {
    private let model: String
    private var responseID: String?
    /// Tool calls not yet sent, by choice and tool-call index.
    private var toolCalls: [Int: [Int: (name: String, arguments: String)]] = [:]
    /// Choices seen without a finish reason yet.
    private var openChoices: Set<Int> = []
    private var finishedCandidates: [JSONObject] = []
    private var usageMetadata: JSONObject?

    public init(model: String) {
        self.model = model
    }

    public mutating func encode(_ chunk: JSONObject) -> [ByteBuffer] {
        if responseID == nil, let id = chunk["id"] as? String, !id.isEmpty { responseID = id }
        if let usage = GeminiAnswerEncoder.usageMetadata(chunk["usage"]) { usageMetadata = usage }
        var streaming: [JSONObject] = []
        for (position, value) in (chunk["choices"] as? [Any] ?? []).enumerated() {
            guard let choice = value as? JSONObject else { continue }
            let index = JSONValue.count(choice["index"]) ?? position
            let delta = choice["delta"] as? JSONObject ?? [:]
            var parts = GeminiAnswerEncoder.textParts(reasoning: delta["reasoning_content"], text: delta["content"])
            for case let call as JSONObject in delta["tool_calls"] as? [Any] ?? [] {
                collect(call, choice: index)
            }
            if let reason = choice["finish_reason"] as? String {
                openChoices.remove(index)
                parts += takeToolCalls(choice: index)
                finishedCandidates.append(
                    GeminiAnswerEncoder.candidate(
                        index: index, parts: parts, finishReason: GeminiAnswerEncoder.finishReason(reason)
                    ))
            } else {
                openChoices.insert(index)
                if !parts.isEmpty { streaming.append(GeminiAnswerEncoder.candidate(index: index, parts: parts, finishReason: nil)) }
            }
        }
        return streaming.isEmpty ? [] : [event(candidates: streaming, usage: nil)]
    }

    public mutating func finish() -> [ByteBuffer] {
        var candidates = finishedCandidates
        for index in openChoices {
            candidates.append(
                GeminiAnswerEncoder.candidate(
                    index: index, parts: takeToolCalls(choice: index), finishReason: GeminiAnswerEncoder.finishReason(nil)
                ))
        }
        candidates.sort { ($0["index"] as? Int ?? 0) < ($1["index"] as? Int ?? 0) }
        defer {
            finishedCandidates = []
            openChoices = []
            usageMetadata = nil
        }
        guard !candidates.isEmpty || usageMetadata != nil else { return [] }
        return [event(candidates: candidates, usage: usageMetadata)]
    }

    public func errorEvent(_ error: GatewayError) -> ByteBuffer {
        Self.frame(error.geminiBody)
    }

    /// Adds a tool-call delta: the first fragment names the function, every one may add argument text.
    private mutating func collect(_ call: JSONObject, choice: Int) {
        let index = JSONValue.count(call["index"]) ?? 0
        let function = call["function"] as? JSONObject
        var pending = toolCalls[choice, default: [:]][index] ?? ("", "")
        if pending.name.isEmpty, let name = function?["name"] as? String { pending.name = name }
        pending.arguments += function?["arguments"] as? String ?? ""
        toolCalls[choice, default: [:]][index] = pending
    }

    private mutating func takeToolCalls(choice: Int) -> [JSONObject] {
        guard let calls = toolCalls.removeValue(forKey: choice) else { return [] }
        return calls.sorted { $0.key < $1.key }.map {
            GeminiAnswerEncoder.functionCallPart(name: $0.value.name, arguments: $0.value.arguments)
        }
    }

    private func event(candidates: [JSONObject], usage: JSONObject?) -> ByteBuffer {
        var response: JSONObject = ["candidates": candidates, "modelVersion": model]
        if let responseID { response["responseId"] = responseID }
        if let usage { response["usageMetadata"] = usage }
        return Self.frame(JSONValue.encode(response))
    }

    /// Gemini frames its events with CRLF.
    private static func frame(_ json: [UInt8]) -> ByteBuffer {
        var event = ByteBuffer(string: "data: ")
        event.writeBytes(json)
        event.writeString("\r\n\r\n")
        return event
    }
}
