import Foundation

/// The `switchyard` binary built next to the tests, started on 127.0.0.1 port 0. Its config, data and logs live
/// in `directory` (owned by the test), so a test can restart it on the same data.
final class BinaryGateway: @unchecked Sendable {
    let process = Process()
    let directory: URL
    private var exitStatus: Int32?

    static var binary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("switchyard")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return ShippedConfigTests.repositoryRoot.appendingPathComponent(".build/debug/switchyard")
    }

    var configFile: URL { directory.appendingPathComponent("provider.json") }
    var dataDirectory: URL { directory.appendingPathComponent("data") }
    var logFile: URL { directory.appendingPathComponent("logs/gateway.log") }

    /// The gateway's log so far.
    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// The request log so far, one object per request.
    var requestLog: [[String: Any]] {
        let text = (try? String(contentsOf: logFile.deletingLastPathComponent().appendingPathComponent("requests.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// The file descriptors the gateway process holds open now.
    var openDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd").count) ?? -1
    }

    /// Starts the binary; `config` (if given) is written to `configFile` first.
    init(directory: URL, config: String? = nil, environment: [String: String] = [:]) throws {
        self.directory = directory
        if let config {
            try config.write(to: configFile, atomically: true, encoding: .utf8)
        }
        try? FileManager.default.removeItem(at: logFile)
        process.executableURL = Self.binary
        process.arguments = [
            "serve", "--config", configFile.path, "--host", "127.0.0.1", "--port", "0",
            "--data-dir", dataDirectory.path, "--log-dir", logFile.deletingLastPathComponent().path,
        ]
        var processEnvironment = ProcessInfo.processInfo.environment
        processEnvironment["LOG_LEVEL"] = "info"
        processEnvironment.merge(environment) { _, new in new }
        process.environment = processEnvironment
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    /// Waits until the server reports the port it listens on.
    func waitForPort() async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = log
            if let range = text.range(of: "listening on 127.0.0.1:") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return port }
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BinaryGatewayError(log: log)
    }

    func send(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Sends SIGTERM (or `signal`) and returns the exit status.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) -> Int32 {
        if let exitStatus { return exitStatus }
        if process.isRunning { send(signal) }
        process.waitUntilExit()
        exitStatus = process.terminationStatus
        return process.terminationStatus
    }
}

struct BinaryGatewayError: Error, CustomStringConvertible {
    var log: String
    var description: String { "switchyard did not start listening:\n\(log)" }
}

func temporaryDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}
