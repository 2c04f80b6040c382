import Foundation
import NIOCore

extension ClientAPI {
    /// Encodes canonical chunks for this API's clients.
    public func streamEncoder(for request: InboundRequest) -> any ClientStreamEncoder {
        switch self {
        case .anthropicMessages:
            AnthropicStreamEncoder(model: request.model, inputTokensEstimate: UsageEstimate.tokens(characters: request.promptCharacters))
        case .geminiGenerateContent:
            GeminiStreamEncoder(model: request.model)
        case .responses:
            ResponsesStreamEncoder(
                envelope: request.responseEnvelope,
                inputTokensEstimate: UsageEstimate.tokens(characters: request.promptCharacters)
            )
        case .openAI:
            OpenAIStreamEncoder(includeUsage: request.clientWantsUsage)
        }
    }

    /// A canonical `chat.completion` as this API's answer body.
    public func encodeAnswer(_ completion: JSONObject, for request: InboundRequest) -> [UInt8] {
        switch self {
        case .anthropicMessages:
            JSONValue.encode(AnthropicMessageEncoder.message(fromChatCompletion: completion, model: request.model))
        case .geminiGenerateContent:
            geminiAnswer(GeminiAnswerEncoder.response(fromChatCompletion: completion, model: request.model), for: request)
        case .responses:
            JSONValue.encode(ResponsesAnswerEncoder.response(fromChatCompletion: completion, envelope: request.responseEnvelope))
        case .openAI:
            JSONValue.encode(completion)
        }
    }

    /// A Gemini answer, as the one-element array `streamGenerateContent` without `alt=sse` returns.
    private func geminiAnswer(_ response: JSONObject, for request: InboundRequest) -> [UInt8] {
        if case .gemini(let call) = request.native, call.wantsArray { return JSONValue.encode([response]) }
        return JSONValue.encode(response)
    }

    /// An error in this API's shape.
    public func errorBody(_ error: GatewayError) -> [UInt8] {
        dialect.errorBody(error)
    }

    /// The tokens a whole answer of this API reports (nil: none); throws when the body is not an answer.
    public func usage(ofAnswer body: ByteBuffer) throws(GatewayError) -> TokenUsage? {
        if self == .responses { return ResponsesAnswer.usage(try JSONValue.answer(body)["usage"]) }
        return try dialect.usage(ofAnswer: body)
    }
}

extension InboundRequest {
    /// The identity of the response a translated `/v1/responses` answer gets.
    var responseEnvelope: ResponseEnvelope {
        guard case .responses(let call) = native else {
            return ResponseEnvelope(
                id: ResponseEnvelope.makeID(), createdAt: Int(Date().timeIntervalSince1970), model: model, echo: [:]
            )
        }
        return call.envelope
    }
}

extension Dialect {
    public func errorBody(_ error: GatewayError) -> [UInt8] {
        switch self {
        case .openAI: error.body
        case .anthropic: error.anthropicBody
        case .gemini: error.geminiBody
        }
    }

    /// The tokens a whole answer of this dialect reports (nil: none); throws when the body is not an answer.
    public func usage(ofAnswer body: ByteBuffer) throws(GatewayError) -> TokenUsage? {
        switch self {
        case .openAI:
            return try body.withUnsafeReadableBytes { bytes throws(GatewayError) in
                guard let scan = try? JSONObjectScan.scanObject(bytes, in: 0..<bytes.count) else {
                    throw .invalidUpstreamAnswer
                }
                return TokenUsage(in: scan, of: bytes)
            }
        case .anthropic:
            return AnthropicAnswer.usage(try JSONValue.answer(body)["usage"])
        case .gemini:
            // `streamGenerateContent` without `alt=sse` answers with an array of responses; the last has the usage.
            let parsed = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))
            guard let answer = (parsed as? JSONObject) ?? ((parsed as? [Any])?.last as? JSONObject) else {
                throw .invalidUpstreamAnswer
            }
            return GeminiAnswer.usage(answer["usageMetadata"])
        }
    }
}

extension GatewayError {
    /// OpenAI's error type for an upstream status.
    public static func openAIType(forStatus status: Int) -> String {
        switch status {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 429: "rate_limit_error"
        case 400..<500: "invalid_request_error"
        default: "api_error"
        }
    }
}
