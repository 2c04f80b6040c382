import Foundation

/// Runs one of the end-to-end scripts in `Tests/e2e` against a running gateway.
enum PythonScript {
    /// The script's exit status and everything it printed.
    static func run(
        _ name: String, baseURL: String, key: String, environment extra: [String: String] = [:]
    ) async throws -> (status: Int32, output: String) {
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", ShippedConfigTests.repositoryRoot.appendingPathComponent("Tests/e2e/\(name)").path]
        var environment = ProcessInfo.processInfo.environment
        environment["SWITCHYARD_BASE_URL"] = baseURL
        environment["SWITCHYARD_KEY"] = key
        environment.merge(extra) { _, new in new }
        python.environment = environment
        let output = Pipe()
        python.standardOutput = output
        python.standardError = output
        try python.run()
        // Waiting for the script blocks a thread; a thread of its own, so that the gateway and the fake upstream
        // in this process keep the (small) concurrency pool.
        let text = await withCheckedContinuation { continuation in
            Thread {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                python.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }.start()
        }
        return (python.terminationStatus, text)
    }
}
