import Foundation
import NIOConcurrencyHelpers

/// One load pattern from the performance issue.
struct Scenario {
    enum Load {
        /// Non-stream chat to the gateway's `model` with this many keep-alive connections.
        case requestResponse(model: String, connections: Int)
        /// Streams of 20 chunks 10 ms apart, back to back on this many connections (the figure when nil).
        case stream(connections: Int?)
        /// Thousands of long streams held open at once, opened at a fixed rate.
        case hold
    }

    var name: String
    /// The `--scenarios` word that selects it.
    var group: String
    var load: Load

    static let all: [Scenario] = [
        Scenario(name: "chat c=1", group: "chat", load: .requestResponse(model: "chat", connections: 1)),
        Scenario(name: "chat c=32", group: "chat", load: .requestResponse(model: "chat", connections: 32)),
        Scenario(name: "stream", group: "stream", load: .stream(connections: nil)),
        // The same at a tenth of the concurrency, where the machine is not saturated.
        Scenario(name: "stream c=100", group: "stream", load: .stream(connections: 100)),
        Scenario(name: "hold", group: "hold", load: .hold),
        // The gateway's first provider always answers 503 and the second serves. Failover only means something
        // through a gateway: direct and nginx get the plain chat answer, for comparison.
        Scenario(name: "failover c=32", group: "failover", load: .requestResponse(model: "failover", connections: 32)),
    ]

    /// Runs the scenario on `target`; the request/response ones with wrk when `wrk` is given, the rest (and those,
    /// without wrk) with the NIO generator.
    func run(
        on target: Target, load generator: LoadGenerator, wrk: WrkLoadGenerator?, duration: Double, warmup: Double,
        streamConcurrency: Int, holdStreams: Int, holdRate: Double, holdSeconds: Int
    ) async throws -> Measurement {
        var cpuBefore = ProcessStats.cpuSeconds(target.pids)
        let result: LoadGenerator.Result
        var peakRSS = ProcessStats.memory(target.pids)
        /// The run with its warmup on the same (warm) connections, the target's CPU read when the measured part
        /// starts, so it is counted for the measured requests only.
        func warmedUp(_ run: (Double) async -> LoadGenerator.Result) async -> LoadGenerator.Result {
            let cpuAtMeasureStart = Task { [pids = target.pids] in
                try? await Task.sleep(for: .seconds(warmup))
                return ProcessStats.cpuSeconds(pids)
            }
            let result = await run(warmup)
            cpuBefore = await cpuAtMeasureStart.value
            return result
        }
        switch load {
        case .requestResponse(let model, let connections):
            let request = target.template(upstreamPath: "json", model: model, stream: false)
            if let wrk {
                return try await measure(request, connections: connections, with: wrk, on: target, duration: duration, warmup: warmup)
            }
            result = await warmedUp {
                await generator.run(request, connections: connections, duration: duration, warmup: $0)
            }
        case .stream(let connections):
            let request = target.template(upstreamPath: "sse/20/10", model: "stream", stream: true)
            result = await warmedUp {
                await generator.run(
                    request, connections: connections ?? streamConcurrency, duration: duration, warmup: $0, openRate: 2000
                )
            }
        case .hold:
            let done = NIOLockedValueBox(false)
            let peak = NIOLockedValueBox(peakRSS)
            result = await withTaskGroup(of: LoadGenerator.Result?.self) { group in
                group.addTask {
                    defer { done.withLockedValue { $0 = true } }
                    return await generator.run(
                        target.template(upstreamPath: "sse/\(holdSeconds)/1000", model: "hold", stream: true),
                        connections: holdStreams, duration: 0, requestsPerConnection: 1, openRate: holdRate
                    )
                }
                group.addTask {
                    while !done.withLockedValue({ $0 }) {
                        let current = ProcessStats.memory(target.pids)
                        peak.withLockedValue { $0 = max($0, current) }
                        try? await Task.sleep(for: .milliseconds(200))
                    }
                    return nil
                }
                var loadResult: LoadGenerator.Result?
                for await value in group {
                    if let value { loadResult = value }
                }
                return loadResult!
            }
            peakRSS = peak.withLockedValue { $0 }
        }
        let cpu = ProcessStats.cpuSeconds(target.pids) - cpuBefore
        peakRSS = max(peakRSS, ProcessStats.memory(target.pids))
        return Measurement(scenario: name, target: target.kind, result: result, cpuSeconds: cpu, peakRSS: peakRSS, streaming: isStreaming)
    }

