import Foundation
import NIOCore

/// The built-in `echo` provider (`type: echo`): builds requests like an OpenAI upstream, then answers them
/// locally, repeating the last user message (or prompt). It streams word by word, reports usage (estimated from
/// characters) and serves embeddings, so the shipped config works with no network and no keys.
public struct EchoKind: ProviderKind {
    public init() {}

    public var name: String { "echo" }
    public var callsUpstream: Bool { false }
    public var nativeDialect: Dialect? { .openAI }

    public func makeRequest(
        _ request: InboundRequest, provider: ProviderConfig, credential: String, upstreamStream: Bool,
        clientHeaders: [HeaderField]
    ) throws(GatewayError) -> UpstreamRequest {
        let canonical = try request.requireCanonical(by: name)
        return UpstreamRequest(
            url: "echo:" + canonical.endpoint.upstreamPath, headers: [],
            body: canonical.upstreamBody(provider: provider, stream: upstreamStream), endpoint: canonical.endpoint,
            stream: upstreamStream
        )
    }

    public func respondLocally(to request: UpstreamRequest) -> LocalResponse? {
        EchoResponder.respond(to: request)
    }
}

/// A complete local answer: status, content type and the body in the pieces a network would deliver.
public struct LocalResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var chunks: [ByteBuffer]
}

public enum EchoResponder {
    public static func respond(to request: UpstreamRequest, now: Date = Date()) -> LocalResponse {
        guard let body = (try? JSONSerialization.jsonObject(with: Data(request.body.readableBytesView))) as? [String: Any]
        else {
            let error = GatewayError.invalidJSON("echo provider")
            return LocalResponse(status: 400, contentType: "application/json", chunks: [ByteBuffer(bytes: error.body)])
        }
        let model = body["model"] as? String ?? "echo"
        let created = Int(now.timeIntervalSince1970)
        switch request.endpoint {
        case .embeddings:
            return json(embeddings(body, model: model))
        case .completions:
            let prompt = promptText(body["prompt"])
            let id = "cmpl-echo-\(randomHex())"
            let usage = estimateUsage(prompt: prompt, completion: prompt)
            guard request.stream else {
                return json([
                    "id": id, "object": "text_completion", "created": created, "model": model,
                    "choices": [["index": 0, "text": prompt, "logprobs": NSNull(), "finish_reason": "stop"]],
                    "usage": usage.jsonObject,
                ])
            }
            let base: [String: Any] = ["id": id, "object": "text_completion", "created": created, "model": model]
            let pieces = words(prompt).map { ["index": 0, "text": $0, "logprobs": NSNull(), "finish_reason": NSNull()] }
            let finish: [String: Any] = ["index": 0, "text": "", "logprobs": NSNull(), "finish_reason": "stop"]
            return sse(base: base, choices: pieces + [finish], usage: includeUsage(body) ? usage : nil)
        case .chatCompletions:
            let (reply, promptCharacters) = chatReply(body["messages"])
            let id = "chatcmpl-echo-\(randomHex())"
            let usage = estimateUsage(promptCharacters: promptCharacters, completion: reply)
            guard request.stream else {
                return json([
                    "id": id, "object": "chat.completion", "created": created, "model": model,
                    "choices": [[
                        "index": 0, "message": ["role": "assistant", "content": reply], "logprobs": NSNull(),
                        "finish_reason": "stop",
                    ]],
                    "usage": usage.jsonObject,
                ])
            }
            let base: [String: Any] = ["id": id, "object": "chat.completion.chunk", "created": created, "model": model]
            func choice(_ delta: [String: Any], finish: Any = NSNull()) -> [String: Any] {
                ["index": 0, "delta": delta, "logprobs": NSNull(), "finish_reason": finish]
            }
            let choices =
                [choice(["role": "assistant", "content": ""])] + words(reply).map { choice(["content": $0]) }
                + [choice([:], finish: "stop")]
            return sse(base: base, choices: choices, usage: includeUsage(body) ? usage : nil)
        }
    }

