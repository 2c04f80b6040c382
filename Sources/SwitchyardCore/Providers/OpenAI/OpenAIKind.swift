import NIOCore

/// OpenAI-compatible upstreams (`type: openai`, the default): `<endpoint>/chat/completions` (etc.) with
/// `Authorization: Bearer <api_key>`, the body forwarded with only `model` (and the stream fields) changed.
public struct OpenAIKind: ProviderKind {
    public init() {}

    public var name: String { "openai" }
    public var nativeDialect: Dialect? { .openAI }
    public var speaksResponsesAPI: Bool { true }

    public func makeRequest(
        _ request: InboundRequest, provider: ProviderConfig, credential: String, upstreamStream: Bool,
        clientHeaders: [HeaderField]
    ) throws(GatewayError) -> UpstreamRequest {
        let headers = HeaderForwarding.upstreamHeaders(
            clientHeaders, stream: upstreamStream,
            credential: credential.isEmpty ? nil : HeaderField("authorization", "Bearer \(credential)"),
            provider: provider
        )
        if case .responses(let call) = request.native, passesThrough(request, provider: provider) {
            return UpstreamRequest(
                url: provider.endpoint + "/responses", headers: headers,
                body: call.request.upstreamBody(model: provider.model, stream: upstreamStream),
                endpoint: .chatCompletions, stream: upstreamStream
            )
        }
        let canonical = try request.requireCanonical(by: name)
        return UpstreamRequest(
            url: provider.endpoint + canonical.endpoint.upstreamPath, headers: headers,
            body: canonical.upstreamBody(provider: provider, stream: upstreamStream),
            endpoint: canonical.endpoint,
            stream: upstreamStream
        )
    }

}

extension InboundRequest {
    /// The canonical request, for kinds that build from it.
    func requireCanonical(by kind: String) throws(GatewayError) -> ClientRequest {
        guard let canonical else {
            throw untranslatable ?? .invalidRequest("This request cannot be served by a provider of type \(kind).")
        }
        return canonical
    }

    /// The canonical request decoded, for kinds that translate it into their own API.
    func canonicalChat(by kind: String) throws(GatewayError) -> JSONObject {
        guard let chat = JSONValue.object(try requireCanonical(by: kind).body.readableBytesView) else {
            throw .invalidJSON("the body")
        }
        return chat
    }
}

extension ClientRequest {
    /// The body for an OpenAI-compatible provider: its model, the upstream mode, and the usage chunk asked for
    /// when the provider accepts `stream_options`.
    func upstreamBody(provider: ProviderConfig, stream: Bool) -> ByteBuffer {
        upstreamBody(model: provider.model, stream: stream, requestUsage: stream && provider.sendStreamOptions)
    }
}

extension GatewayError {
    /// A 2xx answer that is not what the provider's API returns.
    public static let invalidUpstreamAnswer = GatewayError(
        status: 502, type: "api_error", code: "invalid_upstream_response",
        message: "The upstream answer is not a JSON object of the provider's API."
    )
}
