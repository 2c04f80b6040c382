import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// What every client-API request is served with: the gateway's state, the upstream transport, metrics, the request
/// log and credentials. Each request is one `ProxyCall`, run on its client connection's event loop.
struct ProxyEngine: Sendable {
    let state: GatewayState
    let transport: UpstreamTransport
    let metrics: GatewayMetrics
    let recorder: RequestRecorder
    let credentials: Credentials

    /// Largest non-streamed upstream answer accepted (embeddings of big batches can be tens of MB).
    static let maximumUpstreamBodyBytes = 256 * 1024 * 1024
    /// Largest upstream error body kept for passing through.
    static let maximumErrorBodyBytes = 1024 * 1024

    /// What a client-API request asks, read from its route and body.
    struct Request {
        var inbound: InboundRequest
        /// The session it belongs to: its `X-Session-Id`, or the one of the response it continues.
        var session: String?
        /// For answers the gateway keeps (`/v1/responses` with `store`), what is kept with them.
        var keeping: ResponseKeeping?
        /// The context it needs, estimated when some provider has a `max_context_length`.
        var contextTokens: Int?
    }

    /// Reads a client-API request; a malformed one, or one continuing a response its key cannot see, is refused.
    func request(
        for route: DataPlaneRoute, target: String, headers: HTTPFields, body: ByteBuffer, trace: RequestTrace
    ) throws(GatewayError) -> Request {
        var request = try parse(route: route, target: target, headers: headers, body: body, trace: trace)
        if state.table.limitsContext { request.contextTokens = request.inbound.contextTokensEstimate }
        return request
    }

    private func parse(
        route: DataPlaneRoute, target: String, headers: HTTPFields, body: ByteBuffer, trace: RequestTrace
    ) throws(GatewayError) -> Request {
        let session = Self.sessionID(in: headers)
        switch route {
        case .openAI(let endpoint):
            return Request(inbound: InboundRequest(openAI: try ClientRequest(endpoint: endpoint, body: body)), session: session)
        case .anthropicMessages:
            return Request(inbound: InboundRequest(anthropic: try AnthropicMessagesRequest(body: body)), session: session)
        case .gemini(let modelAndMethod):
            let call = try GeminiCall(modelAndMethod: modelAndMethod, query: String(DataPlaneRoute.query(of: target)), body: body)
            return Request(inbound: InboundRequest(gemini: call), session: session)
        case .responses:
            return try responsesRequest(body: body, session: session, owner: Self.owner(of: trace, state: state))
        }
    }

    /// A `/v1/responses` request; one with `previous_response_id` continues that response's history and session.
    private func responsesRequest(body: ByteBuffer, session: String?, owner: String) throws(GatewayError) -> Request {
        var responses = try ResponsesRequest(body: body)
        var session = session
        if let previousID = responses.previousResponseID {
            guard let previous = state.responses.get(previousID, owner: owner) else {
                throw GatewayError.previousResponseNotFound(previousID)
            }
            responses = responses.continuing(after: previous.history())
            session = session ?? previous.sessionID
            // A session the gateway forgot (a restart) goes on where its previous response was served.
            if let session, previous.model == responses.model,
                state.sessions.provider(session: session, model: previous.model) == nil
            {
                state.sessions.record(session: session, model: previous.model, provider: previous.provider)
            }
        }
        let call = ResponsesCall(request: responses, createdAt: state.clock.now())
        let keeping =
            responses.store
            ? ResponseKeeping(owner: owner, session: session, input: JSONValue.encode(responses.inputItems())) : nil
        return Request(inbound: InboundRequest(responses: call), session: session, keeping: keeping)
    }

    /// Who owns the responses a request keeps or reads: the fingerprint of the gateway key it presented, as its
    /// trace holds it ("" when the gateway has no keys: one owner).
    static func owner(of trace: RequestTrace?, state: GatewayState) -> String {
        guard !state.table.config.global.apiKeys.isEmpty else { return "" }
        return trace?.clientKeyFingerprint ?? ""
    }

    /// Whether the upstream is asked to stream: the client's choice when the provider supports it, else the
    /// provider's only mode (the answer is then converted).
    static func upstreamStreams(client: InboundRequest, provider: ProviderConfig) -> Bool {
        if case .openAI(let endpoint) = client.api, !endpoint.supportsStreaming { return false }
        // Native Anthropic and Gemini APIs serve both modes; their answers are relayed as they come.
        if client.api.dialect != .openAI && provider.kind.passesThrough(client, provider: provider) { return client.stream }
        return client.stream ? provider.streamSupport : !provider.nonStreamSupport
    }

    /// The provider's key, or for kinds that exchange it (GigaChat) an access token; only then is the token
    /// cache's actor entered.
    func credential(for provider: ProviderConfig, kind: any ProviderKind, replacing refused: String? = nil) async throws
        -> String
    {
        guard let exchange = kind.tokenExchange else { return provider.apiKey }
        return try await credentials.token(for: provider, exchange: exchange, replacing: refused)
    }

    /// Keeps a served `/v1/responses` answer for `previous_response_id` and `GET /v1/responses/{id}`. A response
    /// without a session starts one named for it, on the provider that served it (a given session is recorded by
    /// `keepSession`).
    func keep(_ answer: [UInt8]?, keeping: ResponseKeeping?, provider: ProviderConfig, model: String) {
        guard let keeping, let answer, let id = JSONValue.object(answer)?["id"] as? String else { return }
        state.responses.put(
            StoredResponse(
                id: id, owner: keeping.owner, provider: provider.name, model: model, sessionID: keeping.session ?? id,
                createdAt: state.clock.now(), input: keeping.input, response: answer
            )
        )
        if keeping.session == nil { state.sessions.record(session: id, model: model, provider: provider.name) }
    }

    /// A served session stays on its provider.
    func keepSession(_ session: String?, on provider: ProviderConfig, route: ModelRoute) {
        guard let session else { return }
        state.sessions.record(session: session, model: route.name, provider: provider.name)
    }

    /// The client's `X-Session-Id`, when it is one that can be kept.
    static func sessionID(in headers: HTTPFields) -> String? {
        guard let value = headers[.sessionID], !value.isEmpty, value.utf8.count <= SessionAffinity.maximumSessionIDBytes
        else { return nil }
        return value
    }

    /// Adds the tokens of a served request: the upstream's own count, or an estimate from characters.
    @discardableResult
    static func settle(
        _ lease: UsageLease, request: InboundRequest, reported: TokenUsage?, generatedCharacters: @autoclosure () -> Int
    ) -> TokenUsage {
        let usage =
            reported
            ?? UsageEstimate.usage(promptCharacters: request.promptCharacters, completionCharacters: generatedCharacters())
        lease.settle(usage)
        return usage
    }

    /// The headers of a relayed stream.
    static func eventStreamHeaders(_ extra: HTTPField) -> HTTPFields {
        var headers: HTTPFields = [
            .contentType: "text/event-stream",
            .cacheControl: "no-cache",
        ]
        headers.append(HTTPField(name: .accelBuffering, value: "no"))
        headers.append(extra)
        return headers
    }

    /// Maps an upstream transport error to an attempt failure.
    static func classify(_ error: any Error) -> AttemptFailure {
        if let transportError = error as? UpstreamTransportError {
            return transportError.isTimeout ? .timeout : .connection(transportError.description)
        }
        return .connection(String(String(describing: error).prefix(200)))
    }
}

extension HTTPField.Name {
    static let switchyardProvider = HTTPField.Name("X-Switchyard-Provider")!
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!
    static let sessionID = HTTPField.Name("X-Session-Id")!
}
