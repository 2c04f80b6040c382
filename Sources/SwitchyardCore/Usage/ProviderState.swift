import Foundation
import NIOConcurrencyHelpers

/// State of one (model, provider) that outlives config snapshots: its usage counter, its cooldown and its circuit
/// breaker.
public final class ProviderState: Sendable {
    public struct Cooldown: Sendable, Equatable {
        public var until: Date
        /// The upstream status that caused it.
        public var status: Int
    }

    /// What decides whether the provider may be tried, under one lock so routing checks it in one step.
    private struct Health {
        var cooldown: Cooldown?
        /// Set by a cooldown, cleared by the next success: the provider's recovery is then reported once.
        var recovering = false
        var breaker = CircuitBreaker()
        var keys = KeyPool()
    }

    public let key: ProviderKey
    public let usage: UsageCounter
    private let health = NIOLockedValueBox(Health())
    /// The counters of pool keys with their own `rate_limit`, by key.
    private let keyUsage = NIOLockedValueBox<[String: UsageCounter]>([:])

    public init(key: ProviderKey, usage: UsageCounter) {
        self.key = key
        self.usage = usage
    }

    /// Skips the provider until `until` (an earlier end never shortens a longer cooldown); true when the provider
    /// was not cooling down before.
    @discardableResult
    public func coolDown(until: Date, status: Int, now: Date) -> Bool {
        health.withLockedValue { health in
            let started = Self.activeCooldown(&health, now: now) == nil
            health.recovering = true
            if let existing = health.cooldown, existing.until > until { return started }
            health.cooldown = Cooldown(until: until, status: status)
            return started
        }
    }

    /// A request was served: true the first time after a cooldown.
    public func recovered() -> Bool {
        health.withLockedValue { health in
            defer { health.recovering = false }
            return health.recovering
        }
    }

    /// The active cooldown, if any.
    public func cooldown(now: Date) -> Cooldown? {
        health.withLockedValue { Self.activeCooldown(&$0, now: now) }
    }

    /// Why the provider must be passed over now (cooling down, every key out, circuit open), or nil.
    func unavailability(now: Date, provider: ProviderConfig) -> ProviderAvailability? {
        health.withLockedValue { health in
            if let cooldown = Self.activeCooldown(&health, now: now) { return .coolingDown(until: cooldown.until) }
            if !provider.keyPool.isEmpty {
                let keys = health.keys.soonestUsable(provider.keyPool, now: now)
                if !keys.usable { return .keysExhausted(until: keys.at) }
            }
            if case .refused(let until) = health.breaker.refusal(now: now, config: provider.circuitBreaker) {
                return .circuitOpen(until: until)
            }
            return nil
        }
    }

    /// The key pool as it is now.
    public var keys: KeyPool {
        health.withLockedValue { $0.keys }
    }

    public func selectKey(for provider: ProviderConfig, affinity: UInt64?, tried: Set<Int>, now: Date) -> Int? {
        health.withLockedValue {
            $0.keys.select(provider.keyPool, strategy: provider.keyStrategy, affinity: affinity, tried: tried, now: now)
        }
    }

    public func keyFailed(_ key: String, status: Int, retryAfter: Double?, now: Date, provider: ProviderConfig, cooldownSeconds: Double)
        -> KeyPool.Change?
    {
        health.withLockedValue {
            $0.keys.failed(
                key, status: status, retryAfter: retryAfter, now: now, cooldownSeconds: cooldownSeconds,
                disabledRetrySeconds: provider.disabledKeyRetrySeconds
            )
        }
    }

    public func keyServed(_ key: String) {
        health.withLockedValue { $0.keys.served(key) }
    }

    private static func activeCooldown(_ health: inout Health, now: Date) -> Cooldown? {
        guard let active = health.cooldown else { return nil }
        if active.until <= now {
            health.cooldown = nil
            return nil
        }
        return active
    }

