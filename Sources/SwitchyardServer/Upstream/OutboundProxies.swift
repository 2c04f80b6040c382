import Foundation
import NIOConcurrencyHelpers
import SwitchyardCore

/// The health of every outbound proxy, shared by all event loops: requests are spread over the usable proxies of
/// their provider; a proxy that fails a request (refused connection, a `CONNECT` not answered 200, a TLS failure
/// through it) is taken out until its next passing health check, or, without checks, for `cooldown_seconds`.
final class OutboundProxies: Sendable {
    struct Health: Sendable, Equatable {
        /// When it was taken out and why; nil while usable.
        var outSince: Date?
        var reason: String?
        /// When it comes back by itself (nil: at its next passing check).
        var outUntil: Date?
    }

    enum Choice: Equatable {
        case direct
        case through(OutboundProxy)
        /// Every proxy is out and the provider does not fall back to going directly.
        case noneUsable
    }

    private struct State {
        var health: [OutboundProxy: Health] = [:]
        /// Proxies with health checks: one out stays out until a check passes.
        var checked: Set<OutboundProxy> = []
        var turn = 0
    }

    private let state = NIOLockedValueBox(State())
    private let clock: any GatewayClock
    /// How long an unchecked proxy stays out (`cooldown_seconds`).
    private let cooldown: @Sendable () -> Double
    /// Told when a proxy goes out (true) or comes back (false), with why.
    private let report: @Sendable (OutboundProxy, _ out: Bool, _ reason: String) -> Void

    init(
        clock: any GatewayClock, cooldown: @escaping @Sendable () -> Double,
        report: @escaping @Sendable (OutboundProxy, Bool, String) -> Void = { _, _, _ in }
    ) {
        self.clock = clock
        self.cooldown = cooldown
        self.report = report
    }

    /// The proxies health checks now cover.
    func checking(_ proxies: Set<OutboundProxy>) {
        state.withLockedValue { $0.checked = proxies }
    }

    /// Which way a provider's next request goes.
    func choose(_ settings: ProxySettings) -> Choice {
        guard !settings.proxies.isEmpty else { return .direct }
        let now = clock.now()
        let picked = state.withLockedValue { state -> OutboundProxy? in
            let usable = settings.proxies.filter { Self.isUsable(state.health[$0], now: now) }
            guard !usable.isEmpty else { return nil }
            state.turn &+= 1
            return usable[state.turn % usable.count]
        }
        if let picked { return .through(picked) }
        return settings.fallbackToDirect ? .direct : .noneUsable
    }

    func health(of proxy: OutboundProxy) -> Health {
        let now = clock.now()
        return state.withLockedValue { state in
            guard let health = state.health[proxy], !Self.isUsable(health, now: now) else { return Health() }
            return health
        }
    }

    /// A request through the proxy failed because of it.
    func failed(_ proxy: OutboundProxy, reason: String) {
        let now = clock.now()
        let seconds = cooldown()
        let newlyOut = state.withLockedValue { state -> Bool in
            let wasUsable = Self.isUsable(state.health[proxy], now: now)
            let until = state.checked.contains(proxy) ? nil : now.addingTimeInterval(seconds)
            state.health[proxy] = Health(outSince: now, reason: reason, outUntil: until)
            return wasUsable
        }
        if newlyOut { report(proxy, true, reason) }
    }

    /// A health check's result.
    func checked(_ proxy: OutboundProxy, failure: String?) {
        if let failure { return failed(proxy, reason: "health check failed (\(failure))") }
        let now = clock.now()
        let cameBack = state.withLockedValue { state -> Bool in
            let wasOut = !Self.isUsable(state.health[proxy], now: now)
            state.health[proxy] = nil
            return wasOut
        }
        if cameBack { report(proxy, false, "health check passed") }
    }

    private static func isUsable(_ health: Health?, now: Date) -> Bool {
        guard let health, health.outSince != nil else { return true }
        if let until = health.outUntil { return until <= now }
        return false
    }
}
