import Foundation
import SwitchyardCore

/// Finishes request traces: one JSON line in `<log-dir>/requests.log` (when `_global.log_requests` is on) and
/// the request-level metrics.
struct RequestRecorder: Sendable {
    let metrics: GatewayMetrics
    let requestLog: LogSink
    let state: GatewayState

    func started(_ trace: RequestTrace) {
        metrics.requestStarted()
    }

    /// Ends the trace with `status`; later calls for the same trace do nothing.
    func finish(_ trace: RequestTrace, status: Int) {
        guard let summary = trace.finish(status: status) else { return }
        metrics.requestEnded()
        // Only configured names become label values: a client's made-up model name would be a series forever (an
        // alias or a name a wildcard matched counts as its model).
        let model = summary.model.map { state.table.route(for: $0)?.name ?? "unknown" } ?? "none"
        let provider = summary.provider ?? "none"
        metrics.request(model: model, provider: provider, status: status)
        metrics.overhead(summary.overhead)
        if let usage = summary.usage, summary.provider != nil {
            metrics.tokens(model: model, provider: provider, usage: usage)
        }
        if let ttfb = summary.timeToFirstByte, summary.stream {
            metrics.timeToFirstByte(model: model, provider: provider, ttfb)
        }
        if state.table.config.global.logRequests {
            var line = Self.line(trace, summary)
            line.append(UInt8(ascii: "\n"))
            requestLog.write(line)
        }
    }

    /// The request-log line, written field by field in a fixed order straight into bytes (encoding through
    /// `JSONSerialization` with sorted keys cost more than everything else a request does).
    static func line(_ trace: RequestTrace, _ summary: RequestTrace.Summary) -> [UInt8] {
        var line = JSONLine()
        line.field("time", time: trace.startedAt)
        line.field("request_id", string: trace.id)
        line.field("method", string: GatewayError.clipped(trace.method))
        line.field("path", string: GatewayError.clipped(trace.path))
        line.field("model", string: summary.model.map { GatewayError.clipped($0) })
        line.field("stream", bool: summary.stream)
        line.field("status", integer: summary.status)
        line.field("provider", string: summary.provider)
        line.field("attempts", objects: summary.attempts) { item, attempt in
            item.field("provider", string: attempt.provider)
            item.field("result", string: attempt.result)
            item.field("latency_ms", decimal: attempt.latency.milliseconds)
        }
        if let usage = summary.usage {
            line.field("prompt_tokens", integer: usage.promptTokens)
            line.field("completion_tokens", integer: usage.completionTokens)
            line.field("total_tokens", integer: usage.totalTokens)
            line.field("tokens_estimated", bool: usage.estimated)
        }
        line.field("duration_ms", decimal: summary.total.milliseconds)
        if let ttfb = summary.timeToFirstByte {
            line.field("ttfb_ms", decimal: ttfb.milliseconds)
        }
        line.field("overhead_ms", decimal: summary.overhead.milliseconds, places: 3)
        if let outcome = summary.streamOutcome {
            line.field("stream_outcome", string: outcome)
        }
        line.field("client_key", string: trace.clientKeyFingerprint)
        return line.bytes()
    }
}

/// One JSON object built field by field into bytes; keys are constants, so they are written without escaping.
struct JSONLine {
    private var buffer: [UInt8]
    private var needsComma = false

    init() {
        buffer = []
        buffer.reserveCapacity(640)
        buffer.append(UInt8(ascii: "{"))
    }

    /// The object, closed.
    consuming func bytes() -> [UInt8] {
        buffer.append(UInt8(ascii: "}"))
        return buffer
    }

    /// A string field, or `null`.
    mutating func field(_ key: StaticString, string: String?) {
        startField(key)
        guard let string else { return buffer += "null".utf8 }
        JSONText.appendQuoted(string, to: &buffer)
    }

    mutating func field(_ key: StaticString, bool: Bool) {
        startField(key)
        buffer += (bool ? "true" : "false").utf8
    }

    mutating func field(_ key: StaticString, integer: Int) {
        startField(key)
        if integer < 0 { buffer.append(UInt8(ascii: "-")) }
        appendDecimalDigits(of: integer.magnitude)
    }

    /// A number rounded to `places` (at most 3) digits after the point, written as Swift prints a `Double`
    /// (`12.0`, `0.25`); `null` when it is not finite.
    mutating func field(_ key: StaticString, decimal value: Double, places: Int = 2) {
        startField(key)
        let scale = [1, 10, 100, 1000][min(max(places, 0), 3)]
        let scaled = (value * Double(scale)).rounded()
        guard scaled.isFinite, scaled.magnitude < 1e15 else { return buffer += "null".utf8 }
        let units = Int(scaled)
        if units < 0 { buffer.append(UInt8(ascii: "-")) }
        appendDecimalDigits(of: units.magnitude / UInt(scale))
        buffer.append(UInt8(ascii: "."))
        var fraction = Int(units.magnitude % UInt(scale))
        var digits = places
        while digits > 1, fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        ISOTimestamp.appendDigits(fraction, count: max(digits, 1), to: &buffer)
    }

    /// A UTC timestamp with milliseconds.
    mutating func field(_ key: StaticString, time: Date) {
        startField(key)
        buffer.append(UInt8(ascii: "\""))
        LogTime.append(time, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
    }

    /// An array of objects, each written by `write`.
    mutating func field<Items: Sequence>(
        _ key: StaticString, objects items: Items, _ write: (inout JSONLine, Items.Element) -> Void
    ) {
        startField(key)
        buffer.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { buffer.append(UInt8(ascii: ",")) }
            first = false
            buffer.append(UInt8(ascii: "{"))
            needsComma = false
            write(&self, item)
            buffer.append(UInt8(ascii: "}"))
        }
        buffer.append(UInt8(ascii: "]"))
        needsComma = true
    }

    private mutating func startField(_ key: StaticString) {
        if needsComma { buffer.append(UInt8(ascii: ",")) }
        needsComma = true
        buffer.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { buffer += $0 }
        buffer += "\":".utf8
    }

    private mutating func appendDecimalDigits(of value: UInt) {
        var divisor: UInt = 1
        while value / divisor >= 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            buffer.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}
