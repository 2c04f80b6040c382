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
        // Only configured names become label values: a client's made-up model name would be a series forever.
        let model = summary.model.map { state.table.route(for: $0) == nil ? "unknown" : $0 } ?? "none"
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
            requestLog.write(Self.line(trace, summary) + "\n")
        }
    }

    /// The request-log line, written field by field in a fixed order (encoding through `JSONSerialization`
    /// with sorted keys cost more than everything else a request does).
    static func line(_ trace: RequestTrace, _ summary: RequestTrace.Summary) -> String {
        var line = JSONLine()
        line.field("time", string: LogTime.format(trace.startedAt))
        line.field("request_id", string: trace.id)
        line.field("method", string: GatewayError.clipped(trace.method))
        line.field("path", string: GatewayError.clipped(trace.path))
        line.field("model", string: summary.model.map { GatewayError.clipped($0) })
        line.field("stream", raw: summary.stream ? "true" : "false")
        line.field("status", raw: String(summary.status))
        line.field("provider", string: summary.provider)
        line.field(
            "attempts",
            raw: "["
                + summary.attempts.map { attempt in
                    var item = JSONLine()
                    item.field("provider", string: attempt.provider)
                    item.field("result", string: attempt.result)
                    item.field("latency_ms", raw: number(attempt.latency.milliseconds))
                    return item.text
                }.joined(separator: ",") + "]"
        )
        if let usage = summary.usage {
            line.field("prompt_tokens", raw: String(usage.promptTokens))
            line.field("completion_tokens", raw: String(usage.completionTokens))
            line.field("total_tokens", raw: String(usage.totalTokens))
            line.field("tokens_estimated", raw: usage.estimated ? "true" : "false")
        }
        line.field("duration_ms", raw: number(summary.total.milliseconds))
        if let ttfb = summary.timeToFirstByte {
            line.field("ttfb_ms", raw: number(ttfb.milliseconds))
        }
        line.field("overhead_ms", raw: number(summary.overhead.milliseconds, places: 3))
        if let outcome = summary.streamOutcome {
            line.field("stream_outcome", string: outcome)
        }
        line.field("client_key", string: trace.clientKeyFingerprint)
        return line.text
    }

    /// A decimal rounded to `places` digits after the point.
    static func number(_ value: Double, places: Int = 2) -> String {
        let scale = pow(10, Double(places))
        return String((value * scale).rounded() / scale)
    }
}

/// One JSON object built field by field.
struct JSONLine {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    var text: String { String(decoding: bytes + [UInt8(ascii: "}")], as: UTF8.self) }

    /// A field whose value is already JSON (a number, `true`, an array…).
    mutating func field(_ key: String, raw: String) {
        startField(key)
        bytes += raw.utf8
    }

    /// A string field, or `null`.
    mutating func field(_ key: String, string: String?) {
        guard let string else { return field(key, raw: "null") }
        startField(key)
        JSONText.appendQuoted(string, to: &bytes)
    }

    private mutating func startField(_ key: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        JSONText.appendQuoted(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }
}
