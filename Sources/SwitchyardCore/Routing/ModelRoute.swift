import Foundation
import Synchronization

/// The enabled providers of one model, grouped into priority tiers, with the weighted rotation of each tier.
public final class ModelRoute: Sendable {
    public let name: String
    /// Enabled providers by priority, lowest number first; each tier keeps config order.
    public let tiers: [[ProviderConfig]]
    private let rotations: Mutex<[SmoothWeightedRoundRobin]>

    public init(_ model: ModelConfig) {
        name = model.name
        let enabled = model.providers.filter(\.enabled)
        let priorities = Set(enabled.map(\.priority)).sorted()
        tiers = priorities.map { priority in enabled.filter { $0.priority == priority } }
        rotations = Mutex(tiers.map { SmoothWeightedRoundRobin(weights: $0.map(\.weight)) })
    }

    /// Picks a provider of `tier` among those `isCandidate` admits, advancing that tier's rotation.
    func pick(tier: Int, candidates: [Bool]) -> Int? {
        rotations.withLock { $0[tier].next { candidates[$0] } }
    }

    public func makePlan() -> RoutePlan {
        RoutePlan(route: self)
    }
}

/// Why a provider was passed over without being tried.
public enum ProviderAvailability: Sendable, Equatable {
    case available
    /// Recently answered 429/401/403; skipped until the given time.
    case coolingDown(until: Date)
    /// Its request or token allowance is used up until the given reset time.
    case overQuota(until: Date?)
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
    /// Providers passed over, by name, with the reason.
    public private(set) var skipped: [(provider: ProviderConfig, availability: ProviderAvailability)] = []

    init(route: ModelRoute) {
        self.route = route
        self.tried = Array(repeating: false, count: route.tiers.first?.count ?? 0)
    }

    public mutating func next(availability: (ProviderConfig) -> ProviderAvailability) -> ProviderConfig? {
        while tier < route.tiers.count {
            let members = route.tiers[tier]
            var candidates = tried.map { !$0 }
            for index in members.indices where candidates[index] {
                let state = availability(members[index])
                if state != .available {
                    candidates[index] = false
                    tried[index] = true
                    skipped.append((members[index], state))
                }
            }
            if let index = route.pick(tier: tier, candidates: candidates) {
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
}
