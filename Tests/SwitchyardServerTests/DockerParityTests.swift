import Foundation
import Testing

/// The Docker image cannot be built here (no Docker engine), so this test runs what the image runs: the binary
/// built with the Dockerfile's exact `swift build` flags (`Tests/run-all.sh` builds it and sets
/// `SWITCHYARD_STATIC_BINARY`), started with the Dockerfile's CMD in a directory laid out like `/app`, and probed
/// like its HEALTHCHECK.
@Suite("Docker parity")
struct DockerParityTests {
    static let dockerfile = (try? String(
        contentsOf: ShippedConfigTests.repositoryRoot.appendingPathComponent("Dockerfile"), encoding: .utf8
    )) ?? ""

    @Test func theDockerfileBuildsAndRunsTheWayTheTestsDo() throws {
        #expect(Self.dockerfile.contains("swift build -c release --static-swift-stdlib --product switchyard"))
        let script = try String(
            contentsOf: ShippedConfigTests.repositoryRoot.appendingPathComponent("Tests/run-all.sh"), encoding: .utf8
        )
        #expect(script.contains("swift build -c release --static-swift-stdlib --product switchyard"))
        #expect(Self.dockerfile.contains("USER switchyard"))
        #expect(Self.dockerfile.contains("EXPOSE 6010"))
        #expect(Self.dockerfile.contains("HEALTHCHECK"))
        #expect(Self.dockerfile.contains("http://127.0.0.1:6010/health"))
        #expect(try Self.command().first == "serve")
    }

    /// The Dockerfile's CMD, e.g. `["serve", "--data-dir", "/app/data", "--log-dir", "/app/logs"]`.
    static func command() throws -> [String] {
        let line = try #require(dockerfile.split(separator: "\n").first { $0.hasPrefix("CMD ") })
        let json = line.dropFirst(4)
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String])
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["SWITCHYARD_STATIC_BINARY"] != nil))
    func theStaticReleaseBinaryServesTheShippedConfigLikeTheImage() async throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHYARD_STATIC_BINARY"])
        #expect(FileManager.default.isExecutableFile(atPath: binary), "build it with Tests/run-all.sh")

        // Only the C runtime is linked dynamically: the Swift runtime and Foundation are inside the binary.
        let ldd = Process()
        ldd.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        ldd.arguments = [binary]
        let lddOutput = Pipe()
        ldd.standardOutput = lddOutput
        try ldd.run()
        let libraries = String(decoding: lddOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ldd.waitUntilExit()
        #expect(!libraries.contains("libswiftCore"), "\(libraries)")
        #expect(!libraries.contains("libFoundation"), "\(libraries)")

        // A directory laid out like the image's /app: config/provider.json, data, logs.
        let app = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: app) }
        try FileManager.default.createDirectory(at: app.appendingPathComponent("config"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: ShippedConfigTests.repositoryRoot.appendingPathComponent("config/provider.json"),
            to: app.appendingPathComponent("config/provider.json")
        )
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.currentDirectoryURL = app
        process.arguments = try Self.command().map { $0.replacingOccurrences(of: "/app", with: app.path) }
        var environment = ProcessInfo.processInfo.environment
        environment["SWITCHYARD_HOST"] = "127.0.0.1"
        environment["SWITCHYARD_PORT"] = "0"
        environment["SWITCHYARD_CONFIG"] = nil
        process.environment = environment
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        let log = app.appendingPathComponent("logs/gateway.log")
        var port: Int?
        let started = await eventually(within: 30) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: "listening on 127.0.0.1:") {
                port = Int(text[range.upperBound...].prefix { $0.isNumber })
            }
            return port != nil
        }
        #expect(started, "the binary did not start")
        let client = GatewayClient(port: try #require(port))
        let health = try await client.get("/health")
        #expect(health.status == 200)
        #expect(health.json["status"] as? String == "healthy")
        let chat = try await client.post("/v1/chat/completions", chatBody(model: "demo", content: "from the image"))
        #expect(chat.content == "from the image")
        try await client.http.shutdown()
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
