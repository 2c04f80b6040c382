import Foundation

/// The benchmark's output: a table for people and JSON for tools, with each target of the performance issue
/// checked.
struct Report: Codable {
    var machine: Machine
    var command: String
    var date = ISO8601DateFormatter().string(from: Date())
    var measurements: [Measurement] = []
    var figures: [String: Double] = [:]
    var notes: [String] = []
    var targets: [TargetCheck] = []

    struct TargetCheck: Codable {
        var goal: String
        var measured: String
        var met: Bool?
    }

    init(machine: Machine, command: String) {
        self.machine = machine
        self.command = command
    }

    mutating func add(_ measurement: Measurement) {
        measurements.append(measurement)
    }

    func find(_ scenario: String, _ target: Target.Kind) -> Measurement? {
        measurements.first { $0.scenario == scenario && $0.target == target }
    }

    static func megabytesValue(_ bytes: Int) -> Double { (Double(bytes) / 1_048_576 * 10).rounded() / 10 }
    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f", megabytesValue(bytes)) }

    mutating func evaluateTargets() {
        func check(_ goal: String, _ measured: String, _ met: Bool?) {
            targets.append(TargetCheck(goal: goal, measured: measured, met: met))
        }
        if let gateway = find("chat c=32", .switchyard) {
            if let nginx = find("chat c=32", .nginx) {
                let ratio = gateway.requestsPerSecond / max(nginx.requestsPerSecond, 1)
                check("chat c=32: throughput ≥ 0.6 × nginx", String(format: "%.2f × nginx (%.0f vs %.0f rps)", ratio, gateway.requestsPerSecond, nginx.requestsPerSecond), ratio >= 0.6)
            } else {
                check("chat c=32: throughput ≥ 0.6 × nginx", String(format: "%.0f rps (nginx not installed)", gateway.requestsPerSecond), nil)
            }
        }
        if let gateway = find("chat c=1", .switchyard), let direct = find("chat c=1", .direct) {
            let added = (gateway.latencyP50 - direct.latencyP50) * 1000
            check("chat c=1: p50 added over direct ≤ 100 µs", String(format: "%.0f µs", added), added <= 100)
        }
        if let gateway = find("stream", .switchyard), let direct = find("stream", .direct) {
            let added = ((gateway.firstByteP99 ?? 0) - (direct.firstByteP99 ?? 0))
            check("stream: TTFB p99 added ≤ 1 ms", String(format: "%.2f ms", added), added <= 1)
            let reads = gateway.readsPerStream ?? 0
            let directReads = direct.readsPerStream ?? 0
            check("stream: no chunk coalescing beyond TCP", String(format: "%.1f reads per stream (direct %.1f)", reads, directReads), reads >= directReads * 0.95)
        }
        if let gateway = find("stream c=100", .switchyard), let direct = find("stream c=100", .direct) {
            let added = ((gateway.firstByteP99 ?? 0) - (direct.firstByteP99 ?? 0))
            check("stream c=100 (not in the issue): TTFB p99 added", String(format: "%.2f ms", added), nil)
        }
        if let gateway = find("hold", .switchyard) {
            check("hold: 0 errors", "\(gateway.errors) errors", gateway.errors == 0)
            check("hold: RSS ≤ 128 MB", String(format: "%.1f MB", gateway.peakRSSMegabytes), gateway.peakRSSMegabytes <= 128)
            let p99 = gateway.firstByteP99 ?? 0
            if let nginx = find("hold", .nginx), let nginxP99 = nginx.firstByteP99 {
                check("hold: TTFB p99 ≤ 100 ms, or ≤ 2 × nginx", String(format: "%.1f ms (nginx %.1f ms)", p99, nginxP99), p99 <= 100 || p99 <= 2 * nginxP99)
            } else {
                check("hold: TTFB p99 ≤ 100 ms", String(format: "%.1f ms", p99), p99 <= 100)
            }
        }
        if let idle = figures["startup_idle_rss_mb"] ?? figures["idle_rss_mb"] {
            check("idle RSS ≤ 20 MB", String(format: "%.1f MB", idle), idle <= 20)
        }
        if let startup = figures["startup_ms"] {
            check("start-up ≤ 200 ms", String(format: "%.1f ms", startup), startup <= 200)
        }
    }

    func table() -> String {
        var lines = [
            "| scenario | target | rps | p50 ms | p99 ms | p99.9 ms | TTFB p50 ms | TTFB p99 ms | errors | CPU s/1k req | peak RSS MB |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in measurements {
            func f(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "–" }
            lines.append(
                "| \(m.scenario) | \(m.target.rawValue) | \(String(format: "%.0f", m.requestsPerSecond)) | \(f(m.latencyP50)) | \(f(m.latencyP99)) | \(f(m.latencyP999)) | \(f(m.firstByteP50)) | \(f(m.firstByteP99)) | \(m.errors) | \(String(format: "%.3f", m.cpuSecondsPerThousand)) | \(String(format: "%.1f", m.peakRSSMegabytes)) |"
            )
        }
        lines.append("")
        lines.append("| target | measured | met |")
        lines.append("|---|---|---|")
        for target in targets {
            lines.append("| \(target.goal) | \(target.measured) | \(target.met.map { $0 ? "yes" : "NO" } ?? "n/a") |")
        }
        lines.append("")
        lines.append(contentsOf: notes.map { "- \($0)" })
        lines.append("- machine: \(machine.summary)")
        return lines.joined(separator: "\n")
    }

    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
