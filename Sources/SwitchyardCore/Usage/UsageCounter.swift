import Foundation
import NIOConcurrencyHelpers

/// Requests and tokens one provider of one model has used in the current quota period.
public struct UsageSnapshot: Sendable, Equatable {
    public var requests: Int
    public var tokens: Int
    /// The part of `tokens` that was estimated from characters because the upstream reported no usage.
    public var estimatedTokens: Int
    public var lastReset: Date

    public init(requests: Int = 0, tokens: Int = 0, estimatedTokens: Int = 0, lastReset: Date) {
        self.requests = requests
        self.tokens = tokens
        self.estimatedTokens = estimatedTokens
        self.lastReset = lastReset
    }
}

/// The live usage counter of one (model, provider), shared by every request and by the flusher and scheduler.
///
/// A request is counted when it is admitted (`reserve`), under the counter's own lock, so concurrent requests can
/// never push `requests` past the limit; an attempt that fails gives its reservation back (`UsageLease.release`).
/// Tokens are added when the answer's usage is known (`UsageLease.settle`).
public final class UsageCounter: Sendable {
    private struct State {
        var usage: UsageSnapshot
        /// Changes on every reset, so a reservation taken before a reset is not given back to the new period.
        var period = 0
        var dirty = false
        /// Leases handed out and not yet settled or released.
        var openLeases = 0
        /// Whether a refusal of this period has been reported.
        var exhaustionReported = false
    }

    public let key: ProviderKey
    private let state: NIOLockedValueBox<State>
    private let loadError: NIOLockedValueBox<String?>

    /// - Parameter loadError: why the persisted counter could not be read; while set, the counter is not persisted
    ///   (the unreadable file is left for the operator instead of being overwritten with fresh counts).
    public init(key: ProviderKey, usage: UsageSnapshot, loadError: String? = nil) {
        self.key = key
        self.state = NIOLockedValueBox(State(usage: usage))
        self.loadError = NIOLockedValueBox(loadError)
    }

    public var snapshot: UsageSnapshot { state.withLockedValue { $0.usage } }

    public var persistenceError: String? { loadError.withLockedValue { $0 } }

    /// Whether the counter is at or over a limit (without reserving anything).
    public func isExhausted(_ limits: RateLimitConfig?) -> Bool {
        guard let limits else { return false }
        return state.withLockedValue { Self.exhausted($0.usage, limits) }
    }

    private static func exhausted(_ usage: UsageSnapshot, _ limits: RateLimitConfig) -> Bool {
        if let requests = limits.requestsPerPeriod, usage.requests >= requests { return true }
        if let tokens = limits.tokensPerPeriod, usage.tokens >= tokens { return true }
        return false
    }

    /// Counts one request if the limits allow it; nil when the provider is at or over a limit.
    public func reserve(_ limits: RateLimitConfig?) -> UsageLease? {
        state.withLockedValue { state in
            if let limits, Self.exhausted(state.usage, limits) { return nil }
            state.usage.requests += 1
            state.dirty = true
            state.openLeases += 1
            return UsageLease(counter: self, period: state.period)
        }
    }

    /// True for the first caller of a period (reset to reset): a refused request reports the exhausted quota once.
    public func claimExhaustionReport() -> Bool {
        state.withLockedValue { state in
            defer { state.exhaustionReported = true }
            return !state.exhaustionReported
        }
    }

    fileprivate func release(period: Int) {
        state.withLockedValue { state in
            state.openLeases -= 1
            guard state.period == period, state.usage.requests > 0 else { return }
            state.usage.requests -= 1
            state.dirty = true
        }
    }

    fileprivate func settle(_ usage: TokenUsage?) {
        state.withLockedValue { state in
            state.openLeases -= 1
            guard let usage, usage.totalTokens > 0 else { return }
            state.usage.tokens = Self.saturatingSum(state.usage.tokens, usage.totalTokens)
            if usage.estimated {
                state.usage.estimatedTokens = Self.saturatingSum(state.usage.estimatedTokens, usage.totalTokens)
            }
            state.dirty = true
        }
    }

    /// Whether every lease has been settled or released and every change saved: a counter of a provider that a
    /// reload removed can then be let go.
    public var isQuiescent: Bool {
        state.withLockedValue { $0.openLeases == 0 && !$0.dirty }
    }

    private static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    /// Starts a new period at `date`.
    public func reset(at date: Date) {
        state.withLockedValue { state in
            state.usage = UsageSnapshot(lastReset: date)
            state.period += 1
            state.exhaustionReported = false
            state.dirty = true
        }
    }

    /// The counts to persist if they changed since the last call, clearing the change mark; nil when unchanged or
    /// when the persisted file could not be read.
    public func takeChanges() -> UsageSnapshot? {
        guard persistenceError == nil else { return nil }
        return state.withLockedValue { state in
            guard state.dirty else { return nil }
            state.dirty = false
            return state.usage
        }
    }

    /// Marks the counts as changed again (a write failed and must be retried).
    public func markChanged() {
        state.withLockedValue { $0.dirty = true }
    }

    /// Clears a load error once the file is readable (or gone) again, adopting its counts.
    public func recover(_ usage: UsageSnapshot) {
        state.withLockedValue { state in
            state.usage = usage
            state.dirty = false
        }
        loadError.withLockedValue { $0 = nil }
    }
}

/// One admitted request's claim on a counter: give it back if the attempt fails, or settle it with the tokens used.
/// A pool key with its own quota adds its claim to the provider's (`attachKey`), released and settled with it.
public struct UsageLease: Sendable {
    fileprivate let counter: UsageCounter
    fileprivate let period: Int
    private var key: (counter: UsageCounter, period: Int)?

    fileprivate init(counter: UsageCounter, period: Int) {
        self.counter = counter
        self.period = period
    }

    /// Counts the attempt against a pool key's quota too, giving back the claim of a key it used before.
    public mutating func attachKey(_ lease: UsageLease?) {
        if let key { key.counter.release(period: key.period) }
        key = lease.map { ($0.counter, $0.period) }
    }

    /// The attempt failed: the request does not count.
    public func release() {
        counter.release(period: period)
        if let key { key.counter.release(period: key.period) }
    }

    /// The request was served: add its tokens.
    public func settle(_ usage: TokenUsage?) {
        counter.settle(usage)
        if let key { key.counter.settle(usage) }
    }
}
