import Foundation
import Logging
import Hummingbird
import NIOCore
import SwitchyardCore

/// `/admin/stats`, `/admin/providers/{model}`, `/admin/explain`, `/admin/events` and `/admin/reload`.
struct AdminController {
    let state: GatewayState
    let proxies: OutboundProxies

    func addRoutes(to router: Router<GatewayRequestContext>) {
        let admin = router.group("admin").add(middleware: AdminAuthMiddleware(state: state))
        admin.get("stats") { _, _ in OpenAIController.json(stats()) }
        admin.get("providers/{model}") { _, context in
            let name = context.parameters.get("model") ?? ""
            guard let route = state.table.route(for: name) else { throw GatewayError.modelNotFound(name) }
            return OpenAIController.json(route.providers.map(providerStatus))
        }
        admin.post("reload") { _, _ in reload() }
        admin.get("events") { request, _ in
            var parameters: [String: String] = [:]
            for (name, value) in request.uri.queryParameters { parameters[String(name)] = String(value) }
            let query = try EventQuery(parameters: parameters, maximumLimit: EventLog.kept)
            return events(state.events.newest(matching: query))
        }
        admin.get("explain") { request, _ in
            let query = request.uri.queryParameters
            let name = query.get("model") ?? ""
            guard let route = state.table.route(for: name) else { throw GatewayError.modelNotFound(name) }
            var tokens: Int?
            if let text = query.get("tokens") {
                guard let value = Int(text), (1...1_000_000_000).contains(value) else {
                    throw GatewayError.invalidRequest("tokens must be an integer from 1 to 1000000000.", param: "tokens")
                }
                tokens = value
            }
            return OpenAIController.json(explain(route, requested: name, session: query.get("session"), tokens: tokens))
        }
    }

