import Foundation
import Hummingbird
import ServiceLifecycle
import Testing

/// Drives the built `switchyard` binary with the official `openai` Python package (`pip install openai`).
@Suite("OpenAI SDK end to end")
struct OpenAISDKTests {
    static let repositoryRoot = ShippedConfigTests.repositoryRoot

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
            let gateway = try BinaryGateway(config: config)
            defer { gateway.stop() }
            let port = try await gateway.waitForPort()

            let python = Process()
            python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            python.arguments = ["python3", Self.repositoryRoot.appendingPathComponent("Tests/e2e/openai_sdk_e2e.py").path]
            var environment = ProcessInfo.processInfo.environment
            environment["SWITCHYARD_BASE_URL"] = "http://127.0.0.1:\(port)/v1"
            environment["SWITCHYARD_KEY"] = "e2e-key"
            python.environment = environment
            let output = Pipe()
            python.standardOutput = output
            python.standardError = output
            try python.run()
            let text = try await Task.detached {
                String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            }.value
            python.waitUntilExit()
            #expect(
                python.terminationStatus == 0,
                "openai SDK end-to-end failed (is the openai package installed? pip install openai):\n\(text)"
            )
            #expect(text.contains("checks passed"))
            #expect(gateway.stop() == 0, "the gateway exits cleanly on SIGTERM")
        }
    }
}

/// The `switchyard` binary built next to the tests, started on 127.0.0.1 port 0 with a temporary config.
final class BinaryGateway: @unchecked Sendable {
    let process = Process()
    let directory: URL
    private let stderr = Pipe()
    private var stopped: Int32?

    static var binary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("switchyard")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return ShippedConfigTests.repositoryRoot.appendingPathComponent(".build/debug/switchyard")
    }

    init(config: String, extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-bin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configFile = directory.appendingPathComponent("provider.json")
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        process.executableURL = Self.binary
        process.arguments = [
            "serve", "--config", configFile.path, "--host", "127.0.0.1", "--port", "0",
            "--data-dir", directory.appendingPathComponent("data").path,
            "--log-dir", directory.appendingPathComponent("logs").path,
        ] + extraArguments
        var processEnvironment = ProcessInfo.processInfo.environment
        processEnvironment.merge(environment) { _, new in new }
        process.environment = processEnvironment
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    /// Reads the log until the server reports its port.
    func waitForPort() async throws -> Int {
        let handle = stderr.fileHandleForReading
        return try await Task.detached {
            var seen = ""
            while true {
                let data = handle.availableData
                if data.isEmpty { throw BinaryGatewayError(log: seen) }
                seen += String(decoding: data, as: UTF8.self)
                if let range = seen.range(of: "listening on 127.0.0.1:") {
                    let digits = seen[range.upperBound...].prefix { $0.isNumber }
                    if let port = Int(digits), seen[range.upperBound...].dropFirst(digits.count).first != nil {
                        return port
                    }
                }
            }
        }.value
    }

    /// Sends SIGTERM and returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if let stopped { return stopped }
        if process.isRunning {
            process.terminate()
        }
        process.waitUntilExit()
        stopped = process.terminationStatus
        try? FileManager.default.removeItem(at: directory)
        return process.terminationStatus
    }
}

struct BinaryGatewayError: Error, CustomStringConvertible {
    var log: String
    var description: String { "switchyard exited before listening:\n\(log)" }
}