    /// An unmeasured warmup run, then the measured one, with the target's CPU taken around the measured run only.
    private func measure(
        _ request: RequestTemplate, connections: Int, with wrk: WrkLoadGenerator, on target: Target, duration: Double,
        warmup: Double
    ) async throws -> Measurement {
        if warmup > 0 { _ = try await wrk.run(request, connections: connections, seconds: warmup) }
        let rssBefore = ProcessStats.memory(target.pids)
        let cpuBefore = ProcessStats.cpuSeconds(target.pids)
        let result = try await wrk.run(request, connections: connections, seconds: duration)
        let cpu = ProcessStats.cpuSeconds(target.pids) - cpuBefore
        let peakRSS = max(rssBefore, ProcessStats.memory(target.pids))
        return Measurement(scenario: name, target: target.kind, wrk: result, cpuSeconds: cpu, peakRSS: peakRSS)
    }

    var isStreaming: Bool {
        switch load {
        case .stream, .hold: true
        default: false
        }
    }
}

/// The figures of one scenario on one target.
struct Measurement: Codable {
    var scenario: String
    var target: Target.Kind
    var loadGenerator: LoadGeneratorKind
    var completed: Int
    var errors: Int
    var requestsPerSecond: Double
    var latencyP50: Double
    var latencyP99: Double
    var latencyP999: Double
    var firstByteP50: Double?
    var firstByteP99: Double?
    var firstByteP999: Double?
    /// Average reads that carried body bytes per stream.
    var readsPerStream: Double?
    var cpuSecondsPerThousand: Double
    var peakRSSMegabytes: Double

    init(scenario: String, target: Target.Kind, result: LoadGenerator.Result, cpuSeconds: Double, peakRSS: Int, streaming: Bool) {
        self.scenario = scenario
        self.target = target
        loadGenerator = .nio
        let good = result.samples.filter(\.ok)
        completed = good.count
        errors = result.errors
        requestsPerSecond = Double(good.count) / result.elapsed
        let latencies = good.map(\.latency).sorted()
        latencyP50 = Self.percentile(latencies, 50)
        latencyP99 = Self.percentile(latencies, 99)
        latencyP999 = Self.percentile(latencies, 99.9)
        if streaming {
            let firstBytes = good.map(\.firstByte).sorted()
            firstByteP50 = Self.percentile(firstBytes, 50)
            firstByteP99 = Self.percentile(firstBytes, 99)
            firstByteP999 = Self.percentile(firstBytes, 99.9)
            readsPerStream = good.isEmpty ? 0 : Double(good.reduce(0) { $0 + $1.bodyReads }) / Double(good.count)
        }
        cpuSecondsPerThousand = good.isEmpty ? 0 : cpuSeconds / Double(good.count) * 1000
        peakRSSMegabytes = Report.megabytesValue(peakRSS)
    }

    /// A request/response run of wrk; its latency percentiles cover every response, as wrk keeps them.
    init(scenario: String, target: Target.Kind, wrk result: WrkLoadGenerator.Result, cpuSeconds: Double, peakRSS: Int) {
        self.scenario = scenario
        self.target = target
        loadGenerator = .wrk
        completed = result.completed
        errors = result.errors
        requestsPerSecond = Double(result.completed) / result.seconds
        latencyP50 = Double(result.latencyP50Microseconds) / 1000
        latencyP99 = Double(result.latencyP99Microseconds) / 1000
        latencyP999 = Double(result.latencyP999Microseconds) / 1000
        cpuSecondsPerThousand = result.completed == 0 ? 0 : cpuSeconds / Double(result.completed) * 1000
        peakRSSMegabytes = Report.megabytesValue(peakRSS)
    }

    /// Milliseconds at the given percentile of sorted nanosecond samples.
    static func percentile(_ sorted: [Int64], _ percent: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let index = min(sorted.count - 1, Int((Double(sorted.count) * percent / 100).rounded(.up)) - 1)
        return Double(sorted[max(0, index)]) / 1e6
    }
}
