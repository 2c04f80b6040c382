import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

@main
struct SwitchyardBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard-bench",
        abstract: "Measures Switchyard against its upstream directly and nginx as a plain reverse proxy, side by side.",
        subcommands: [Run.self, Instructions.self, Upstream.self],
        defaultSubcommand: Run.self
    )
}

/// The fake upstream, run as its own process by `run`.
struct Upstream: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the benchmark's fake upstream (used by run).")

    @Option var port = 0
    @Option var threads = 1

    func run() throws {
        try FakeUpstreamServer.run(port: port, threads: threads)
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the benchmark scenarios and print a table.")

    @Option(help: "Scenarios: chat, stream, hold, failover, startup (comma-separated).")
    var scenarios = "chat,stream,hold,failover,startup"

    @Option(help: "Seconds of measured load per run.")
    var duration = 10.0

    @Option(help: "Seconds of unmeasured load before each run.")
    var warmup = 2.0

    @Option(help: "Concurrent streams in the stream scenario.")
    var streamConcurrency = 1000

    @Option(help: "Streams held open in the hold scenario.")
    var holdStreams = 5000

    @Option(help: "Streams opened per second in the hold scenario.")
    var holdRate = 500.0

    @Option(help: "Event loops of the fake upstream (more lets \"direct\" outrun the proxies on a larger machine).")
    var upstreamThreads = 1

    @Option(help: "Where to write the results as JSON.")
    var json = "bench-results.json"

    @Option(help: "The switchyard binary (default: the one beside this benchmark, built if missing).")
    var gateway: String?

    @Flag(help: "Skip nginx even when it is installed.")
    var noNginx = false

    @Option(help: "What drives chat and failover: auto (wrk when on PATH, else nio), wrk or nio. Streams, hold and start-up always use nio.")
    var loadGenerator = LoadGeneratorChoice.auto

    @Option(help: "wrk's threads (-t); wrk runs whole seconds, so --duration and --warmup are rounded up for it.")
    var wrkThreads = 1

    func validate() throws {
        guard wrkThreads >= 1 else { throw ValidationError("--wrk-threads must be at least 1") }
    }

    func run() async throws {
        let openFiles = raiseOpenFileLimit()
        let selected = Set(scenarios.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        let binary = try gatewayBinary()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-bench-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let wrk = try loadGenerator.wrkGenerator(threads: wrkThreads, directory: work)

        let machine = Machine.describe(openFiles: openFiles)
        print("switchyard-bench on \(machine.summary)")
        print("gateway binary: \(binary)")

        let upstream = try ChildProcess(
            name: "upstream", executable: CommandLine.arguments[0],
            arguments: ["upstream", "--threads", String(upstreamThreads)]
        )
        defer { upstream.stop() }
        guard let upstreamPort = Int(try upstream.waitForLine(startingWith: "listening")) else {
            throw BenchError("the upstream printed no port")
        }

        let holdSeconds = Int((Double(holdStreams) / holdRate).rounded(.up)) + 8
        let gatewayProcess = try GatewayTarget.start(
            binary: binary, directory: work.appendingPathComponent("gateway"), upstreamPort: upstreamPort,
            holdSeconds: holdSeconds
        )
        defer { gatewayProcess.process.stop() }

        var nginx: NginxTarget?
        if !noNginx, let executable = NginxTarget.executable() {
            nginx = try NginxTarget.start(
                executable: executable, directory: work.appendingPathComponent("nginx"), upstreamPort: upstreamPort
            )
        }
        defer { nginx?.stop() }

        let targets: [Target] =
            [Target.direct(port: upstreamPort, pid: upstream.pid)]
            + (nginx.map { [Target.nginx(port: $0.port, pids: { ProcessStats.family(of: $0.pid) }($0))] } ?? [])
            + [Target.switchyard(port: gatewayProcess.port, pid: gatewayProcess.process.pid)]

        let load = LoadGenerator(threads: 1)
        defer { load.shutdown() }
        var report = Report(machine: machine, command: CommandLine.arguments.joined(separator: " "))
        report.notes.append(
            "chat and failover load: " + (wrk?.summary ?? "the NIO generator, 1 thread")
                + "; streams, hold and start-up: the NIO generator, 1 thread"
        )
        let idle = ProcessStats.memory([gatewayProcess.process.pid])
        report.notes.append("switchyard idle RSS after start: \(Report.megabytes(idle)) MB")
        report.figures["idle_rss_mb"] = Report.megabytesValue(idle)

        for scenario in Scenario.all where selected.contains(scenario.group) {
            for target in targets {
                print("running \(scenario.name) against \(target.kind.rawValue)…")
                let measured = try await scenario.run(
                    on: target, load: load, wrk: wrk, duration: duration, warmup: warmup, streamConcurrency: streamConcurrency,
                    holdStreams: holdStreams, holdRate: holdRate, holdSeconds: holdSeconds
                )
                report.add(measured)
            }
        }

        if selected.contains("startup") {
            print("measuring start-up…")
            let startup = try await GatewayTarget.measureStartup(
                binary: binary, directory: work.appendingPathComponent("startup"), upstreamPort: upstreamPort
            )
            report.figures["startup_ms"] = startup.milliseconds
            report.figures["startup_idle_rss_mb"] = Report.megabytesValue(startup.idleRSS)
            report.notes.append(
                "start-up, exec to first served request: \(String(format: "%.1f", startup.milliseconds)) ms; idle RSS \(Report.megabytes(startup.idleRSS)) MB"
            )
        }

        report.evaluateTargets()
        print("")
        print(report.table())
        try report.json().write(to: URL(fileURLWithPath: json))
        print("results written to \(json)")
    }

    /// The gateway binary: `--gateway`, or `switchyard` beside this executable, built with the same flags if
    /// missing.
    func gatewayBinary() throws -> String {
        if let gateway { return gateway }
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let beside = directory.appendingPathComponent("switchyard").path
        if !FileManager.default.isExecutableFile(atPath: beside) {
            print("building switchyard (release)…")
            let build = Process()
            build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            build.arguments = ["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "switchyard"]
            try build.run()
            build.waitUntilExit()
        }
        guard FileManager.default.isExecutableFile(atPath: beside) else {
            throw BenchError("no switchyard binary at \(beside); build it with swift build -c release")
        }
        return beside
    }
}

/// The machine the figures come from.
struct Machine: Codable {
    var cpu: String
    var cores: Int
    var memory: String
    var kernel: String
    var openFiles: Int

    var summary: String { "\(cpu), \(cores) cores, \(memory) RAM, Linux \(kernel), open-files limit \(openFiles)" }

    static func describe(openFiles: Int) -> Machine {
        let cpuInfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuInfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown CPU"
        let memInfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let kilobytes = memInfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        return Machine(
            cpu: model, cores: ProcessInfo.processInfo.activeProcessorCount,
            memory: "\(kilobytes / 1024 / 1024) GiB", kernel: commandOutput("/bin/uname", ["-r"]), openFiles: openFiles
        )
    }
}
