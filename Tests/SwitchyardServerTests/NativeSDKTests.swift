import Foundation
import Hummingbird
import Testing

/// Drives the built `switchyard` binary with the official `anthropic` and `google-genai` Python packages, against
/// fake native upstreams.
@Suite("Native SDKs end to end")
struct NativeSDKTests {
    @Test("the anthropic SDK works against the binary, natively and translated, tools included")
    func theAnthropicSDKWorksAgainstTheBinary() async throws {
        let upstream = FakeUpstream { request in
            let stream = request.json["stream"] as? Bool == true
            switch (request.provider, request.path) {
            case ("overloaded", _):
                return NativeReply.anthropicError(529, type: "overloaded_error", message: "Overloaded")
            case ("native", "messages/count_tokens"):
                return Reply.json(#"{"input_tokens":42}"#)
            case ("native", "messages"):
                return stream
                    ? Reply.sse(NativeReply.anthropicStream(["Hello", " from", " Anthropic"]))
                    : NativeReply.anthropicMessage("Hello from Anthropic")
            default:
                return NativeReply.weatherChat(request)
            }
        }
        try await runScript("anthropic_sdk_e2e.py", upstream: upstream) {
            #"""
            {"_global":{"api_key":"e2e-key","retry_backoff_ms":1},
             "claude-native":{"providers":[
               {"name":"overloaded","type":"anthropic","endpoint":"\#(upstream.endpoint("overloaded"))","api_key":"a1","model":"claude-up","retry":0},
               {"name":"native","type":"anthropic","endpoint":"\#(upstream.endpoint("native"))","api_key":"a2","model":"claude-up","priority":2}]},
             "claude-openai":{"providers":[{"name":"openai","endpoint":"\#(upstream.endpoint("openai"))","api_key":"o1","model":"gpt-up"}]},
             "claude-echo":{"providers":[{"name":"echo","type":"echo"}]}}
            """#
        }
        let native = upstream.requests(to: "native").filter { $0.path == "messages" }
        // The SDK's own anthropic-version (and any anthropic-beta) reaches the provider.
        #expect(native.allSatisfy { $0.header("x-api-key") == "a2" && !($0.header("anthropic-version") ?? "").isEmpty })
        #expect(native.allSatisfy { $0.json["model"] as? String == "claude-up" })
        #expect(upstream.requests.allSatisfy { $0.header("authorization") != "Bearer e2e-key" && $0.header("x-api-key") != "e2e-key" })
    }

    @Test("the google-genai SDK works against the binary's native Gemini routes")
    func theGoogleGenAISDKWorksAgainstTheBinary() async throws {
        let upstream = FakeUpstream { request in
            if request.provider == "exhausted" {
                return NativeReply.geminiError(429, "RESOURCE_EXHAUSTED", message: "Resource exhausted")
            }
            if request.provider == "openai" {
                let stream = request.json["stream"] as? Bool == true
                if request.json["tools"] != nil { return stream ? Reply.sse(NativeReply.openAIToolCallStream) : NativeReply.openAIToolCall }
                return stream ? Reply.sse(Reply.streamEvents(["Hello", " from OpenAI"])) : Reply.chatCompletion(content: "Hello from OpenAI")
            }
            if request.path.hasSuffix(":streamGenerateContent") {
                return Reply.sse(NativeReply.geminiStream(["Hello", " from Gemini"]))
            }
            return Reply.json(request.json["tools"] != nil ? NativeReply.geminiFunctionCall : NativeReply.geminiText("Hello from Gemini"))
        }
        try await runScript("gemini_sdk_e2e.py", upstream: upstream) {
            #"""
            {"_global":{"api_key":"e2e-key","retry_backoff_ms":1},
             "gemini-native":{"providers":[
               {"name":"exhausted","type":"gemini","endpoint":"\#(upstream.endpoint("exhausted", base: "v1beta"))","api_key":"g1","model":"gemini-up"},
               {"name":"native","type":"gemini","endpoint":"\#(upstream.endpoint("native", base: "v1beta"))","api_key":"g2","model":"gemini-up","priority":2}]},
             "gemini-openai":{"providers":[{"name":"openai","endpoint":"\#(upstream.endpoint("openai"))","api_key":"o1","model":"gpt-up"}]}}
            """#
        }
        let translated = try #require(upstream.requests(to: "openai").first)
        #expect((translated.json["messages"] as? [[String: Any]])?.first?["content"] as? String == "hi")
        let native = upstream.requests(to: "native")
        #expect(native.allSatisfy { $0.header("x-goog-api-key") == "g2" })
        #expect(native.contains { $0.path == "models/gemini-up:streamGenerateContent" && $0.query == "alt=sse" })
        #expect(upstream.requests.allSatisfy { !$0.query.contains("key=") && $0.header("x-goog-api-key") != "e2e-key" })
    }

    private func runScript(
        _ script: String, upstream: FakeUpstream, config: () -> String
    ) async throws {
        try await GatewayHarness.withServices({ ready in upstream.makeApplication { ready.open() } }) {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let gateway = try BinaryGateway(directory: directory, config: config())
            defer { gateway.stop() }
            let port = try await gateway.waitForPort()
            let (status, text) = try await PythonScript.run(
                script, baseURL: "http://127.0.0.1:\(port)", key: "e2e-key"
            )
            #expect(status == 0, "\(script) failed (pip install anthropic google-genai):\n\(text)")
            #expect(text.contains("checks passed"))
            #expect(gateway.stop() == 0, "the gateway exits cleanly on SIGTERM")
        }
    }
}
