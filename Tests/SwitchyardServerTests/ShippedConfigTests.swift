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
        let environment = ["OPENAI_API_KEY": "x", "DEEPSEEK_API_KEY": "x", "OPENROUTER_API_KEY": "x", "GATEWAY_KEY": "x"]
        let loaded = try ConfigLoader.load(file: file, environment: environment)
        #expect(!loaded.config.models.isEmpty)
        #expect(loaded.warnings.isEmpty)
    }
}
