import Foundation
import SwitchyardCore
import Testing

/// The config shipped in `config/` must work out of the box.
@Suite("Shipped configuration")
struct ShippedConfigTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func theShippedConfigAnswersChatAndStreamsWithNoNetwork() async throws {
        let text = try String(contentsOf: Self.repositoryRoot.appendingPathComponent("config/provider.json"), encoding: .utf8)
        try await GatewayHarness.run {
            text
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody(model: "demo", content: "Hello, Switchyard"))
            #expect(reply.status == 200)
            #expect(reply.content == "Hello, Switchyard")
            let stream = try await client.post("/v1/chat/completions", chatBody(model: "demo", content: "streams too", stream: true))
            #expect(stream.streamedContent == "streams too")
            #expect(stream.events.last == "[DONE]")
            let embedding = try await client.post("/v1/embeddings", #"{"model":"demo","input":["a","b"]}"#)
            #expect((embedding.json["data"] as? [Any])?.count == 2)
        }
    }

    @Test func theExampleConfigValidates() throws {
        let file = Self.repositoryRoot.appendingPathComponent("config/provider.example.yaml").path
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var environment = Dictionary(uniqueKeysWithValues: [
            "OPENAI_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY", "GATEWAY_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
            "GEMINI_API_KEY_B", "AZURE_OPENAI_KEY", "GIGACHAT_AUTH_KEY", "XAI_API_KEY", "PERPLEXITY_API_KEY", "MISTRAL_API_KEY",
            "GROQ_API_KEY",
        ].map { ($0, "x") })
        environment["GIGACHAT_CA_FILE"] = try TestCertificates.write(TestCertificates.authority, named: "ca.pem", in: directory)
        let loaded = try ConfigLoader.load(file: file, environment: environment)
        #expect(!loaded.config.models.isEmpty)
        #expect(loaded.warnings.isEmpty)
    }
}
