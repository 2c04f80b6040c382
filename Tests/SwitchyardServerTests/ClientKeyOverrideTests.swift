import Foundation
import HTTPTypes
import Hummingbird
import Testing

/// `allow_client_key`: a request's own upstream key reaches only a provider that opted in, as that provider's
/// credential, for that request only; it is never forwarded as a header, never logged, and its refusal is the
/// client's, not the provider's.
@Suite("Client key override")
struct ClientKeyOverrideTests {
    @Test func anOptedInProviderUsesTheClientsKeyAndNoOtherProviderEverSeesIt() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "tenant" && request.header("authorization") == "Bearer client-secret-1"
                ? Reply.error(.internalServerError)
                : Reply.chatCompletion(content: "from \(request.provider) with \(request.header("authorization") ?? "")")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("tenant", endpoint: upstream.endpoint("tenant"), extra: #","allow_client_key":true,"client_key_header":"X-Tenant-Key""#),
                providerJSON("shared", endpoint: upstream.endpoint("shared"), priority: 2),
            ])
        } _: { client in
            let own = try await client.post("/v1/chat/completions", chatBody(), headers: [("X-Tenant-Key", "client-secret-2")])
            #expect(own.content == "from tenant with Bearer client-secret-2")
            let plain = try await client.post("/v1/chat/completions", chatBody())
            #expect(plain.content == "from tenant with Bearer key-tenant", "the key was for that request only")

            // The opted-in provider fails with the client's key: the next provider gets its own key, not the client's.
            let failedOver = try await client.post(
                "/v1/chat/completions", chatBody(), headers: [("X-Tenant-Key", "client-secret-1"), ("X-Provider-Key", "client-secret-3")]
            )
            #expect(failedOver.content == "from shared with Bearer key-shared")
            for request in upstream.requests(to: "tenant") + upstream.requests(to: "shared") {
                #expect(request.header("x-tenant-key") == nil && request.header("x-provider-key") == nil, "a client key header was forwarded")
            }
            #expect(upstream.requests(to: "shared").allSatisfy { $0.header("authorization") == "Bearer key-shared" })

            let logs = client.configFile.deletingLastPathComponent().appendingPathComponent("logs")
            #expect(await eventually { FileManager.default.fileExists(atPath: logs.appendingPathComponent("requests.log").path) })
            for name in (try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? [] {
                let text = (try? String(contentsOf: logs.appendingPathComponent(name), encoding: .utf8)) ?? ""
                #expect(!text.contains("client-secret"), "\(name) holds a client's key")
            }
        }
    }

    @Test func withoutTheOptInTheHeaderIsIgnoredAndStripped() async throws {
        let upstream = FakeUpstream { request in
            Reply.chatCompletion(content: "with \(request.header("authorization") ?? "")")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("a", endpoint: upstream.endpoint("a"))])
        } _: { client in
            let answer = try await client.post("/v1/chat/completions", chatBody(), headers: [("X-Provider-Key", "client-secret")])
            #expect(answer.content == "with Bearer key-a")
            #expect(upstream.requests(to: "a").first?.header("x-provider-key") == nil)
        }
    }

    @Test func aRefusedClientKeyIsTheClientsAnswerAndCoolsNothingDown() async throws {
        let upstream = FakeUpstream { request in
            switch (request.provider, request.header("authorization")) {
            case ("a", "Bearer revoked"): return Reply.error(.unauthorized, message: "invalid api key")
            case ("a", "Bearer spent"): return Reply.error(.tooManyRequests, headers: [HTTPField.Name("Retry-After")!: "600"])
            default: return Reply.chatCompletion(content: "from \(request.provider)")
            }
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("a", endpoint: upstream.endpoint("a"), extra: #","allow_client_key":true"#),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            let refused = try await client.post("/v1/chat/completions", chatBody(), headers: [("X-Provider-Key", "revoked")])
            #expect(refused.status == 401 && refused.body.contains("invalid api key"))
            let limited = try await client.post("/v1/chat/completions", chatBody(), headers: [("X-Provider-Key", "spent")])
            #expect(limited.status == 429)
            #expect(upstream.count("backup") == 0, "the client's key is not failed over to another account")
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "from a", "the provider is not cooled down")
            let list = try await client.get("/admin/providers/m").jsonArray
            #expect(list.first?["status"] as? String == "available")
        }
    }
}
