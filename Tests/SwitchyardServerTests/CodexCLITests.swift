import Foundation
import Hummingbird
import Testing

/// The real Codex CLI (PyPI `openai-codex-cli-bin`, pinned in Tests/run-all.sh) pointed at the built binary with
/// `wire_api = "responses"`, served by a chat-completions-only fake upstream: a whole `codex exec` session, in which
/// the model runs a shell command through Codex's `exec_command` tool and answers from its output.
@Suite("Codex CLI end to end")
struct CodexCLITests {
    static let checkWord = "switchyard-codex-check"

    @Test("a Codex CLI session with a tool call works through /v1/responses on a chat-only provider")
    func aCodexSessionWorksOnAChatProvider() async throws {
        let upstream = FakeUpstream { request in
            let messages = request.json["messages"] as? [[String: Any]] ?? []
            if messages.contains(where: { $0["role"] as? String == "tool" }) {
                return Reply.sse(Reply.streamEvents(["The command printed", " the check word."]))
            }
            let arguments = #"{\"cmd\":\"echo \#(Self.checkWord)\"}"#
            return Reply.sse([
                #"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"exec_command","arguments":""}}]},"finish_reason":null}]}"# + "\n\n",
                #"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\#(arguments)"}}]},"finish_reason":null}]}"# + "\n\n",
                #"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"# + "\n\n",
                Reply.usageChunk(prompt: 100, completion: 10), Reply.done,
            ])
        }
        try await GatewayHarness.withServices({ ready in upstream.makeApplication { ready.open() } }) {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let gateway = try BinaryGateway(
                directory: directory,
                config: #"""
                    {"_global":{"api_key":"codex-key"},
                     "codex-chat":{"providers":[{"name":"chat","endpoint":"\#(upstream.endpoint("chat"))","api_key":"up","model":"chat-up"}]}}
                    """#
            )
            defer { gateway.stop() }
            let port = try await gateway.waitForPort()
            let codexHome = directory.appendingPathComponent("codex-home")
            let workspace = directory.appendingPathComponent("workspace")
            for folder in [codexHome, workspace] {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            }
            try #"""
                model = "codex-chat"
                model_provider = "switchyard"
                # Chat-only providers cannot run hosted tools.
                web_search = "disabled"

                [model_providers.switchyard]
                name = "Switchyard"
                base_url = "http://127.0.0.1:\#(port)/v1"
                env_key = "SWITCHYARD_KEY"
                wire_api = "responses"
                """#.write(to: codexHome.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
            let (status, output) = try await ChildProcess.run(
                try await Self.codexBinary(),
                ["exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "Print the check word"],
                environment: ["CODEX_HOME": codexHome.path, "SWITCHYARD_KEY": "codex-key"], directory: workspace
            )
            #expect(status == 0, "codex exec failed:\n\(output)")
            #expect(output.contains("The command printed the check word."), "the final answer:\n\(output)")
            let turns = upstream.requests(to: "chat")
            #expect(turns.count == 2, "one request for the tool call, one after its output")
            let last = try #require(turns.last?.json["messages"] as? [[String: Any]])
            let assistant = try #require(last.first { $0["tool_calls"] != nil })
            let call = try #require((assistant["tool_calls"] as? [[String: Any]])?.first)
            #expect((call["function"] as? [String: Any])?["name"] as? String == "exec_command")
            let toolOutput = try #require(last.last { $0["role"] as? String == "tool" })
            #expect(toolOutput["tool_call_id"] as? String == "call_1")
            #expect((toolOutput["content"] as? String ?? "").contains(Self.checkWord), "the command ran and its output came back")
            #expect(gateway.stop() == 0)
        }
    }

    /// The binary the `openai-codex-cli-bin` package ships.
    static func codexBinary() async throws -> String {
        let (status, output) = try await ChildProcess.run(
            "/usr/bin/env", ["python3", "-c", "import codex_cli_bin; print(codex_cli_bin.bundled_codex_path())"]
        )
        let path = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard status == 0, FileManager.default.isExecutableFile(atPath: path) else {
            throw CodexNotInstalled(detail: output)
        }
        return path
    }

    struct CodexNotInstalled: Error, CustomStringConvertible {
        var detail: String
        var description: String { "Codex CLI is not installed (pip install openai-codex-cli-bin): \(detail)" }
    }
}
