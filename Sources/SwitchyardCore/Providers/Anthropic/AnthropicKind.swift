import Foundation
import NIOCore

/// Anthropic's Messages API (`type: anthropic`): endpoint `https://api.anthropic.com/v1`, requests to
/// `<endpoint>/messages` with `x-api-key` and `anthropic-version`. `/v1/messages` clients are passed through
/// byte-exact but for `model`; OpenAI clients are translated.
public struct AnthropicKind: ProviderKind {
    public init() {}

    public var name: String { "anthropic" }
    public var nativeDialect: Dialect? { .anthropic }
    /// Sent unless the client or `custom_headers` set another.
    public static let defaultVersion = "2023-06-01"

    public func makeRequest(
        _ request: InboundRequest, provider: ProviderConfig, credential: String, upstreamStream: Bool,
        clientHeaders: [HeaderField]
    ) throws(GatewayError) -> UpstreamRequest {
        let body: ByteBuffer
        if case .anthropic(let messages) = request.native {
            body = messages.upstreamBody(model: provider.model, stream: upstreamStream)
        } else {
            let messages = try AnthropicRequestBuilder.messagesBody(
                fromChat: request.canonicalChat(by: name), model: provider.model, stream: upstreamStream
            )
            body = ByteBuffer(bytes: JSONValue.encode(messages))
        }
        return UpstreamRequest(
            url: provider.endpoint + "/messages",
            headers: Self.headers(clientHeaders, stream: upstreamStream, credential: credential, provider: provider),
            body: body, endpoint: .chatCompletions, stream: upstreamStream
        )
    }

    /// `POST <endpoint>/messages/count_tokens` for a `/v1/messages/count_tokens` request.
    public static func countTokensRequest(
        _ request: AnthropicMessagesRequest, provider: ProviderConfig, credential: String, clientHeaders: [HeaderField]
    ) -> UpstreamRequest {
        UpstreamRequest(
            url: provider.endpoint + "/messages/count_tokens",
            headers: headers(clientHeaders, stream: false, credential: credential, provider: provider),
            body: request.upstreamBody(model: provider.model, stream: false), endpoint: .chatCompletions, stream: false
        )
    }

    static func headers(
        _ clientHeaders: [HeaderField], stream: Bool, credential: String, provider: ProviderConfig
    ) -> [HeaderField] {
        var headers = HeaderForwarding.upstreamHeaders(
            clientHeaders, stream: stream, credential: credential.isEmpty ? nil : HeaderField("x-api-key", credential),
            provider: provider
        )
        if !headers.contains(where: { $0.name.lowercased() == "anthropic-version" }) {
            headers.append(HeaderField("anthropic-version", defaultVersion))
        }
        return headers
    }

    public func streamDecoder(for request: InboundRequest, provider: ProviderConfig) -> any UpstreamStreamDecoder {
        AnthropicStreamDecoder(created: Int(Date().timeIntervalSince1970))
    }

    public func canonicalAnswer(
        _ body: ByteBuffer, for request: InboundRequest, provider: ProviderConfig
    ) throws(GatewayError) -> JSONObject {
        try AnthropicAnswer.chatCompletion(fromMessage: JSONValue.answer(body), created: Int(Date().timeIntervalSince1970))
    }
}
