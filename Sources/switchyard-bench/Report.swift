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

    /// Issue 11's targets, each with the figures it compares, after a check that the load generator outran nginx
    /// (else every ratio to nginx is flattered).
    mutating func evaluateTargets() {
        func check(_ goal: String, _ measured: String, _ met: Bool?) {
            targets.append(TargetCheck(goal: goal, measured: measured, met: met))
        }
        /// A goal relative to nginx in the same scenario; not judged when nginx was not measured.
        func againstNginx(_ goal: String, _ scenario: String, _ compare: (_ nginx: Measurement) -> (measured: String, met: Bool)) {
            guard let nginx = find(scenario, .nginx) else { return check(goal, "nginx not measured", nil) }
            let (measured, met) = compare(nginx)
            check(goal, measured, met)
        }
        func times(_ value: Double, _ reference: Double) -> String {
            reference > 0 ? String(format: "%.2f ×", value / reference) : "– ×"
        }
        func rps(_ m: Measurement) -> String { String(format: "%.0f rps", m.requestsPerSecond) }
        func cpu(_ m: Measurement) -> String { String(format: "%.3f s", m.cpuSecondsPerThousand) }
        func ms(_ value: Double) -> String { String(format: "%.2f ms", value) }

        if let direct = find("chat c=32", .direct) {
            againstNginx("load generator headroom: direct ≥ 2 × nginx (chat c=32)", "chat c=32") { nginx in
                (
                    "\(times(direct.requestsPerSecond, nginx.requestsPerSecond)): direct \(rps(direct)) vs nginx \(rps(nginx)) (\(direct.loadGenerator.rawValue))",
                    direct.requestsPerSecond >= 2 * nginx.requestsPerSecond
                )
            }
        }
        if let gateway = find("chat c=32", .switchyard) {
            againstNginx("chat c=32: throughput ≥ 0.6 × nginx", "chat c=32") { nginx in
                (
                    "\(times(gateway.requestsPerSecond, nginx.requestsPerSecond)): \(rps(gateway)) vs nginx \(rps(nginx))",
                    gateway.requestsPerSecond >= 0.6 * nginx.requestsPerSecond
                )
            }
            againstNginx("chat c=32: CPU per request ≤ 2 × nginx's", "chat c=32") { nginx in
                (
                    "\(times(gateway.cpuSecondsPerThousand, nginx.cpuSecondsPerThousand)): \(cpu(gateway)) vs nginx \(cpu(nginx)) per 1k requests",
                    gateway.cpuSecondsPerThousand <= 2 * nginx.cpuSecondsPerThousand
                )
            }
        }
        if let gateway = find("chat c=1", .switchyard), let direct = find("chat c=1", .direct) {
            let added = (gateway.latencyP50 - direct.latencyP50) * 1000
            check(
                "chat c=1: p50 added over direct ≤ 100 µs",
                String(format: "%+.0f µs: p50 %.3f ms vs direct %.3f ms", added, gateway.latencyP50, direct.latencyP50), added <= 100
            )
        }
        if let gateway = find("stream", .switchyard) {
            againstNginx("stream: CPU per stream ≤ 1.5 × nginx's", "stream") { nginx in
                (
                    "\(times(gateway.cpuSecondsPerThousand, nginx.cpuSecondsPerThousand)): \(cpu(gateway)) vs nginx \(cpu(nginx)) per 1k streams",
                    gateway.cpuSecondsPerThousand <= 1.5 * nginx.cpuSecondsPerThousand
                )
            }
            againstNginx("stream: TTFB p99 ≤ nginx's + 5 ms", "stream") { nginx in
                let p99 = gateway.firstByteP99 ?? 0
                let nginxP99 = nginx.firstByteP99 ?? 0
                return ("\(ms(p99)) vs nginx \(ms(nginxP99))", p99 <= nginxP99 + 5)
            }
        }
        if let gateway = find("hold", .switchyard) {
            check("hold: 0 errors", "\(gateway.errors) errors, \(gateway.completed) streams completed", gateway.errors == 0)
            check("hold: RSS ≤ 128 MB", String(format: "%.1f MB peak", gateway.peakRSSMegabytes), gateway.peakRSSMegabytes <= 128)
            againstNginx("hold: TTFB p99 ≤ 2 × nginx's", "hold") { nginx in
                let p99 = gateway.firstByteP99 ?? 0
                let nginxP99 = nginx.firstByteP99 ?? 0
                return ("\(times(p99, nginxP99)): \(ms(p99)) vs nginx \(ms(nginxP99))", p99 <= 2 * nginxP99)
            }
        }
        if let idle = figures["startup_idle_rss_mb"] ?? figures["idle_rss_mb"] {
            check("idle RSS ≤ 20 MB", String(format: "%.1f MB", idle), idle <= 20)
        }
        if let startup = figures["startup_ms"] {
            check("start-up ≤ 100 ms", String(format: "%.1f ms", startup), startup <= 100)
        }
        if let failover = find("failover c=32", .switchyard), let chat = find("chat c=32", .switchyard) {
            check(
                "failover c=32: throughput ≥ 0.45 × switchyard's chat c=32",
                "\(times(failover.requestsPerSecond, chat.requestsPerSecond)): \(rps(failover)) vs chat \(rps(chat))",
                failover.requestsPerSecond >= 0.45 * chat.requestsPerSecond
            )
        }
    }

    func table() -> String {
        var lines = [
            "| scenario | target | load | rps | p50 ms | p99 ms | p99.9 ms | TTFB p50 ms | TTFB p99 ms | errors | CPU s/1k req | peak RSS MB |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in measurements {
            func f(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "–" }
            lines.append(
                "| \(m.scenario) | \(m.target.rawValue) | \(m.loadGenerator.rawValue) | \(String(format: "%.0f", m.requestsPerSecond)) | \(f(m.latencyP50)) | \(f(m.latencyP99)) | \(f(m.latencyP999)) | \(f(m.firstByteP50)) | \(f(m.firstByteP99)) | \(m.errors) | \(String(format: "%.3f", m.cpuSecondsPerThousand)) | \(String(format: "%.1f", m.peakRSSMegabytes)) |"
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
