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

            let status1 = try await client.get("/v1/models").status
            #expect(status1 == 401)
            let status2 = try await client.get("/models", headers: [("x-api-key", "second-key")]).status
            #expect(status2 == 200)
            let status3 = try await client.post("/v1/chat/completions", chatBody(), headers: [("Authorization", "Bearer first-key")]).status
            #expect(status3 == 200)
            let status4 = try await client.post("/v1/chat/completions", chatBody(), headers: [("authorization", "bearer second-key")]).status
            #expect(status4 == 200)
            let status5 = try await client.get("/health").status
            #expect(status5 == 200)
        }
    }

    @Test func noKeyConfiguredMeansOpen() async throws {
        try await GatewayHarness.run {
            #"{"_global":{"api_key":""},"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            let status6 = try await client.post("/v1/chat/completions", chatBody()).status
            #expect(status6 == 200)
        }
    }
}
