import Foundation

/// What the server does next for a request, as its `AttemptSequence` decides.
public enum AttemptAction {
    /// Ask the provider's circuit breaker (`bypassingBreaker`: let through even if open) and reserve its quota
    /// (counting a request before it is sent is what keeps concurrent requests from overshooting a limit), then
    /// report `reserved()`, `circuitRefused(until:)` or `refused(until:)`.
    case reserve(ProviderSlot, bypassingBreaker: Bool)
    /// Send the request to the provider (`retry` 0 is the first try), then report success or `failed(_:…)`.
    case send(ProviderSlot, retry: Int)
    /// The attempt failed with `failure`: wait `delay` before retry number `retry` on the same provider, then
    /// report `waited()`.
    case backOff(ProviderSlot, failure: AttemptFailure, delay: Duration, retry: Int)
    /// The provider is done with after `failure`: release its reservation, cool it down when `coolDown` is set,
    /// count a failover, then ask `next()`.
    case leave(ProviderSlot, failure: AttemptFailure, coolDown: (until: Date, status: Int)?)
    /// Release the reservation and give the provider's own answer to `failure` to the client: the request itself is
    /// at fault.
    case returnUpstreamAnswer(ProviderSlot, failure: AttemptFailure)
    /// End the request with this error: nothing could be tried, or everything tried failed.
    case fail(GatewayError)
}

/// What a provider's key pool made of an attempt's failure.
public enum KeyFailover: Sendable, Equatable {
    /// The provider has one key, or the failure was not the key's (5xx, timeouts): the provider decides.
    case notAPool
    /// The key is out (401/403/429) and another one is usable: the provider is tried again with it at once.
    case anotherKey
    /// The key is out and no other one is left: the provider is done with for this request.
    case noKeyLeft
    /// The client's own key was refused (401/403/429): its answer goes back to the client, and neither the
    /// provider nor another provider is charged with it.
    case clientKey
}

/// The attempts of one request as a state machine: the server reports what happened and gets the next action, so
/// retries, backoff, failover and cooldowns are decided in one place without sockets, timers or tasks (and a
/// reservation may take a round trip to a shared store between two steps).
public struct AttemptSequence {
    private var plan: RoutePlan
    private let global: GlobalSettings
    private let untranslatable: GatewayError?
    private let startedAt: Date
    private let random: () -> Double
    private let availability: (ProviderSlot) -> ProviderAvailability
    /// The provider being tried and the retries it has used.
    private var current: ProviderSlot?
    private var retry = 0
    /// Whether a provider with an open circuit was taken because every other one was out.
    private var bypassedBreaker = false
    /// Every failed attempt, in order.
    public private(set) var attempts: [AttemptRecord] = []

    /// - Parameters:
    ///   - preferring: a provider to offer first (a session's), when it is available.
    ///   - untranslatable: why the request cannot be put into other dialects, if it cannot: the answer when only
    ///     providers of its own dialect could have served it and the model has none.
    ///   - availability: whether a provider may be tried now (its kind can serve the request, it is not cooling
    ///     down, it has quota left).
    public init(
        route: ModelRoute, global: GlobalSettings, preferring: String? = nil, untranslatable: GatewayError? = nil,
        startedAt: Date, random: @escaping () -> Double = { Double.random(in: 0..<1) },
        availability: @escaping (ProviderSlot) -> ProviderAvailability
    ) {
        plan = route.makePlan()
        if let preferring { plan.tryFirst(preferring) }
        self.global = global
        self.untranslatable = untranslatable
        self.startedAt = startedAt
        self.random = random
        self.availability = availability
    }

    /// The next provider to reserve, or the error that ends the request.
    public mutating func next() -> AttemptAction {
        if let slot = plan.next(availability: availability) {
            current = slot
            retry = 0
            return .reserve(slot, bypassingBreaker: false)
        }
        current = nil
        if attempts.isEmpty, !bypassedBreaker, let slot = soonestToClose() {
            // Failing without trying would make an outage last as long as the open period: try the one due first.
            bypassedBreaker = true
            current = slot
            retry = 0
            return .reserve(slot, bypassingBreaker: true)
        }
        guard attempts.isEmpty else { return .fail(.allProvidersFailed(model: plan.route.name, attempts: attempts)) }
        if let untranslatable,
            plan.skipped.allSatisfy({ if case .cannotServe = $0.availability { true } else { false } })
        {
            return .fail(untranslatable)
        }
        return .fail(.noAvailableProvider(model: plan.route.name, skipped: plan.skipped, now: startedAt))
    }

