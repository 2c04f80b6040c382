import Foundation

/// Runs one of the end-to-end scripts in `Tests/e2e` against a running gateway.
enum PythonScript {
    /// The script's exit status and everything it printed.
    static func run(
        _ name: String, baseURL: String, key: String, environment extra: [String: String] = [:]
    ) async throws -> (status: Int32, output: String) {
        var environment = extra
        environment["SWITCHYARD_BASE_URL"] = baseURL
        environment["SWITCHYARD_KEY"] = key
        return try await ChildProcess.run(
            "/usr/bin/env",
            ["python3", ShippedConfigTests.repositoryRoot.appendingPathComponent("Tests/e2e/\(name)").path],
            environment: environment
        )
    }
}

/// A program the tests run to its end, such as an SDK script or Codex CLI.
enum ChildProcess {
    /// Its exit status and everything it printed (stdout and stderr together). `environment` is added to this
    /// process's own.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: URL? = nil
    ) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        if let directory { process.currentDirectoryURL = directory }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Waiting for the program blocks a thread; a thread of its own, so that the gateway and the fake upstream
        // in this process keep the (small) concurrency pool.
        let text = await withCheckedContinuation { continuation in
            Thread {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }.start()
        }
        return (process.terminationStatus, text)
    }
}
