/// OpenAI-compatible upstreams: `<endpoint>/chat/completions` (etc.), `Authorization: Bearer <api_key>`, the body
/// forwarded with only `model` (and the stream fields) changed.
public struct OpenAIAdapter: ProviderAdapter {
    public init() {}

    public func makeRequest(
        _ request: ClientRequest, provider: ProviderConfig, upstreamStream: Bool, clientHeaders: [HeaderField]
    ) -> UpstreamRequest {
        var headers = HeaderForwarding.forwardable(clientHeaders)
        headers.append(HeaderField("content-type", "application/json"))
        headers.append(HeaderField("accept", upstreamStream ? "text/event-stream" : "application/json"))
        headers.append(HeaderField("accept-encoding", "identity"))
        if !provider.apiKey.isEmpty {
            headers.append(HeaderField("authorization", "Bearer \(provider.apiKey)"))
        }
        for custom in provider.customHeaders {
            let name = custom.name.lowercased()
            headers.removeAll { $0.name.lowercased() == name }
            headers.append(HeaderField(custom.name, custom.value))
        }
        return UpstreamRequest(
            url: provider.endpoint + request.endpoint.upstreamPath,
            headers: headers,
            body: request.upstreamBody(model: provider.model, stream: upstreamStream, requestUsage: upstreamStream && provider.sendStreamOptions),
            endpoint: request.endpoint,
            stream: upstreamStream
        )
    }
}