    /// Among the providers skipped for an open circuit, the one whose open period ends first (one being probed
    /// comes last: its probe decides soon, but it is busy). Quotas and cooldowns are never bypassed.
    private func soonestToClose() -> ProviderSlot? {
        let open = plan.skipped.compactMap { skipped -> (ProviderSlot, Date)? in
            guard case .circuitOpen(let until) = skipped.availability else { return nil }
            return (skipped.provider, until ?? .distantFuture)
        }
        return open.min { $0.1 < $1.1 }?.0
    }

    /// The provider turned out unusable after it was picked (every key of its pool out): it is skipped.
    public mutating func passOver(because availability: ProviderAvailability) -> AttemptAction {
        guard let current else { preconditionFailure("passOver(because:) without a provider being tried") }
        plan.skip(current, because: availability)
        return next()
    }

    /// The provider's circuit breaker refused it between the check and the reservation (another request took
    /// the probe, or it opened): it is skipped.
    public mutating func circuitRefused(until: Date?) -> AttemptAction {
        guard let current else { preconditionFailure("circuitRefused(until:) without a provider to reserve") }
        plan.skip(current, because: .circuitOpen(until: until))
        return next()
    }

    /// The reservation was granted: send.
    public mutating func reserved() -> AttemptAction {
        guard let current else { preconditionFailure("reserved() without a provider to reserve") }
        return .send(current, retry: 0)
    }

    /// The provider's quota ran out between the check and the reservation: it is skipped until `reset`.
    public mutating func refused(until reset: Date?) -> AttemptAction {
        guard let current else { preconditionFailure("refused(until:) without a provider to reserve") }
        plan.skip(current, because: .overQuota(until: reset))
        return next()
    }

    /// The attempt failed with `failure`; `upstreamAnswered` says whether there is an upstream answer the client
    /// could be given instead, `circuitOpen` whether the provider's circuit is open now (it is not retried then),
    /// `keys` what the provider's key pool made of a key's failure.
    public mutating func failed(
        _ failure: AttemptFailure, upstreamAnswered: Bool, circuitOpen: Bool = false, keys: KeyFailover = .notAPool,
        now: Date
    ) -> AttemptAction {
        guard let current else { preconditionFailure("failed(_:) without a provider being tried") }
        attempts.append(AttemptRecord(provider: current.name, failure: failure))
        let decision = FailoverPolicy.decide(failure, defaultCooldown: global.cooldownSeconds)
        switch keys {
        case .anotherKey: return .send(current, retry: retry)  // the key's failure, not the provider's
        case .noKeyLeft: return .leave(current, failure: failure, coolDown: nil)  // the keys' own states say until when
        case .clientKey where upstreamAnswered:
            self.current = nil
            return .returnUpstreamAnswer(current, failure: failure)
        case .clientKey: return .leave(current, failure: failure, coolDown: nil)
        case .notAPool: break
        }
        if decision == .retry && retry < current.config.retry && !circuitOpen {
            retry += 1
            let delay = FailoverPolicy.backoff(retry: retry, baseMilliseconds: global.retryBackoffMilliseconds, random: random())
            return .backOff(current, failure: failure, delay: delay, retry: retry)
        }
        if decision == .returnToClient && upstreamAnswered {
            self.current = nil
            return .returnUpstreamAnswer(current, failure: failure)
        }
        var coolDown: (until: Date, status: Int)?
        if case .switchProvider(let seconds?) = decision, seconds > 0, case .status(let status, _) = failure {
            coolDown = (now.addingTimeInterval(seconds), status)
        }
        return .leave(current, failure: failure, coolDown: coolDown)
    }

    /// The backoff is over: the same provider again.
    public mutating func waited() -> AttemptAction {
        guard let current else { preconditionFailure("waited() without a provider being tried") }
        return .send(current, retry: retry)
    }
}