    /// `GET /admin/events`: `{"events": [...]}`, newest first, each event as its line in `events.log`.
    func events(_ events: [GatewayEvent]) -> Response {
        var body = ByteBuffer(string: "{\"events\":[")
        for (index, event) in events.enumerated() {
            if index > 0 { body.writeString(",") }
            body.writeBytes(EventLog.line(event))
        }
        body.writeString("]}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }

    /// `GET /admin/explain?model=…[&session=…][&tokens=…]`: the order the next request would try the model's
    /// providers in, and for each provider why it is in or out.
    func explain(_ route: ModelRoute, requested: String, session: String?, tokens: Int?) -> [String: Any] {
        let now = state.clock.now()
        let sessionProvider = session.flatMap { state.sessions.provider(session: $0, model: route.name) }
        let explanation = RouteExplanation(route: route, preferring: sessionProvider) { slot in
            if let limit = slot.config.maxContextLength, let tokens, tokens > limit {
                return .contextTooSmall(needed: tokens, limit: limit)
            }
            return slot.availability(now: now, timeZone: state.timeZone)
        }
        let providers = explanation.entries.map { entry -> [String: Any] in
            let (reason, until) = describe(entry, now: now)
            return [
                "name": entry.provider.name, "priority": entry.provider.config.priority,
                "weight": entry.provider.config.weight, "share": (entry.share * 1000).rounded() / 1000,
                "position": entry.position ?? NSNull(), "status": entry.exclusion == nil ? "candidate" : "out",
                "reason": reason, "until": until.map(state.files.format) ?? NSNull(), "session": entry.preferred,
            ]
        }
        return [
            "model": route.name, "requested": requested, "session": session ?? NSNull(),
            "session_provider": sessionProvider ?? NSNull(), "order": explanation.candidates.map(\.provider.name),
            "providers": providers,
        ]
    }

    /// Why an entry is in or out, in words, with the time that ends it.
    func describe(_ entry: RouteExplanation.Entry, now: Date) -> (String, Date?) {
        let slot = entry.provider
        switch entry.exclusion {
        case nil:
            var reason = entry.preferred ? "available; the session's provider, offered first" : "available"
            if case .open = slot.state.breaker.state { reason += "; the next request through it probes its open circuit" }
            return (reason, nil)
        case .disabled:
            return ("disabled in the config", nil)
        case .unavailable(.available):
            return ("available", nil)
        case .unavailable(.coolingDown(let until)):
            let status = slot.state.cooldown(now: now).map { " after HTTP \($0.status)" } ?? ""
            return ("cooling down\(status)", until)
        case .unavailable(.overQuota(let until)):
            return ("over quota (\(slot.quotaUsed)) until its reset", until)
        case .unavailable(.keysExhausted(let until)):
            return ("every key of its pool refused or rate-limited" + (until == nil ? " (disabled until reload)" : ""), until)
        case .unavailable(.circuitOpen(let until?)):
            let openings = slot.state.breaker.openings
            return ("circuit open after repeated failures" + (openings > 1 ? " (opened \(openings) times in a row)" : ""), until)
        case .unavailable(.circuitOpen(nil)):
            return ("circuit half-open: a request is probing it", nil)
        case .unavailable(.cannotServe(let api)):
            return ("its type does not serve \(api)", nil)
        case .unavailable(.contextTooSmall(let needed, let limit)):
            return ("context of \(limit) tokens is smaller than the \(needed) asked for", nil)
        }
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
                if !slot.config.keyPool.isEmpty { entry["keys"] = keys(slot) }
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
            "keys": keys(slot),
            "proxies": proxyStates(slot.config.proxy),
        ]
    }

    /// The provider's outbound proxies: `[{proxy: scheme://host:port, state: usable | out, since, until, reason}]`
    /// (`until` null while out: until its next passing check); empty when it goes directly.
    func proxyStates(_ settings: ProxySettings) -> [[String: Any]] {
        settings.proxies.map { proxy in
            let health = proxies.health(of: proxy)
            return [
                "proxy": proxy.label, "state": health.outSince == nil ? "usable" : "out",
                "since": health.outSince.map(state.files.format) ?? NSNull(),
                "until": health.outUntil.map(state.files.format) ?? NSNull(), "reason": health.reason ?? NSNull(),
            ]
        }
    }

    /// A pool's keys: `[{key: name or fingerprint, state: active | cooling_down | disabled, until, since, status,
    /// requests}]`; empty for a provider with one key.
    func keys(_ slot: ProviderSlot) -> [[String: Any]] {
        let pool = slot.state.keys
        let now = state.clock.now()
        return slot.config.keyPool.map { key in
            let keyState = pool.state(of: key.key)
            var entry: [String: Any] = [
                "key": KeyLabel.of(key), "weight": key.weight, "requests": keyState.requests, "state": "active",
                "until": NSNull(),
            ]
            if let disabled = keyState.disabled, disabled.until.map({ $0 > now }) ?? true {
                entry["state"] = "disabled"
                entry["status"] = disabled.status
                entry["since"] = state.files.format(disabled.since)
                entry["until"] = disabled.until.map(state.files.format) ?? NSNull()
            } else if let until = keyState.coolingUntil, until > now {
                entry["state"] = "cooling_down"
                entry["until"] = state.files.format(until)
            }
            if let limit = key.rateLimit, let counter = slot.state.keyCounter(for: key.key) {
                let usage = counter.snapshot
                entry["usage"] = [
                    "requests": usage.requests, "tokens": usage.tokens,
                    "limit_requests": limit.requestsPerPeriod ?? NSNull(), "limit_tokens": limit.tokensPerPeriod ?? NSNull(),
                    "period_cron": limit.periodCron.expression,
                    "next_reset": (try? limit.periodCron.nextDate(after: usage.lastReset, in: state.timeZone)).map(state.files.format)
                        ?? NSNull(),
                ] as [String: Any]
                if counter.isExhausted(limit), entry["state"] as? String == "active" { entry["state"] = "over_quota" }
            }
            return entry
        }
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
            let summary = try state.reload(trigger: "POST /admin/reload")
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
        if !provider.keyPool.isEmpty, !slot.state.keys.soonestUsable(provider.keyPool, now: now).usable {
            return ("keys_exhausted", "Every key of the pool is disabled or cooling down")
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
