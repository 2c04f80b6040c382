import Foundation
import NIOCore

/// A client's request as it arrived, in its own API, with the canonical (OpenAI chat) form every provider kind can
/// be served from.
public struct InboundRequest: Sendable {
    public let api: ClientAPI
    /// The public model name the client asked for.
    public let model: String
    public let stream: Bool
    /// The request in OpenAI form; nil when it has none (a request using what only its own API has, such as an
    /// Anthropic document block or Gemini's Google Search), and then only providers of its dialect can serve it.
    public let canonical: ClientRequest?
    /// Why there is no canonical form.
    public let untranslatable: GatewayError?
    /// The client's own request, for providers that speak its dialect.
    public let native: NativeRequest

    /// An OpenAI request: the canonical form is the request itself.
    public init(openAI request: ClientRequest) {
        api = .openAI(request.endpoint)
        model = request.model
        stream = request.stream
        canonical = request
        untranslatable = nil
        native = .openAI
    }

    /// An Anthropic request: passed through to Anthropic providers, translated for the others when it can be
    /// (documents, for one, reach only Anthropic providers).
    public init(anthropic request: AnthropicMessagesRequest) {
        api = .anthropicMessages
        model = request.model
        stream = request.stream
        native = .anthropic(request)
        (canonical, untranslatable) = Self.canonicalForm { () throws(GatewayError) in try request.chatBody() }
    }

    /// A Gemini request: passed through to Gemini providers, translated for the others when it can be.
    public init(gemini call: GeminiCall) {
        api = .geminiGenerateContent
        model = call.model
        stream = call.stream
        native = .gemini(call)
        (canonical, untranslatable) = Self.canonicalForm { () throws(GatewayError) in
            guard let body = JSONValue.object(call.body.readableBytesView) else { throw .invalidJSON("the body") }
            return try GeminiChatRequest.chatBody(fromGenerateContent: body, model: call.model, stream: call.stream)
        }
    }

    /// A Responses API request: passed through to providers marked `responses: true`, translated to chat
    /// completions for the others when it can be (tools only the Responses API has reach only those providers).
    public init(responses call: ResponsesCall) {
        api = .responses
        model = call.request.model
        stream = call.request.stream
        native = .responses(call)
        (canonical, untranslatable) = Self.canonicalForm { () throws(GatewayError) in try call.request.chatBody() }
    }

    /// The chat-completions request a translation makes, or why there is none.
    private static func canonicalForm(
        _ translate: () throws(GatewayError) -> JSONObject
    ) -> (ClientRequest?, GatewayError?) {
        do throws(GatewayError) {
            let chat = try translate()
            return (try ClientRequest(endpoint: .chatCompletions, body: ByteBuffer(bytes: JSONValue.encode(chat))), nil)
        } catch {
            return (nil, error)
        }
    }

    /// Whether an OpenAI client asked for the usage chunk of its stream.
    public var clientWantsUsage: Bool {
        if case .openAI = native { return canonical?.includeUsage ?? false }
        return false
    }

    /// Characters of prompt text, for estimating tokens when the upstream reports none.
    public var promptCharacters: Int {
        switch native {
        case .openAI, .anthropic, .responses: canonical.map(UsageEstimate.promptCharacters) ?? 0
        case .gemini(let call): call.promptCharacters
        }
    }

    /// The context a provider needs for this request, estimated: the prompt's tokens (about four characters
    /// each) plus the most tokens the client lets the answer have (`max_completion_tokens`, `max_tokens`,
    /// Gemini's `generationConfig.maxOutputTokens`), when it says.
    public var contextTokensEstimate: Int {
        let requestedOutput: Any?
        switch native {
        case .openAI, .anthropic, .responses:
            let body = canonical.flatMap { JSONValue.object($0.body.readableBytesView) }
            requestedOutput = body?["max_completion_tokens"] ?? body?["max_tokens"]
        case .gemini(let call):
            requestedOutput = (JSONValue.object(call.body.readableBytesView)?["generationConfig"] as? JSONObject)?["maxOutputTokens"]
        }
        let output = (requestedOutput as? Double).map { $0.isFinite && $0 > 0 ? Int(min($0, 1e12)) : 0 } ?? 0
        return UsageEstimate.tokens(characters: promptCharacters) + output
    }
}

/// The client's own request, kept for providers of its dialect.
public enum NativeRequest: Sendable {
    case openAI
    case anthropic(AnthropicMessagesRequest)
    case gemini(GeminiCall)
    case responses(ResponsesCall)
}

/// A call to Gemini's native `models/{model}:{method}`, passed through to Gemini providers untouched except for the
/// model in the path and the key.
public struct GeminiCall: Sendable {
    public let model: String
    /// `generateContent` or `streamGenerateContent`.
    public let method: String
    /// The query string without the client's `key`, or "" (`alt=sse` and others kept as sent).
    public let query: String
    public let body: ByteBuffer

    public static let methods: Set<String> = ["generateContent", "streamGenerateContent"]

    /// - Parameter modelAndMethod: the path segment `gemini-2.5-flash:generateContent`.
    public init(modelAndMethod: String, query: String, body: ByteBuffer) throws(GatewayError) {
        guard let colon = modelAndMethod.lastIndex(of: ":") else {
            throw .notFound(path: "models/\(modelAndMethod)")
        }
        let model = String(modelAndMethod[..<colon])
        let method = String(modelAndMethod[modelAndMethod.index(after: colon)...])
        guard Self.methods.contains(method) else { throw .notFound(path: "models/\(modelAndMethod)") }
        guard !model.isEmpty else {
            throw .invalidRequest("The model name in the path must not be empty.", param: "model")
        }
        guard (try? JSONObjectScan(body)) != nil else {
            throw .invalidJSON("the body must be a JSON object")
        }
        self.model = model
        self.method = method
        self.query = Self.removingKey(from: query)
        self.body = body
    }

    /// True for `streamGenerateContent` with `alt=sse`; without it Gemini streams one JSON array, which is
    /// relayed as a whole answer.
    public var stream: Bool {
        method == "streamGenerateContent" && !wantsArray
    }

    /// `streamGenerateContent` without `alt=sse`: the answer is a JSON array of responses.
    public var wantsArray: Bool {
        method == "streamGenerateContent" && !query.split(separator: "&").contains { $0.lowercased() == "alt=sse" }
    }

    /// The query without `key=` parameters (the client's gateway key never travels upstream).
    static func removingKey(from query: String) -> String {
        query.split(separator: "&", omittingEmptySubsequences: true)
            .filter { !$0.hasPrefix("key=") && $0 != "key" }
            .joined(separator: "&")
    }

    var promptCharacters: Int {
        guard let object = JSONValue.object(body.readableBytesView) else { return 0 }
        var total = 0
        for case let content as JSONObject in object["contents"] as? [Any] ?? [] {
            for case let part as JSONObject in content["parts"] as? [Any] ?? [] {
                total += (part["text"] as? String)?.count ?? 0
            }
        }
        return total
    }
}
