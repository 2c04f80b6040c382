import Foundation
import Logging
import Hummingbird
import NIOCore
import SwitchyardCore

/// `/admin/stats`, `/admin/providers/{model}` and `/admin/reload`.
struct AdminController {
    let state: GatewayState

    func addRoutes(to router: Router<GatewayRequestContext>) {
        let admin = router.group("admin").add(middleware: AdminAuthMiddleware(state: state))
        admin.get("stats") { _, _ in OpenAIController.json(stats()) }
        admin.get("providers/{model}") { _, context in
            let name = context.parameters.get("model") ?? ""
            guard let route = state.table.route(for: name) else { throw GatewayError.modelNotFound(name) }
            return OpenAIController.json(route.providers.map(providerStatus))
        }
        admin.post("reload") { _, _ in reload() }
    }

    /// `{model: {provider: {requests, tokens, estimated_tokens, last_reset, next_reset, limit_requests,
    /// limit_tokens, period_cron, sessions}}}`.
    func stats() -> [String: Any] {
        var models: [String: Any] = [:]
        let sessions = state.sessions.counts()
        for route in state.table.routes {
            var providers: [String: Any] = [:]
            for slot in route.providers {
                let usage = slot.state.usage.snapshot
                var entry: [String: Any] = [
                    "requests": usage.requests,
                    "tokens": usage.tokens,
                    "estimated_tokens": usage.estimatedTokens,
                    "last_reset": state.files.format(usage.lastReset),
                    "next_reset": slot.nextReset(in: state.timeZone).map(state.files.format) ?? NSNull(),
                    "limit_requests": slot.config.rateLimit?.requestsPerPeriod ?? NSNull(),
                    "limit_tokens": slot.config.rateLimit?.tokensPerPeriod ?? NSNull(),
                    "period_cron": slot.resetSchedule.expression,
                    "sessions": sessions[route.name]?[slot.config.name] ?? 0,
                ]
                if let error = slot.state.usage.persistenceError { entry["persist_error"] = error }
                providers[slot.config.name] = entry
            }
            models[route.name] = providers
        }
        return models
    }

    func providerStatus(_ slot: ProviderSlot) -> [String: Any] {
        let provider = slot.config
        let (status, reason) = ProviderStatus.of(slot, now: state.clock.now(), state: state)
        return [
            "name": provider.name, "priority": provider.priority, "weight": provider.weight,
            "enabled": provider.enabled, "status": status, "status_reason": reason,
            "stream_support": provider.streamSupport, "non_stream_support": provider.nonStreamSupport,
            "circuit": circuit(slot),
        ]
    }

    /// `{state: closed | open | half_open | disabled, consecutive_failures, open_until, openings}`.
    func circuit(_ slot: ProviderSlot) -> [String: Any] {
        let breaker = slot.state.breaker
        var entry: [String: Any] = [
            "state": CircuitStatus.of(breaker, config: slot.config.circuitBreaker).name,
            "consecutive_failures": breaker.consecutiveFailures, "openings": breaker.openings,
            "open_until": NSNull(),
        ]
        if case .open(let until) = breaker.state { entry["open_until"] = state.files.format(until) }
        return entry
    }

    func reload() -> Response {
        do {
            let summary = try state.reload()
            return OpenAIController.json([
                "status": "ok", "message": "Configuration reloaded", "file": state.configFile,
                "models": summary.models, "providers": summary.providers, "warnings": summary.warnings,
                "summary": summary.summary,
            ])
        } catch {
            let problems = (error as? ConfigValidationError)?.problems.map(\.description) ?? ["\(error)"]
            state.logger.error("ERROR reload failed, keeping the running config: \(error)")
            let gatewayError = GatewayError.invalidRequest(
                "Reload failed; the running configuration is unchanged. \(problems.joined(separator: "; "))",
                code: "invalid_config"
            )
            return OpenAIController.json(
                [
                    "status": "error",
                    "error": (try? JSONSerialization.jsonObject(with: Data(gatewayError.errorObject))) ?? [:],
                    "errors": problems,
                ],
                status: .badRequest
            )
        }
    }
}

/// A provider's state for people and dashboards.
enum ProviderStatus {
    /// `available`, `rate_limited` (quota used up), `cooling_down` (recent 429/401/403, or 503 with
    /// `Retry-After`), `circuit_open` or `disabled`, with the reason in words.
    static func of(_ slot: ProviderSlot, now: Date, state: GatewayState) -> (status: String, reason: String) {
        let provider = slot.config
        guard provider.enabled else { return ("disabled", "Provider is disabled") }
        if let cooldown = slot.state.cooldown(now: now) {
            return ("cooling_down", "Cooling down after HTTP \(cooldown.status) until \(state.files.format(cooldown.until))")
        }
        switch slot.state.breaker.refusal(now: now, config: provider.circuitBreaker) {
        case .refused(let until?):
            return ("circuit_open", "Circuit open after repeated failures until \(state.files.format(until))")
        case .refused(nil):
            return ("circuit_open", "Circuit half-open: a request is probing the provider")
        default:
            break
        }
        let usage = slot.state.usage.snapshot
        let resets = slot.nextReset(in: state.timeZone).map { ", resets \(state.files.format($0))" } ?? ""
        if let limit = provider.rateLimit?.requestsPerPeriod, usage.requests >= limit {
            return ("rate_limited", "Request limit exceeded: \(usage.requests)/\(limit)\(resets)")
        }
        if let limit = provider.rateLimit?.tokensPerPeriod, usage.tokens >= limit {
            return ("rate_limited", "Token limit exceeded: \(usage.tokens)/\(limit)\(resets)")
        }
        return ("available", "OK")
    }
}

/// A circuit breaker's state as dashboards see it.
enum CircuitStatus: Int {
    case closed = 0
    case halfOpen = 1
    case open = 2
    case disabled = -1

    static func of(_ breaker: CircuitBreaker, config: CircuitBreakerConfig) -> CircuitStatus {
        guard config.enabled else { return .disabled }
        switch breaker.state {
        case .closed: return .closed
        case .open: return .open
        case .halfOpen: return .halfOpen
        }
    }

    var name: String {
        switch self {
        case .closed: "closed"
        case .halfOpen: "half_open"
        case .open: "open"
        case .disabled: "disabled"
        }
    }
}