    /// The usage counter of a pool key with its own quota.
    public func keyCounter(for key: String) -> UsageCounter? {
        keyUsage.withLockedValue { $0[key] }
    }

    public var keyCounters: [UsageCounter] {
        keyUsage.withLockedValue { Array($0.values) }
    }

    /// Keeps the counters of the limited keys of `keys` that it has, makes the others with `make`, and lets go of
    /// those of keys no longer limited (their files keep what was last saved).
    func adoptKeyCounters(_ keys: [UpstreamKey], model: String, provider: String, make: (ProviderKey) -> UsageCounter) {
        keyUsage.withLockedValue { counters in
            var kept: [String: UsageCounter] = [:]
            for key in keys where key.rateLimit != nil {
                let usageKey = key.usageKey(model: model, provider: provider)
                if let existing = counters[key.key], existing.key == usageKey {
                    kept[key.key] = existing
                } else {
                    kept[key.key] = make(usageKey)
                }
            }
            counters = kept
        }
    }

    /// The circuit breaker as it is now.
    public var breaker: CircuitBreaker {
        health.withLockedValue { $0.breaker }
    }

    public func admit(now: Date, bypassing: Bool, config: CircuitBreakerConfig)
        -> (CircuitBreaker.Admission, CircuitBreaker.Transition?)
    {
        health.withLockedValue { $0.breaker.admit(now: now, bypassing: bypassing, config: config) }
    }

    public func recordCheck(passed: Bool, now: Date, config: CircuitBreakerConfig) -> CircuitBreaker.Transition? {
        health.withLockedValue { $0.breaker.recordCheck(passed: passed, now: now, config: config) }
    }

    public func record(_ outcome: CircuitBreaker.Outcome, probe: Bool, now: Date, config: CircuitBreakerConfig)
        -> CircuitBreaker.Transition?
    {
        health.withLockedValue { $0.breaker.record(outcome, probe: probe, now: now, config: config) }
    }
}

/// All provider states by key; a reload keeps the states of providers that still exist.
///
/// States of providers a reload removed are retired rather than dropped: requests still in flight on them settle
/// into their counters, which must still be saved. A retired state is let go once its counter is quiescent, or
/// taken back if a later reload configures the provider again.
public final class ProviderStates: Sendable {
    private struct Members {
        var current: [ProviderKey: ProviderState] = [:]
        var retired: [ProviderKey: ProviderState] = [:]
    }

    private let members = NIOLockedValueBox(Members())

    public init() {}

    /// The states for every provider in `config`: existing (or retired) ones are kept, new ones made by
    /// `makeCounter`. Returns them with the states of providers no longer configured.
    public func adopt(_ config: GatewayConfig, makeCounter: (ProviderKey) -> UsageCounter)
        -> (current: [ProviderKey: ProviderState], removed: [ProviderState])
    {
        members.withLockedValue { members in
            var current: [ProviderKey: ProviderState] = [:]
            for model in config.models {
                for provider in model.providers {
                    let key = ProviderKey(model: model.name, provider: provider.name)
                    let state = members.current[key] ?? members.retired.removeValue(forKey: key)
                        ?? ProviderState(key: key, usage: makeCounter(key))
                    state.adoptKeyCounters(provider.keyPool, model: model.name, provider: provider.name, make: makeCounter)
                    current[key] = state
                }
            }
            let removed = members.current.filter { current[$0.key] == nil }.map(\.value)
            for state in removed { members.retired[state.key] = state }
            members.current = current
            return (current, removed)
        }
    }

    /// Current and retired states (every counter that may still need saving).
    public var all: [ProviderState] {
        members.withLockedValue { Array($0.current.values) + Array($0.retired.values) }
    }

    /// Lets go of retired states whose counters have nothing left to settle or save.
    public func releaseQuiescentRetired() {
        members.withLockedValue { members in
            members.retired = members.retired.filter { !$0.value.usage.isQuiescent }
        }
    }
}
