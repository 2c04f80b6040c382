import Foundation
import NIOCore

/// Sber's GigaChat (`type: gigachat`): endpoint `https://gigachat.devices.sberbank.ru/api/v1`. `api_key` is the
/// authorization key, exchanged at `auth_url` for an access token (30 minutes) that the chat requests carry as
/// Bearer. Requests and answers are translated (GigaChat's functions differ from OpenAI's tools).
public struct GigaChatKind: ProviderKind {
    public init() {}

    public var name: String { "gigachat" }
    public var nativeDialect: Dialect? { nil }
    public static let defaultAuthURL = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth"
    public static let defaultScope = "GIGACHAT_API_PERS"

    public var settings: [ProviderSetting] {
        [
            ProviderSetting("auth_url", default: { _ in Self.defaultAuthURL }, problem: ProviderSetting.urlProblem),
            ProviderSetting("scope", default: { _ in Self.defaultScope }, problem: Self.scopeProblem),
        ]
    }

    static func scopeProblem(_ scope: String) -> String? {
        let valid = !scope.isEmpty && scope.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (48...57).contains($0) || (65...90).contains($0) }
        return valid ? nil : "must be a scope name such as GIGACHAT_API_PERS, GIGACHAT_API_B2B or GIGACHAT_API_CORP"
    }

    public var tokenExchange: (any TokenExchange)? { GigaChatTokenExchange() }

    public func makeRequest(
        _ request: InboundRequest, provider: ProviderConfig, credential: String, upstreamStream: Bool,
        clientHeaders: [HeaderField]
    ) throws(GatewayError) -> UpstreamRequest {
        let body = try GigaChatRequestBuilder.chatBody(
            fromChat: request.canonicalChat(by: name), model: provider.model, stream: upstreamStream
        )
        return UpstreamRequest(
            url: provider.endpoint + "/chat/completions",
            headers: HeaderForwarding.upstreamHeaders(
                clientHeaders, stream: upstreamStream, credential: HeaderField("authorization", "Bearer \(credential)"),
                provider: provider
            ),
            body: ByteBuffer(bytes: JSONValue.encode(body)), endpoint: .chatCompletions, stream: upstreamStream
        )
    }

    public func streamDecoder(for request: InboundRequest, provider: ProviderConfig) -> any UpstreamStreamDecoder {
        GigaChatStreamDecoder()
    }

    public func canonicalAnswer(
        _ body: ByteBuffer, for request: InboundRequest, provider: ProviderConfig
    ) throws(GatewayError) -> JSONObject {
        try GigaChatAnswer.chatCompletion(fromResponse: JSONValue.answer(body))
    }
}

/// GigaChat's OAuth: `POST <auth_url>` with `Authorization: Basic <api_key>`, a fresh `RqUID` and `scope=…`.
struct GigaChatTokenExchange: TokenExchange {
    func tokenRequest(for provider: ProviderConfig) -> UpstreamRequest {
        let scope = provider.settings["scope"] ?? GigaChatKind.defaultScope
        return UpstreamRequest(
            url: provider.settings["auth_url"] ?? GigaChatKind.defaultAuthURL,
            headers: [
                HeaderField("content-type", "application/x-www-form-urlencoded"),
                HeaderField("accept", "application/json"),
                HeaderField("rquid", UUID().uuidString.lowercased()),
                HeaderField("authorization", "Basic \(provider.apiKey)"),
            ],
            body: ByteBuffer(string: GigaChatToken.formBody(scope: scope)), endpoint: .chatCompletions, stream: false
        )
    }

    func token(fromAnswer body: ByteBuffer, now: Date) throws(GatewayError) -> AccessToken {
        let token = try GigaChatToken(responseBody: body, now: now)
        return AccessToken(value: token.accessToken, expiresAt: token.expiresAt)
    }
}
