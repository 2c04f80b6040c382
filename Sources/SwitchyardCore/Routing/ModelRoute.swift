import Foundation
import NIOConcurrencyHelpers

/// A provider as routing sees it: its configuration and its live state (usage, cooldown).
public struct ProviderSlot: Sendable {
    public let config: ProviderConfig
    public let state: ProviderState

    public init(config: ProviderConfig, state: ProviderState) {
        self.config = config
        self.state = state
    }

    public var name: String { config.name }

    /// The cron schedule its counters reset on (daily at midnight when it has no `rate_limit`).
    public var resetSchedule: CronSchedule { config.rateLimit?.periodCron ?? .daily }

    /// When its counters next reset.
    public func nextReset(in timeZone: TimeZone) -> Date? {
        try? resetSchedule.nextDate(after: state.usage.snapshot.lastReset, in: timeZone)
    }

    /// What it has used of its quota, in words (`5/5 requests, 900/1000 tokens`).
    public var quotaUsed: String {
        let usage = state.usage.snapshot
        var used: [String] = []
        if let limit = config.rateLimit?.requestsPerPeriod { used.append("\(usage.requests)/\(limit) requests") }
        if let limit = config.rateLimit?.tokensPerPeriod { used.append("\(usage.tokens)/\(limit) tokens") }
        return used.joined(separator: ", ")
    }

    /// Whether it may be tried now: not cooling down, its circuit not open, and within its quota.
    public func availability(now: Date, timeZone: TimeZone) -> ProviderAvailability {
        if let unavailable = state.unavailability(now: now, provider: config) {
            return unavailable
        }
        if state.usage.isExhausted(config.rateLimit) {
            return .overQuota(until: nextReset(in: timeZone))
        }
        return .available
    }
}

/// The providers of one model, the enabled ones grouped into priority tiers, with the weighted rotation of each
/// tier.
public final class ModelRoute: Sendable {
    public let name: String
    /// Every provider in config order, enabled or not.
    public let providers: [ProviderSlot]
    /// Enabled providers by priority, lowest number first; each tier keeps config order.
    public let tiers: [[ProviderSlot]]
    /// Every header a request for this model may carry a client's own key in (lowercased), which is taken off its
    /// requests before they are forwarded.
    public let clientKeyHeaders: [String]
    private let rotations: NIOLockedValueBox<[SmoothWeightedRoundRobin]>

    public init(_ model: ModelConfig, states: [ProviderKey: ProviderState]) {
        name = model.name
        providers = model.providers.map { provider in
            let key = ProviderKey(model: model.name, provider: provider.name)
            return ProviderSlot(
                config: provider,
                state: states[key] ?? ProviderState(key: key, usage: UsageCounter(key: key, usage: UsageSnapshot(lastReset: Date())))
            )
        }
        let enabled = providers.filter(\.config.enabled)
        let priorities = Set(enabled.map(\.config.priority)).sorted()
        tiers = priorities.map { priority in enabled.filter { $0.config.priority == priority } }
        rotations = NIOLockedValueBox(tiers.map { SmoothWeightedRoundRobin(weights: $0.map(\.config.weight)) })
        clientKeyHeaders = Array(Set([ClientKeyOverride.defaultHeader] + model.providers.map(\.clientKeyHeader))).sorted()
    }

    /// A route whose providers all start with fresh state.
    public convenience init(_ model: ModelConfig) {
        self.init(model, states: [:])
    }

    /// Picks a provider of `tier` among the candidates, advancing that tier's rotation.
    func pick(tier: Int, candidates: [Bool]) -> Int? {
        rotations.withLockedValue { $0[tier].next { candidates[$0] } }
    }

    public func makePlan() -> RoutePlan {
        RoutePlan(route: self)
    }

    /// A plan that picks as the next request's would, on a copy of the rotations: going through it changes
    /// nothing (for explaining the order).
    public func makePreviewPlan() -> RoutePlan {
        RoutePlan(route: self, rotations: rotations.withLockedValue { $0 })
    }
}

/// Why a provider was passed over without being tried.
public enum ProviderAvailability: Sendable, Equatable {
    case available
    /// Recently answered 429/401/403; skipped until the given time.
    case coolingDown(until: Date)
    /// Its request or token allowance is used up until the given reset time.
    case overQuota(until: Date?)
    /// Its circuit breaker is open until the given time, or (nil) half-open with a probe running.
    case circuitOpen(until: Date?)
    /// Every key of its pool is cooling down or disabled, until the given time (nil: until a reload).
    case keysExhausted(until: Date?)
    /// Its kind cannot serve the client's API (only Gemini providers serve Gemini's native API).
    case cannotServe(api: String)
    /// Its `max_context_length` is smaller than the request's estimated prompt plus its `max_tokens`.
    case contextTooSmall(needed: Int, limit: Int)
}

/// The order in which one request tries a model's providers.
///
/// Tiers are visited in priority order; inside a tier each pick is made by the tier's smooth weighted
/// round-robin among providers not tried yet and currently available. A lower tier is only entered (and its
/// rotation only advanced) when the tier above has nothing left.
public struct RoutePlan {
    public let route: ModelRoute
    private var tier = 0
    private var tried: [Bool]
    /// A provider to offer before the tiers (a session's provider), and its name once it was taken.
    private var first: ProviderSlot?
    private var takenFirst: String?
    /// Providers passed over, with the reason.
    public private(set) var skipped: [(provider: ProviderSlot, availability: ProviderAvailability)] = []
    /// A preview's own copy of the route's rotations (nil: picks advance the route's).
    private var previewRotations: [SmoothWeightedRoundRobin]?

    init(route: ModelRoute, rotations: [SmoothWeightedRoundRobin]? = nil) {
        self.route = route
        self.tried = Array(repeating: false, count: route.tiers.first?.count ?? 0)
        previewRotations = rotations
    }

    /// Offers the enabled provider named `name` first, whatever its tier, when it is available; routing goes on in
    /// order after it and does not offer it again.
    public mutating func tryFirst(_ name: String) {
        first = route.tiers.joined().first { $0.name == name }
    }

    public mutating func next(availability: (ProviderSlot) -> ProviderAvailability) -> ProviderSlot? {
        if let first {
            self.first = nil
            if availability(first) == .available {
                takenFirst = first.name
                return first
            }
        }
        while tier < route.tiers.count {
            let members = route.tiers[tier]
            var candidates = tried.map { !$0 }
            for index in members.indices where candidates[index] {
                if members[index].name == takenFirst {
                    candidates[index] = false
                    tried[index] = true
                    continue
                }
                let state = availability(members[index])
                if state != .available {
                    candidates[index] = false
                    tried[index] = true
                    skipped.append((members[index], state))
                }
            }
            let picked: Int?
            if previewRotations != nil {
                picked = previewRotations![tier].next { candidates[$0] }
            } else {
                picked = route.pick(tier: tier, candidates: candidates)
            }
            if let index = picked {
                tried[index] = true
                return members[index]
            }
            tier += 1
            if tier < route.tiers.count {
                tried = Array(repeating: false, count: route.tiers[tier].count)
            }
        }
        return nil
    }

    /// Records a provider that was picked but could not be used after all (its quota ran out in between).
    public mutating func skip(_ provider: ProviderSlot, because availability: ProviderAvailability) {
        skipped.append((provider, availability))
    }
}
