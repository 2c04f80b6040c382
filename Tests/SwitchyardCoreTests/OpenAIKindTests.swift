import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// The OpenAI-compatible provider kind and the header forwarding rules.
@Suite struct OpenAIKindTests {
    var provider: ProviderConfig {
        var provider = ProviderConfig(name: "p")
        provider.endpoint = "https://api.example.com/v1"
        provider.model = "gpt-4o-2024-08-06"
        provider.apiKey = "sk-upstream"
        return provider
    }

    func value(_ headers: [HeaderField], _ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name }.map(\.value)
    }

    @Test func buildsTheUpstreamRequest() throws {
        let client = try ClientRequest(endpoint: .chatCompletions, body: buffer(#"{"model":"gpt-4o","messages":[],"stream":true}"#))
        let request = try OpenAIKind().upstreamRequest(client, provider: provider, upstreamStream: true,
            clientHeaders: [
                HeaderField("Authorization", "Bearer gateway-key"), HeaderField("X-Trace", "t1"), HeaderField("Host", "gw"),
                HeaderField("Content-Length", "99"), HeaderField("OpenAI-Beta", "assistants=v2"),
            ])
        #expect(request.url == "https://api.example.com/v1/chat/completions")
        #expect(request.stream)
        #expect(value(request.headers, "authorization") == ["Bearer sk-upstream"])
        #expect(value(request.headers, "accept") == ["text/event-stream"])
        #expect(value(request.headers, "content-type") == ["application/json"])
        #expect(value(request.headers, "accept-encoding") == ["identity"])
        #expect(value(request.headers, "x-trace") == ["t1"])
        #expect(value(request.headers, "openai-beta") == ["assistants=v2"])
        #expect(value(request.headers, "host").isEmpty)
        #expect(value(request.headers, "content-length").isEmpty)
        #expect(text(request.body).hasPrefix(#"{"stream_options":{"include_usage":true},"model":"gpt-4o-2024-08-06""#))
    }

    @Test func nonStreamRequestsAcceptJSONAndEmptyKeysSendNoAuthorization() throws {
        var keyless = provider
        keyless.apiKey = ""
        let client = try ClientRequest(endpoint: .embeddings, body: buffer(#"{"model":"e","input":"x"}"#))
        let request = try OpenAIKind().upstreamRequest(client, provider: keyless, upstreamStream: false, clientHeaders: [])
        #expect(request.url == "https://api.example.com/v1/embeddings")
        #expect(value(request.headers, "accept") == ["application/json"])
        #expect(value(request.headers, "authorization").isEmpty)
    }

    @Test func customHeadersOverrideOthers() throws {
        var custom = provider
        custom.customHeaders = [CustomHeader(name: "Authorization", value: "Key abc"), CustomHeader(name: "X-Trace", value: "fixed")]
        let client = try ClientRequest(endpoint: .completions, body: buffer(#"{"model":"m","prompt":"p"}"#))
        let request = try OpenAIKind().upstreamRequest(client, provider: custom, upstreamStream: false, clientHeaders: [HeaderField("x-trace", "from-client")])
        #expect(value(request.headers, "authorization") == ["Key abc"])
        #expect(value(request.headers, "x-trace") == ["fixed"])
    }

    @Test func hopByHopAndCredentialHeadersAreNotForwarded() {
        let forwarded = HeaderForwarding.forwardable([
            HeaderField("Connection", "keep-alive, X-Private"), HeaderField("X-Private", "secret"), HeaderField("Keep-Alive", "5"),
            HeaderField("Transfer-Encoding", "chunked"), HeaderField("Cookie", "a=b"), HeaderField("X-Api-Key", "k"),
            HeaderField("X-Forwarded-For", "1.2.3.4"), HeaderField("User-Agent", "sdk/1.0"), HeaderField("X-Stainless-Lang", "python"),
        ])
        #expect(forwarded.map(\.name) == ["User-Agent", "X-Stainless-Lang"])
    }
}

extension ProviderKind {
    /// The upstream request for an OpenAI client's request, with the provider's key as credential.
    func upstreamRequest(
        _ client: ClientRequest, provider: ProviderConfig, upstreamStream: Bool, clientHeaders: [HeaderField]
    ) throws -> UpstreamRequest {
        try makeRequest(
            InboundRequest(openAI: client), provider: provider, credential: provider.apiKey,
            upstreamStream: upstreamStream, clientHeaders: clientHeaders
        )
    }
}

/// Azure OpenAI: deployment URLs with an API version and the `api-key` header.
@Suite struct AzureKindTests {
    @Test("requests go to the deployment with the api version and carry the key in api-key")
    func requestsGoToTheDeployment() throws {
        var provider = ProviderConfig(name: "az")
        provider.type = "azure"
        provider.endpoint = "https://res.openai.azure.com/openai"
        provider.model = "gpt-4o"
        provider.apiKey = "az-key"
        provider.settings = ["deployment": "prod-4o", "api_version": "2024-10-21"]
        let client = try ClientRequest(endpoint: .chatCompletions, body: buffer(#"{"model":"m","messages":[]}"#))
        let request = try AzureKind().upstreamRequest(client, provider: provider, upstreamStream: false, clientHeaders: [])
        #expect(request.url == "https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21")
        #expect(request.headers.contains(HeaderField("api-key", "az-key")))
        #expect(!request.headers.contains { $0.name == "authorization" })
    }

    @Test("prompt-filter chunks with empty choices are not relayed")
    func promptFilterChunksAreDropped() throws {
        var relay = AzureKind().passThroughStream(for: InboundRequest(openAI: try ClientRequest(
            endpoint: .chatCompletions, body: buffer(#"{"model":"m","messages":[],"stream":true}"#))))
        var output: [ByteBuffer] = []
        try relay.translate(buffer("data: {\"choices\":[],\"prompt_filter_results\":[{\"prompt_index\":0}]}\n\n"), into: &output)
        #expect(output.isEmpty)
        try relay.translate(buffer("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n"), into: &output)
        #expect(output.count == 1)
    }
}
