import Foundation
import Testing

@Suite("Endpoints and errors")
struct EndpointTests {
    @Test func modelsAreListedInOpenAIShapeWithAndWithoutPrefix() async throws {
        try await GatewayHarness.run {
            #"{"first":{"providers":[{"name":"e","type":"echo"}]},"second":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            for path in ["/v1/models", "/models"] {
                let reply = try await client.get(path)
                #expect(reply.status == 200)
                #expect(reply.json["object"] as? String == "list")
                let data = try #require(reply.json["data"] as? [[String: Any]])
                #expect(data.compactMap { $0["id"] as? String } == ["first", "second"])
                #expect(data.allSatisfy { $0["object"] as? String == "model" })
            }
            #expect(try await client.get("/v1/models/second").json["id"] as? String == "second")
            #expect(await client.getStatus("/v1/models/third") == 404)
        }
    }

    @Test func healthReportsStatusAndVersion() async throws {
        try await GatewayHarness.run {
            #"{"_global":{"api_key":"k"},"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            let reply = try await client.get("/health")
            #expect(reply.status == 200)
            #expect(reply.json["status"] as? String == "healthy")
            #expect(reply.json["version"] is String)
        }
    }

    @Test func badRequestsGetOpenAIShapedErrors() async throws {
        try await GatewayHarness.run {
            #"{"_global":{"max_request_body_mb":0.01},"m":{"providers":[{"name":"e","type":"echo"}]}}"#
        } _: { client in
            let cases: [(String, String, Int, String)] = [
                ("/v1/chat/completions", #"{"model":"nope","messages":[]}"#, 404, "model_not_found"),
                ("/v1/chat/completions", #"{"model":"m"}"#, 400, "missing_required_parameter"),
                ("/v1/chat/completions", #"{"messages":[]}"#, 400, "missing_required_parameter"),
                ("/v1/chat/completions", #"{"model":"m","messages":[}"#, 400, "invalid_json"),
                ("/v1/chat/completions", #"[1,2]"#, 400, "invalid_json"),
                ("/v1/chat/completions", #"{"model":"m","messages":[],"stream":"yes"}"#, 400, "invalid_type"),
                ("/v1/embeddings", #"{"model":"m"}"#, 400, "missing_required_parameter"),
                ("/v1/chat/completions", #"{"model":"m","messages":[{"role":"user","content":"\#(String(repeating: "x", count: 20_000))"}]}"#, 413, "request_too_large"),
                ("/v1/unknown", "{}", 404, "unknown_url"),
            ]
            for (path, body, status, code) in cases {
                let reply = try await client.post(path, body)
                #expect(reply.status == status, "\(path) \(body.prefix(60))")
                #expect(reply.error["code"] as? String == code, "\(path) \(body.prefix(60))")
                #expect(reply.error["message"] is String)
                #expect(reply.error.keys.contains("param"))
                #expect(reply.header("content-type") == "application/json")
            }
        }
    }
}
