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
        let model = summary.model ?? "none"
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

    static func line(_ trace: RequestTrace, _ summary: RequestTrace.Summary) -> String {
        var entry: [String: Any] = [
            "time": LogTime.format(trace.startedAt),
            "request_id": trace.id,
            "method": trace.method,
            "path": trace.path,
            "model": summary.model ?? NSNull(),
            "stream": summary.stream,
            "status": summary.status,
            "provider": summary.provider ?? NSNull(),
            "attempts": summary.attempts.map { attempt -> [String: Any] in
                ["provider": attempt.provider, "result": attempt.result, "latency_ms": rounded(attempt.latency.milliseconds)]
            },
            "duration_ms": rounded(summary.total.milliseconds),
            "overhead_ms": rounded(summary.overhead.milliseconds, places: 3),
            "client_key": trace.clientKeyFingerprint ?? NSNull(),
        ]
        if let usage = summary.usage {
            entry["prompt_tokens"] = usage.promptTokens
            entry["completion_tokens"] = usage.completionTokens
            entry["total_tokens"] = usage.totalTokens
            entry["tokens_estimated"] = usage.estimated
        }
        if let ttfb = summary.timeToFirstByte {
            entry["ttfb_ms"] = rounded(ttfb.milliseconds)
        }
        if let outcome = summary.streamOutcome {
            entry["stream_outcome"] = outcome
        }
        return String(decoding: JSONValue.encode(entry), as: UTF8.self)
    }

    static func rounded(_ value: Double, places: Double = 2) -> Double {
        let scale = pow(10, places)
        return (value * scale).rounded() / scale
    }
}
