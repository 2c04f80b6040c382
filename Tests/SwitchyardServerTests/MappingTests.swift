import Foundation
import Testing

@Suite("Request mapping")
struct MappingTests {
    @Test func modelKeyAndCustomHeadersAreMappedAndTheGatewayKeyStaysHome() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            #"{"_global":{"api_key":"gateway-secret"},"public-name":{"providers":[\#(providerJSON("p", endpoint: upstream.endpoint("p"), model: "vendor/real-model-7b", extra: #","custom_headers":{"X-Tenant":"acme","HTTP-Referer":"https://example.org"}"#))]}}"#
        } _: { client in
            // Unusual spacing, unicode, an image part, tools and unknown fields: all must arrive byte-exact.
            let body = #"{ "model" : "public-name",  "messages":[{"role":"user","content":[{"type":"text","text":"héllo ✓ \"quoted\""},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"x_unknown":{"nested":[1,2.5e3,null,true]} }"#
            let reply = try await client.post(
                "/v1/chat/completions", body,
                headers: [("Authorization", "Bearer gateway-secret"), ("x-api-key", "gateway-secret"), ("User-Agent", "test-sdk/1.0")]
            )
            #expect(reply.status == 200)
            let sent = try #require(upstream.requests.first)
            #expect(sent.path == "chat/completions")
            #expect(sent.header("authorization") == "Bearer key-p")
            #expect(sent.header("x-api-key") == nil)
            #expect(sent.header("x-tenant") == "acme")
            #expect(sent.header("http-referer") == "https://example.org")
            #expect(sent.header("user-agent") == "test-sdk/1.0")
            #expect(!sent.headers.contains { $0.value.contains("gateway-secret") })
            let expected = body.replacingOccurrences(of: #""public-name""#, with: #""vendor/real-model-7b""#)
            #expect(sent.bodyString == expected)
        }
    }

    @Test func eachEndpointGoesToItsUpstreamPath() async throws {
        let upstream = FakeUpstream { request in
            switch request.path {
            case "embeddings":
                return Reply.json(#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"e","usage":{"prompt_tokens":1,"total_tokens":1}}"#)
            case "completions":
                return Reply.json(#"{"id":"c","object":"text_completion","created":1,"model":"u","choices":[{"index":0,"text":"x","finish_reason":"stop"}]}"#)
            default:
                return Reply.chatCompletion(content: "ok")
            }
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p") + "/")])
        } _: { client in
            #expect(await client.postStatus("/v1/embeddings", #"{"model":"m","input":"hi"}"#) == 200)
            #expect(await client.postStatus("/v1/completions", #"{"model":"m","prompt":"hi"}"#) == 200)
            #expect(await client.postStatus("/chat/completions", chatBody()) == 200)
            #expect(upstream.requests.map(\.path) == ["embeddings", "completions", "chat/completions"])
            #expect(upstream.requests.allSatisfy { $0.json["model"] as? String == "upstream-model" })
        }
    }

    @Test func bodiesFarAboveHummingbirdsDefaultLimitPassThroughIntact() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"), model: "m")])
        } _: { client in
            let image = String(repeating: "QUJD", count: 5 * 1024 * 1024 / 4)  // 5 MiB of base64
            let body = #"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,\#(image)"}}]}]}"#
            let reply = try await client.post("/v1/chat/completions", body)
            #expect(reply.status == 200, "\(reply.body)")
            #expect(upstream.requests.first?.bodyString == body)
        }
    }

    @Test func environmentVariablesFillConfigValues() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream, environment: ["UPSTREAM_KEY": "from-env"]) {
            modelConfig([#"{"name":"p","endpoint":"\#(upstream.endpoint("p"))","api_key":"${UPSTREAM_KEY}","model":"x"}"#])
        } _: { client in
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            #expect(upstream.requests.first?.header("authorization") == "Bearer from-env")
        }
    }
}
