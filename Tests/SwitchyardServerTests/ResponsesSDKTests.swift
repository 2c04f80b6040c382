import Foundation
import Hummingbird
import Testing

/// Drives the built `switchyard` binary's `/v1/responses` with the official `openai` Python package, against a
/// chat-only, a Responses-speaking and an Anthropic fake upstream, across a restart.
@Suite("Responses API with the openai SDK")
struct ResponsesSDKTests {
    @Test("the openai SDK's responses API works against the binary, tools and a chain across a restart included")
    func theResponsesAPIWorksThroughTheSDK() async throws {
        let upstream = FakeUpstream { request in
            let stream = request.json["stream"] as? Bool == true
            switch request.provider {
            case "broken":
                return Reply.error(.serviceUnavailable)
            case "native":
                return stream
                    ? Reply.sse(NativeReply.responsesStream(["Hello", " from", " Responses"]))
                    : Reply.json(NativeReply.responsesObject("Hello from Responses"))
            case "claude":
                return stream
                    ? Reply.sse(NativeReply.anthropicStream(["Hello", " from", " Anthropic"]))
                    : NativeReply.anthropicMessage("Hello from Anthropic")
            default:
                return NativeReply.weatherChat(request)
            }
        }
        try await GatewayHarness.withServices({ ready in upstream.makeApplication { ready.open() } }) {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = #"""
                {"_global":{"api_key":"e2e-key","retry_backoff_ms":1},
                 "resp-chat":{"providers":[
                   {"name":"broken","endpoint":"\#(upstream.endpoint("broken"))","api_key":"b1","model":"gpt-up","retry":0},
                   {"name":"chat","endpoint":"\#(upstream.endpoint("chat"))","api_key":"c1","model":"gpt-up","priority":2}]},
                 "resp-native":{"providers":[
                   {"name":"native","endpoint":"\#(upstream.endpoint("native"))","api_key":"n1","model":"gpt-up","responses":true}]},
                 "resp-claude":{"providers":[
                   {"name":"claude","type":"anthropic","endpoint":"\#(upstream.endpoint("claude"))","api_key":"a1","model":"claude-up"}]}}
                """#
            let stateFile = directory.appendingPathComponent("chain").path
            for phase in ["first", "after-restart"] {
                let gateway = try BinaryGateway(directory: directory, config: config)
                defer { gateway.stop() }
                let port = try await gateway.waitForPort()
                let brokenBefore = upstream.count("broken")
                let (status, text) = try await PythonScript.run(
                    "openai_responses_e2e.py", baseURL: "http://127.0.0.1:\(port)/v1", key: "e2e-key",
                    environment: ["SWITCHYARD_PHASE": phase, "SWITCHYARD_STATE": stateFile]
                )
                #expect(status == 0, "openai_responses_e2e.py (\(phase)) failed (pip install openai):\n\(text)")
                #expect(text.contains("checks passed"))
                #expect(gateway.stop() == 0, "the gateway exits cleanly on SIGTERM")
                if phase == "after-restart" {
                    // The chain stays on the provider that served it, even though the session map started empty.
                    #expect(upstream.count("broken") == brokenBefore)
                }
            }
        }
        let native = upstream.requests(to: "native")
        #expect(native.allSatisfy { $0.path == "responses" && $0.json["model"] as? String == "gpt-up" })
        #expect(native.contains { $0.json["stream"] as? Bool == true })
        // The tool round trip reached the chat provider as chat messages, and so did the chain after the restart.
        let last = try #require(upstream.requests(to: "chat").last)
        let roles = (last.json["messages"] as? [[String: Any]] ?? []).compactMap { $0["role"] as? String }
        #expect(roles == ["user", "assistant", "tool", "assistant", "user"])
        #expect(upstream.requests.allSatisfy { $0.header("authorization") != "Bearer e2e-key" })
    }
}
