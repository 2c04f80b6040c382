import ArgumentParser
import Foundation

/// Counts the instructions Switchyard executes per request with `valgrind --tool=callgrind`, which is repeatable on
/// a noisy machine where timings are not. Each figure is the difference between a run of `base` requests and a
/// run of `base + requests`, divided by `requests`, so start-up and shutdown cancel out.
struct Instructions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Count instructions per request under callgrind.")

    @Option(help: "Measured requests per scenario.")
    var requests = 1000

    @Option(help: "Requests in the baseline run that is subtracted.")
    var base = 100

    @Option(help: "The switchyard binary (default: the one beside this benchmark).")
    var gateway: String?

    @Option(help: "A directory to keep both runs' callgrind profiles in (callgrind.<scenario>-<requests>.out).")
    var keepProfiles: String?

    func run() async throws {
        let original = gateway ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("switchyard").path
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-instructions-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        // valgrind 3.19 cannot read the DWARF 5 debug info Swift emits; a copy without it keeps the symbols.
        let binary = work.appendingPathComponent("switchyard").path
        guard commandOutput("/usr/bin/strip", ["--strip-debug", "-o", binary, original]).isEmpty,
            FileManager.default.isExecutableFile(atPath: binary)
        else { throw BenchError("strip --strip-debug failed for \(original)") }
        let upstream = try ChildProcess(name: "upstream", executable: CommandLine.arguments[0], arguments: ["upstream"])
        defer { upstream.stop() }
        guard let upstreamPort = Int(try upstream.waitForLine(startingWith: "listening")) else {
            throw BenchError("the upstream printed no port")
        }
        if let keepProfiles {
            try FileManager.default.createDirectory(atPath: keepProfiles, withIntermediateDirectories: true)
        }
        let load = LoadGenerator(threads: 1)
        defer { load.shutdown() }
        print("| scenario | instructions per request |")
        print("|---|---:|")
        for (name, path, model, stream) in [
            ("chat (non-stream)", "json", "chat", false), ("stream (20 chunks)", "sse/20/10", "stream", true),
        ] {
            var totals: [Int] = []
            for count in [base, base + requests] {
                let directory = work.appendingPathComponent("\(model)-\(count)")
                totals.append(
                    try await countInstructions(
                        binary: binary, directory: directory, upstreamPort: upstreamPort, load: load, requests: count,
                        template: { port in
                            Target.switchyard(port: port, pid: 0).template(upstreamPath: path, model: model, stream: stream)
                        }
                    )
                )
            }
            print("| \(name) | \((totals[1] - totals[0]) / requests) |")
            // Both runs, so that a profile of the requests alone is their difference.
            if let keepProfiles {
                for count in [base, base + requests] {
                    let kept = URL(fileURLWithPath: keepProfiles).appendingPathComponent("callgrind.\(model)-\(count).out")
                    try? FileManager.default.removeItem(at: kept)
                    try FileManager.default.copyItem(
                        at: work.appendingPathComponent("\(model)-\(count)/callgrind.out"), to: kept
                    )
                }
            }
        }
    }

    private func countInstructions(
        binary: String, directory: URL, upstreamPort: Int, load: LoadGenerator, requests: Int,
        template: (Int) -> RequestTemplate
    ) async throws -> Int {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configFile = directory.appendingPathComponent("provider.json")
        try GatewayTarget.config(upstreamPort: upstreamPort, holdSeconds: 10).write(to: configFile, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("callgrind.out")
        let process = try ChildProcess(
            name: "switchyard under callgrind", executable: "/usr/bin/valgrind",
            arguments: [
                "--tool=callgrind", "--callgrind-out-file=\(output.path)", binary, "serve", "--config", configFile.path,
                "--host", "127.0.0.1", "--port", "0", "--data-dir", directory.appendingPathComponent("data").path,
                "--log-dir", directory.appendingPathComponent("logs").path,
            ],
            environment: ["LOG_LEVEL": "info"]
        )
        let port = try GatewayTarget.waitForPort(
            log: directory.appendingPathComponent("logs/gateway.log"), process: process, seconds: 300
        )
        let result = await load.run(template(port), connections: 1, duration: 0, requestsPerConnection: requests)
        guard result.errors == 0 else { throw BenchError("\(result.errors) requests failed under callgrind") }
        process.stop()
        let text = try String(contentsOf: output, encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("summary:") || $0.hasPrefix("totals:") }),
            let total = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { throw BenchError("no instruction total in \(output.path)") }
        return total
    }
}
