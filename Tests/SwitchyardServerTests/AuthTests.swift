import Foundation
import Testing

@Suite("Gateway authentication")
struct AuthTests {
    @Test func keysAreRequiredOnV1ButNotOnHealth() async throws {
        try await GatewayHarness.run {
            #"{"_global":{"api_key":["first-key","second-key"]},"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            let missing = try await client.post("/v1/chat/completions", chatBody())
            #expect(missing.status == 401)
            #expect(missing.error["code"] as? String == "invalid_api_key")
            #expect(missing.error["type"] as? String == "invalid_request_error")

            let wrong = try await client.post("/v1/chat/completions", chatBody(), headers: [("Authorization", "Bearer first-keyX")])
            #expect(wrong.status == 401)
            #expect(!wrong.body.contains("first-key"))

            #expect(await client.getStatus("/v1/models") == 401)
            #expect(await client.getStatus("/models", headers: [("x-api-key", "second-key")]) == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody(), headers: [("Authorization", "Bearer first-key")]) == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody(), headers: [("authorization", "bearer second-key")]) == 200)
            #expect(await client.getStatus("/health") == 200)
        }
    }

    @Test func noKeyConfiguredMeansOpen() async throws {
        try await GatewayHarness.run {
            #"{"_global":{"api_key":""},"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
        }
    }
}
