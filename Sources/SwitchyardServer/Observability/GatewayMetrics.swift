import CoreMetrics
import Metrics
import Foundation
import Prometheus
import Synchronization
import SwitchyardCore

/// Switchyard's metrics, through swift-metrics into a Prometheus registry owned by the gateway (never the global
/// `MetricsSystem`, so several gateways, e.g. in tests, keep separate numbers). All names start with `switchyard_`.
final class GatewayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let inFlight: Meter
    private let openStreams: Meter
    private let overhead: CoreMetrics.Timer
    /// Metrics with per-(model, provider) labels, made once per label set.
    private let handles = Mutex<[String: AnyObject]>([:])

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            "switchyard_gateway_overhead_seconds": [
                .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
                .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(50),
            ],
            "switchyard_upstream_latency_seconds": Self.latencyBuckets,
            "switchyard_stream_ttfb_seconds": Self.latencyBuckets,
        ]
        self.factory = factory
        inFlight = Meter(label: "switchyard_in_flight_requests", factory: factory)
        openStreams = Meter(label: "switchyard_open_streams", factory: factory)
        overhead = CoreMetrics.Timer(label: "switchyard_gateway_overhead_seconds", factory: factory)
    }

    static let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120),
    ]

    private func handle<Metric: AnyObject>(_ label: String, _ dimensions: [(String, String)], make: () -> Metric) -> Metric {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return handles.withLock { handles in
            if let existing = handles[key] as? Metric { return existing }
            let metric = make()
            handles[key] = metric
            return metric
        }
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
        handle(label, dimensions) { CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory) }
    }

    private func timer(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Timer {
        handle(label, dimensions) { CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory) }
    }

    private func gauge(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Gauge {
        handle(label, dimensions) { CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory) }
    }

    // MARK: Recording

    func requestStarted() { inFlight.increment() }
    func requestEnded() { inFlight.decrement() }
    func streamOpened() { openStreams.increment() }
    func streamClosed() { openStreams.decrement() }

    func request(model: String, provider: String, status: Int) {
        counter("switchyard_requests_total", [("model", model), ("provider", provider), ("status", String(status))]).increment()
    }

    func attempt(model: String, provider: String, outcome: String, latency: Duration) {
        let labels = [("model", model), ("provider", provider)]
        counter("switchyard_upstream_attempts_total", labels + [("outcome", outcome)]).increment()
        timer("switchyard_upstream_latency_seconds", labels).record(duration: latency)
    }

    func failover(model: String, provider: String, reason: String) {
        counter("switchyard_failovers_total", [("model", model), ("provider", provider), ("reason", reason)]).increment()
    }

    func overhead(_ duration: Duration) {
        overhead.record(duration: duration)
    }

    func timeToFirstByte(model: String, provider: String, _ duration: Duration) {
        timer("switchyard_stream_ttfb_seconds", [("model", model), ("provider", provider)]).record(duration: duration)
    }

    func tokens(model: String, provider: String, usage: TokenUsage) {
        let labels = [("model", model), ("provider", provider)]
        counter("switchyard_tokens_total", labels + [("kind", "prompt")]).increment(by: usage.promptTokens)
        counter("switchyard_tokens_total", labels + [("kind", "completion")]).increment(by: usage.completionTokens)
        if usage.estimated {
            counter("switchyard_estimated_tokens_total", labels).increment(by: usage.totalTokens)
        }
    }

    func streamFailed(model: String, provider: String) {
        counter("switchyard_streams_failed_total", [("model", model), ("provider", provider)]).increment()
    }

    // MARK: Scraping

    static let statuses = ["available", "rate_limited", "cooling_down", "disabled"]

    /// The Prometheus text, after refreshing the gauges that describe current state (quotas, provider status).
    func scrape(state: GatewayState) -> [UInt8] {
        let now = state.clock.now()
        for route in state.table.routes {
            for slot in route.providers {
                let labels = [("model", route.name), ("provider", slot.config.name)]
                let usage = slot.state.usage.snapshot
                gauge("switchyard_quota_used", labels + [("kind", "requests")]).record(usage.requests)
                gauge("switchyard_quota_used", labels + [("kind", "tokens")]).record(usage.tokens)
                if let limit = slot.config.rateLimit?.requestsPerPeriod {
                    gauge("switchyard_quota_remaining", labels + [("kind", "requests")]).record(max(0, limit - usage.requests))
                }
                if let limit = slot.config.rateLimit?.tokensPerPeriod {
                    gauge("switchyard_quota_remaining", labels + [("kind", "tokens")]).record(max(0, limit - usage.tokens))
                }
                let (current, _) = ProviderStatus.of(slot, now: now, state: state)
                for status in Self.statuses {
                    gauge("switchyard_provider_status", labels + [("status", status)]).record(status == current ? 1 : 0)
                }
            }
        }
        return registry.emitToBuffer()
    }
}
