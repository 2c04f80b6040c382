/// The wire formats Switchyard speaks, on either side of a request.
public enum Dialect: String, Sendable, CaseIterable {
    /// OpenAI's chat completions (and completions, embeddings); the gateway's canonical form.
    case openAI = "openai"
    /// Anthropic's Messages API.
    case anthropic
    /// Google's Gemini `generateContent`.
    case gemini
}

/// The API a client called: decides how its model and stream flag are read, the shape of its errors and the
/// framing of the stream it gets back.
public enum ClientAPI: Sendable, Equatable {
    case openAI(APIEndpoint)
    /// `POST /v1/messages`.
    case anthropicMessages
    /// `POST /v1beta/models/{model}:generateContent` / `:streamGenerateContent`.
    case geminiGenerateContent
    /// `POST /v1/responses`, OpenAI's Responses API: errors in OpenAI's shape, served byte-exact only by providers
    /// marked `responses: true`.
    case responses

    public var dialect: Dialect {
        switch self {
        case .openAI, .responses: .openAI
        case .anthropicMessages: .anthropic
        case .geminiGenerateContent: .gemini
        }
    }
}

extension ClientAPI {
    /// The API's name in messages.
    public var displayName: String {
        switch self {
        case .openAI(let endpoint): "/v1/\(endpoint.rawValue)"
        case .anthropicMessages: "Anthropic's Messages API"
        case .geminiGenerateContent: "Gemini's native API"
        case .responses: "/v1/responses"
        }
    }
}
