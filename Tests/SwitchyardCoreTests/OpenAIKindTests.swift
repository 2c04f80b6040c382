import Foundation
import Testing
@testable import SwitchyardCore

/// The OpenAI-compatible adapter and the header forwarding rules.
@Suite struct OpenAIAdapterTests {
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
        let request = OpenAIAdapter().makeRequest(
            client, provider: provider, upstreamStream: true,
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
        let request = OpenAIAdapter().makeRequest(client, provider: keyless, upstreamStream: false, clientHeaders: [])
        #expect(request.url == "https://api.example.com/v1/embeddings")
        #expect(value(request.headers, "accept") == ["application/json"])
        #expect(value(request.headers, "authorization").isEmpty)
    }

    @Test func customHeadersOverrideOthers() throws {
        var custom = provider
        custom.customHeaders = [CustomHeader(name: "Authorization", value: "Key abc"), CustomHeader(name: "X-Trace", value: "fixed")]
        let client = try ClientRequest(endpoint: .completions, body: buffer(#"{"model":"m","prompt":"p"}"#))
        let request = OpenAIAdapter().makeRequest(
            client, provider: custom, upstreamStream: false, clientHeaders: [HeaderField("x-trace", "from-client")])
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