    private static func json(_ object: [String: Any]) -> LocalResponse {
        LocalResponse(status: 200, contentType: "application/json", chunks: [ByteBuffer(bytes: JSONValue.encode(object))])
    }

    private static func sse(base: [String: Any], choices: [[String: Any]], usage: TokenUsage?) -> LocalResponse {
        var chunks: [ByteBuffer] = choices.map { choice in
            var chunk = base
            chunk["choices"] = [choice]
            if usage != nil { chunk["usage"] = NSNull() }
            return SSEEvent.encode(data: JSONValue.encode(chunk))
        }
        if let usage {
            var chunk = base
            chunk["choices"] = [Any]()
            chunk["usage"] = usage.jsonObject
            chunks.append(SSEEvent.encode(data: JSONValue.encode(chunk)))
        }
        chunks.append(SSEEvent.done)
        return LocalResponse(status: 200, contentType: "text/event-stream", chunks: chunks)
    }

    private static func includeUsage(_ body: [String: Any]) -> Bool {
        JSONValue.bool((body["stream_options"] as? [String: Any])?["include_usage"]) ?? false
    }

    /// The last user message's text, and the characters of all messages (for the usage estimate).
    private static func chatReply(_ messages: Any?) -> (String, Int) {
        var reply = ""
        var characters = 0
        for case let message as [String: Any] in messages as? [Any] ?? [] {
            let text = contentText(message["content"])
            characters += text.count
            if message["role"] as? String == "user" { reply = text }
        }
        return (reply, characters)
    }

    private static func contentText(_ content: Any?) -> String {
        if let text = content as? String { return text }
        let parts = (content as? [Any] ?? []).compactMap { part -> String? in
            guard let part = part as? [String: Any], part["type"] as? String == "text" else { return nil }
            return part["text"] as? String
        }
        return parts.joined(separator: "\n")
    }

    private static func promptText(_ prompt: Any?) -> String {
        if let text = prompt as? String { return text }
        if let list = prompt as? [Any], let first = list.first as? String { return first }
        return ""
    }

    /// Splits text into words that keep their leading spaces, so the pieces concatenate back exactly.
    static func words(_ text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        for character in text {
            if character == " ", !current.isEmpty, current.last != " " {
                pieces.append(current)
                current = ""
            }
            current.append(character)
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    private static func estimateUsage(prompt: String, completion: String) -> TokenUsage {
        estimateUsage(promptCharacters: prompt.count, completion: completion)
    }

    /// Echo's usage is an estimate, but it reports it as an upstream would, so it counts as reported usage.
    private static func estimateUsage(promptCharacters: Int, completion: String) -> TokenUsage {
        var usage = UsageEstimate.usage(promptCharacters: promptCharacters, completionCharacters: completion.count)
        usage.estimated = false
        return usage
    }

    private static func embeddings(_ body: [String: Any], model: String) -> [String: Any] {
        let inputs: [String]
        if let text = body["input"] as? String {
            inputs = [text]
        } else {
            inputs = (body["input"] as? [Any] ?? []).map { ($0 as? String) ?? "\($0)" }
        }
        let data = inputs.enumerated().map { index, text -> [String: Any] in
            ["object": "embedding", "index": index, "embedding": vector(for: text)]
        }
        let tokens = UsageEstimate.tokens(characters: inputs.reduce(0) { $0 + $1.count })
        return [
            "object": "list", "data": data, "model": model,
            "usage": ["prompt_tokens": tokens, "total_tokens": tokens],
        ]
    }

    /// A deterministic unit vector of 8 dimensions derived from the text (FNV-1a seeded per dimension).
    static func vector(for text: String) -> [Double] {
        let raw = (0..<8).map { dimension -> Double in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325 &+ UInt64(dimension)
            for byte in text.utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
            return Double(hash % 20_001) / 10_000 - 1
        }
        let norm = max(raw.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-9)
        return raw.map { ($0 / norm * 1_000_000).rounded() / 1_000_000 }
    }

    private static func randomHex() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }
}
