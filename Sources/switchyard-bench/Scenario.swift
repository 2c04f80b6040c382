import Foundation
import NIOConcurrencyHelpers

/// One load pattern from the performance issue.
struct Scenario {
    enum Load {
        /// Non-stream chat with this many keep-alive connections.
        case chat(connections: Int)
        /// Streams of 20 chunks 10 ms apart, back to back on this many connections (the figure when nil).
        case stream(connections: Int?)
        /// Thousands of long streams held open at once, opened at a fixed rate.
        case hold
        /// Non-stream chat where the first provider always answers 503 and the second serves.
        case failover
    }

    var name: String
    /// The `--scenarios` word that selects it.
    var group: String
    var load: Load

    static let all: [Scenario] = [
        Scenario(name: "chat c=1", group: "chat", load: .chat(connections: 1)),
        Scenario(name: "chat c=32", group: "chat", load: .chat(connections: 32)),
        Scenario(name: "stream", group: "stream", load: .stream(connections: nil)),
        // The same at a tenth of the concurrency, where the machine is not saturated.
        Scenario(name: "stream c=100", group: "stream", load: .stream(connections: 100)),
        Scenario(name: "hold", group: "hold", load: .hold),
        Scenario(name: "failover c=32", group: "failover", load: .failover),
    ]

    func run(
        on target: Target, load generator: LoadGenerator, duration: Double, warmup: Double, streamConcurrency: Int,
        holdStreams: Int, holdRate: Double, holdSeconds: Int
    ) async throws -> Measurement {
        let cpuBefore = ProcessStats.cpuSeconds(target.pids)
        let result: LoadGenerator.Result
        var peakRSS = ProcessStats.memory(target.pids)
        switch load {
        case .chat(let connections):
            result = await generator.run(
                target.template(upstreamPath: "json", model: "chat", stream: false), connections: connections,
                duration: duration, warmup: warmup
            )
        case .failover:
            // Failover only means something through a gateway: for direct and nginx the template's upstream path
            // is the plain chat answer, for comparison.
            result = await generator.run(
                target.template(upstreamPath: "json", model: "failover", stream: false), connections: 32,
                duration: duration, warmup: warmup
            )
        case .stream(let connections):
            result = await generator.run(
                target.template(upstreamPath: "sse/20/10", model: "stream", stream: true),
                connections: connections ?? streamConcurrency, duration: duration, warmup: warmup, openRate: 2000
            )
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

    /// Milliseconds at the given percentile of sorted nanosecond samples.
    static func percentile(_ sorted: [Int64], _ percent: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let index = min(sorted.count - 1, Int((Double(sorted.count) * percent / 100).rounded(.up)) - 1)
        return Double(sorted[max(0, index)]) / 1e6
    }
}
