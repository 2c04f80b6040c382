import Foundation
import NIOCore

/// Google's Gemini API (`type: gemini`): endpoint `https://generativelanguage.googleapis.com/v1beta`, requests to
/// `<endpoint>/models/<model>:generateContent` or `:streamGenerateContent?alt=sse` with `x-goog-api-key`. Gemini's
/// native routes are passed through byte-exact but for the model in the path and the key; OpenAI clients are
/// translated.
public struct GeminiKind: ProviderKind {
    public init() {}

    public var name: String { "gemini" }
    public var nativeDialect: Dialect? { .gemini }

    public func makeRequest(
        _ request: InboundRequest, provider: ProviderConfig, credential: String, upstreamStream: Bool,
        clientHeaders: [HeaderField]
    ) throws(GatewayError) -> UpstreamRequest {
        let model = provider.model.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(.init(charactersIn: "/?#:"))) ?? provider.model
        let url: String
        let body: ByteBuffer
        if case .gemini(let call) = request.native {
            url = "\(provider.endpoint)/models/\(model):\(call.method)" + (call.query.isEmpty ? "" : "?\(call.query)")
            body = call.body
        } else {
            let chat = try request.canonicalChat(by: name)
            body = ByteBuffer(bytes: JSONValue.encode(try GeminiRequestBuilder.generateContentBody(fromChat: chat)))
            url = "\(provider.endpoint)/models/\(model)" + (upstreamStream ? ":streamGenerateContent?alt=sse" : ":generateContent")
        }
        return UpstreamRequest(
            url: url,
            headers: HeaderForwarding.upstreamHeaders(
                clientHeaders, stream: upstreamStream,
                credential: credential.isEmpty ? nil : HeaderField("x-goog-api-key", credential), provider: provider
            ),
            body: body, endpoint: .chatCompletions, stream: upstreamStream
        )
    }

    public func streamDecoder(for request: InboundRequest, provider: ProviderConfig) -> any UpstreamStreamDecoder {
        GeminiStreamDecoder(model: provider.model, created: Int(Date().timeIntervalSince1970), id: Self.completionID())
    }

    public func canonicalAnswer(
        _ body: ByteBuffer, for request: InboundRequest, provider: ProviderConfig
    ) throws(GatewayError) -> JSONObject {
        try GeminiAnswer.chatCompletion(
            fromResponse: JSONValue.answer(body), model: provider.model, created: Int(Date().timeIntervalSince1970),
            id: Self.completionID()
        )
    }

    static func completionID() -> String {
        "chatcmpl-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }
}
