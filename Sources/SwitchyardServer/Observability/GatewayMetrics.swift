import CoreMetrics
import Metrics
import Foundation
import Prometheus
import NIOConcurrencyHelpers
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
    private let handles = NIOLockedValueBox<[HandleKey: any AnyObject & Sendable]>([:])

    /// A metric and its label values, kept apart so a lookup builds no strings.
    private struct HandleKey: Hashable {
        var label: String
        var model: String
        var provider: String
        var extraName: String = ""
        var extraValue: String = ""

        var dimensions: [(String, String)] {
            var dimensions: [(String, String)] = []
            if !model.isEmpty { dimensions.append(("model", model)) }
            if !provider.isEmpty { dimensions.append(("provider", provider)) }
            if !extraName.isEmpty { dimensions.append((extraName, extraValue)) }
            return dimensions
        }
    }

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

    private func handle<Metric: AnyObject & Sendable>(_ key: HandleKey, make: (String, [(String, String)]) -> Metric) -> Metric {
        handles.withLockedValue { handles in
            if let existing = handles[key] as? Metric { return existing }
            let metric = make(key.label, key.dimensions)
            handles[key] = metric
            return metric
        }
    }

    private func counter(_ key: HandleKey) -> CoreMetrics.Counter {
        handle(key) { CoreMetrics.Counter(label: $0, dimensions: $1, factory: factory) }
    }

    private func timer(_ key: HandleKey) -> CoreMetrics.Timer {
        handle(key) { CoreMetrics.Timer(label: $0, dimensions: $1, factory: factory) }
    }

    private func gauge(_ key: HandleKey) -> CoreMetrics.Gauge {
        handle(key) { CoreMetrics.Gauge(label: $0, dimensions: $1, factory: factory) }
    }

    /// Removes every series of `providers` (after a reload dropped them), so scrapes stop reporting them.
    func forget(_ providers: Set<ProviderKey>) {
        guard !providers.isEmpty else { return }
        let gone = handles.withLockedValue { handles -> [any AnyObject & Sendable] in
            let keys = handles.keys.filter { providers.contains(ProviderKey(model: $0.model, provider: $0.provider)) }
            return keys.compactMap { handles.removeValue(forKey: $0) }
        }
        for metric in gone {
            switch metric {
            case let counter as CoreMetrics.Counter: counter.destroy()
            case let timer as CoreMetrics.Timer: timer.destroy()
            case let gauge as CoreMetrics.Gauge: gauge.destroy()
            default: break
            }
        }
    }

    // MARK: Recording

    func requestStarted() { inFlight.increment() }
    func requestEnded() { inFlight.decrement() }
    func streamOpened() { openStreams.increment() }
    func streamClosed() { openStreams.decrement() }

    func request(model: String, provider: String, status: Int) {
        counter(HandleKey(label: "switchyard_requests_total", model: model, provider: provider, extraName: "status", extraValue: String(status)))
            .increment()
    }

    func attempt(model: String, provider: String, outcome: String, latency: Duration) {
        counter(
            HandleKey(label: "switchyard_upstream_attempts_total", model: model, provider: provider, extraName: "outcome", extraValue: outcome)
        ).increment()
        timer(HandleKey(label: "switchyard_upstream_latency_seconds", model: model, provider: provider)).record(duration: latency)
    }

    func keyServed(model: String, provider: String, key: String) {
        counter(HandleKey(label: "switchyard_key_requests_total", model: model, provider: provider, extraName: "key", extraValue: key))
            .increment()
    }

    func failover(model: String, provider: String, reason: String) {
        counter(HandleKey(label: "switchyard_failovers_total", model: model, provider: provider, extraName: "reason", extraValue: reason))
            .increment()
    }

    func overhead(_ duration: Duration) {
        overhead.record(duration: duration)
    }

    func timeToFirstByte(model: String, provider: String, _ duration: Duration) {
        timer(HandleKey(label: "switchyard_stream_ttfb_seconds", model: model, provider: provider)).record(duration: duration)
    }

    func tokens(model: String, provider: String, usage: TokenUsage) {
        func tokens(_ kind: String) -> HandleKey {
            HandleKey(label: "switchyard_tokens_total", model: model, provider: provider, extraName: "kind", extraValue: kind)
        }
        counter(tokens("prompt")).increment(by: usage.promptTokens)
        counter(tokens("completion")).increment(by: usage.completionTokens)
        if usage.estimated {
            counter(HandleKey(label: "switchyard_estimated_tokens_total", model: model, provider: provider)).increment(by: usage.totalTokens)
        }
    }

    func streamFailed(model: String, provider: String) {
        counter(HandleKey(label: "switchyard_streams_failed_total", model: model, provider: provider)).increment()
    }

    // MARK: Scraping

    static let statuses = ["available", "rate_limited", "cooling_down", "keys_exhausted", "circuit_open", "disabled"]

    /// The Prometheus text, after refreshing the gauges that describe current state (quotas, provider status).
    func scrape(state: GatewayState) -> [UInt8] {
        let now = state.clock.now()
        for route in state.table.routes {
            for slot in route.providers {
                func key(_ label: String, _ name: String, _ value: String) -> HandleKey {
                    HandleKey(label: label, model: route.name, provider: slot.config.name, extraName: name, extraValue: value)
                }
                let usage = slot.state.usage.snapshot
                gauge(key("switchyard_quota_used", "kind", "requests")).record(usage.requests)
                gauge(key("switchyard_quota_used", "kind", "tokens")).record(usage.tokens)
                if let limit = slot.config.rateLimit?.requestsPerPeriod {
                    gauge(key("switchyard_quota_remaining", "kind", "requests")).record(max(0, limit - usage.requests))
                }
                if let limit = slot.config.rateLimit?.tokensPerPeriod {
                    gauge(key("switchyard_quota_remaining", "kind", "tokens")).record(max(0, limit - usage.tokens))
                }
                let (current, _) = ProviderStatus.of(slot, now: now, state: state)
                for status in Self.statuses {
                    gauge(key("switchyard_provider_status", "status", status)).record(status == current ? 1 : 0)
                }
                let circuit = CircuitStatus.of(slot.state.breaker, config: slot.config.circuitBreaker)
                gauge(HandleKey(label: "switchyard_circuit_state", model: route.name, provider: slot.config.name))
                    .record(circuit.rawValue)
            }
        }
        return registry.emitToBuffer()
    }
}
