import Foundation
import Hummingbird
import ServiceLifecycle
import Testing

/// Drives the built `switchyard` binary with the official `openai` Python package (`pip install openai`).
@Suite("OpenAI SDK end to end")
struct OpenAISDKTests {
    @Test func theOfficialPythonSDKWorksAgainstTheBinary() async throws {
        let upstream = FakeUpstream { request in
            switch request.provider {
            case "broken":
                return Reply.error(.serviceUnavailable)
            case "cut":
                return Reply.sse(Reply.streamEvents(["Hello", " never"]), cutAfter: 2)
            default:
                if request.json["stream"] as? Bool == true {
                    return Reply.sse(Reply.streamEvents(["Hello", " from", " upstream"]))
                }
                return Reply.chatCompletion(content: "Hello from upstream")
            }
        }
        try await GatewayHarness.withServices({ ready in upstream.makeApplication { ready.open() } }) {
            let config = #"""
                {"_global":{"api_key":"e2e-key","retry_backoff_ms":1},
                 "gpt-e2e":{"providers":[
                   {"name":"broken","endpoint":"\#(upstream.endpoint("broken"))","api_key":"k1","model":"up","retry":0},
                   {"name":"good","endpoint":"\#(upstream.endpoint("good"))","api_key":"k2","model":"up","priority":2}]},
                 "gpt-cut":{"providers":[{"name":"cut","endpoint":"\#(upstream.endpoint("cut"))","api_key":"k3","model":"up"}]},
                 "demo":{"providers":[{"name":"echo","type":"echo"}]}}
                """#
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let gateway = try BinaryGateway(directory: directory, config: config)
            defer { gateway.stop() }
            let port = try await gateway.waitForPort()

            let (status, text) = try await PythonScript.run(
                "openai_sdk_e2e.py", baseURL: "http://127.0.0.1:\(port)/v1", key: "e2e-key"
            )
            #expect(
                status == 0,
                "openai SDK end-to-end failed (is the openai package installed? pip install openai):\n\(text)"
            )
            #expect(text.contains("checks passed"))
            #expect(gateway.stop() == 0, "the gateway exits cleanly on SIGTERM")
        }
    }
}

