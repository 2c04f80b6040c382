import Foundation
import NIOCore

/// One provider `type`: the settings it reads, how it builds upstream requests, how its answers become canonical,
/// and how its requests are carried out. Kinds are stateless; everything per request lives in the values they make.
public protocol ProviderKind: Sendable {
    /// The `type` value in the config.
    var name: String { get }
    /// Whether requests go over the network (then `endpoint` and `model` are required).
    var callsUpstream: Bool { get }
    /// Settings of this kind beyond the common ones, with their defaults.
    var settings: [ProviderSetting] { get }
    /// The client dialect this kind speaks: clients of it are served byte-exact but for model and credentials.
    var nativeDialect: Dialect? { get }
    /// How an access token is obtained from the provider's `api_key`, for kinds that need one (nil: the key is
    /// the credential).
    var tokenExchange: (any TokenExchange)? { get }
    /// Whether a provider of this kind may be marked `responses: true` (it then serves `/v1/responses` requests
    /// byte-exact at `<endpoint>/responses`).
    var speaksResponsesAPI: Bool { get }

    /// The upstream request for one attempt. `credential` is the key or access token resolved for this attempt.
    func makeRequest(_ request: InboundRequest, provider: ProviderConfig, credential: String, upstreamStream: Bool,
                     clientHeaders: [HeaderField]) throws(GatewayError) -> UpstreamRequest
    /// Reads an upstream stream of this kind into canonical chunks (for clients of another dialect).
    func streamDecoder(for request: InboundRequest, provider: ProviderConfig) -> any UpstreamStreamDecoder
    /// An upstream answer of this kind as a canonical `chat.completion`.
    func canonicalAnswer(_ body: ByteBuffer, for request: InboundRequest, provider: ProviderConfig) throws(GatewayError) -> JSONObject
    /// Relays a stream of this kind to a client of its own dialect.
    func passThroughStream(for request: InboundRequest) -> any StreamTranslator
    /// Answers in-process, for kinds that need no network.
    func respondLocally(to request: UpstreamRequest) -> LocalResponse?
}

extension ProviderKind {
    public var callsUpstream: Bool { true }
    public var settings: [ProviderSetting] { [] }
    public var tokenExchange: (any TokenExchange)? { nil }
    public var speaksResponsesAPI: Bool { false }
    public func respondLocally(to request: UpstreamRequest) -> LocalResponse? { nil }

    /// By default a kind answers in OpenAI's form, which is already canonical.
    public func streamDecoder(for request: InboundRequest, provider: ProviderConfig) -> any UpstreamStreamDecoder {
        OpenAIStreamDecoder()
    }

    public func canonicalAnswer(
        _ body: ByteBuffer, for request: InboundRequest, provider: ProviderConfig
    ) throws(GatewayError) -> JSONObject {
        try JSONValue.answer(body)
    }

    public func passThroughStream(for request: InboundRequest) -> any StreamTranslator {
        if request.api == .responses { return ResponsesPassThrough() }
        return switch nativeDialect {
        case .anthropic: AnthropicPassThrough()
        case .gemini: GeminiPassThrough()
        case .openAI, nil: OpenAIPassThrough(clientWantsUsage: request.clientWantsUsage)
        }
    }

    /// Whether this kind can serve the request: in the client's own dialect, or from its canonical form (kinds of
    /// other dialects translate chat completions only).
    public func canServe(_ request: InboundRequest, provider: ProviderConfig) -> Bool {
        if passesThrough(request, provider: provider) { return true }
        guard let canonical = request.canonical else { return false }
        return nativeDialect == .openAI || canonical.endpoint == .chatCompletions
    }

    /// Whether this attempt relays the client's own dialect unchanged: for the Responses API only to providers
    /// marked `responses: true`.
    public func passesThrough(_ request: InboundRequest, provider: ProviderConfig) -> Bool {
        if request.api == .responses { return speaksResponsesAPI && provider.responses }
        return nativeDialect == request.api.dialect
    }
}

/// A setting one provider kind reads (a string), with its default and its check.
public struct ProviderSetting: Sendable {
    public var name: String
    /// The value when the provider does not set it (nil: none).
    public var defaultValue: @Sendable (ProviderConfig) -> String?
    /// A problem with a value, or nil when it is acceptable.
    public var problem: @Sendable (String) -> String?

    public init(
        _ name: String, default defaultValue: @escaping @Sendable (ProviderConfig) -> String? = { _ in nil },
        problem: @escaping @Sendable (String) -> String? = { _ in nil }
    ) {
        self.name = name
        self.defaultValue = defaultValue
        self.problem = problem
    }

    /// Accepts http(s) URLs with a host.
    public static let urlProblem: @Sendable (String) -> String? = { ConfigReader.endpointProblem($0) }
}

/// How an access token is obtained from a provider's key (GigaChat's OAuth).
public protocol TokenExchange: Sendable {
    /// The request that asks for a token.
    func tokenRequest(for provider: ProviderConfig) -> UpstreamRequest
    /// The token in the answer to it.
    func token(fromAnswer body: ByteBuffer, now: Date) throws(GatewayError) -> AccessToken
}

/// An access token and when it stops working.
public struct AccessToken: Sendable, Equatable {
    public var value: String
    public var expiresAt: Date

    public init(value: String, expiresAt: Date) {
        self.value = value
        self.expiresAt = expiresAt
    }

    /// Whether the token should be renewed at `now`: less than `margin` seconds left.
    public func needsRefresh(at now: Date, margin: TimeInterval = 60) -> Bool {
        expiresAt.timeIntervalSince(now) < margin
    }
}

/// The provider kinds Switchyard knows, by `type`. Adding a kind is its folder and one line here.
public enum ProviderKinds {
    public static let all: [any ProviderKind] = [
        OpenAIKind(), EchoKind(), AzureKind(), AnthropicKind(), GeminiKind(), GigaChatKind(),
    ]

    public static func kind(named name: String) -> (any ProviderKind)? {
        all.first { $0.name == name }
    }

    public static var names: [String] { all.map(\.name) }
}
