import Foundation

/// Why the next request for a model would try its providers in the order it would, and why the others are out:
/// what `GET /admin/explain` shows. Built from a preview plan, so explaining changes no rotation.
public struct RouteExplanation: Sendable {
    public struct Entry: Sendable {
        public var provider: ProviderSlot
        /// Its place in the order the next request would try (1 first), nil when it would not be tried.
        public var position: Int?
        /// Why it is out (nil: it is a candidate); disabled providers have `.disabled`.
        public var exclusion: Exclusion?
        /// Its share of its tier's traffic among the tier's candidates (0 when out).
        public var share: Double
        /// The session's provider, offered first.
        public var preferred: Bool
    }

    public enum Exclusion: Sendable, Equatable {
        case disabled
        case unavailable(ProviderAvailability)
    }

    public let model: String
    /// Every provider in config order.
    public let entries: [Entry]

    /// - Parameters:
    ///   - preferring: the session's provider, if it has one.
    ///   - availability: as routing would judge each provider now.
    public init(route: ModelRoute, preferring: String?, availability: (ProviderSlot) -> ProviderAvailability) {
        var plan = route.makePreviewPlan()
        if let preferring { plan.tryFirst(preferring) }
        var order: [String] = []
        while let next = plan.next(availability: availability) { order.append(next.name) }
        let excluded = Dictionary(plan.skipped.map { ($0.provider.name, $0.availability) }, uniquingKeysWith: { first, _ in first })
        var tierWeights: [Int: Int] = [:]
        for slot in route.providers where slot.config.enabled && excluded[slot.name] == nil {
            tierWeights[slot.config.priority, default: 0] += slot.config.weight
        }
        model = route.name
        entries = route.providers.map { slot in
            let exclusion: Exclusion? =
                !slot.config.enabled ? .disabled : excluded[slot.name].map { .unavailable($0) }
            let share = exclusion == nil ? Double(slot.config.weight) / Double(max(1, tierWeights[slot.config.priority] ?? 1)) : 0
            return Entry(
                provider: slot, position: order.firstIndex(of: slot.name).map { $0 + 1 }, exclusion: exclusion, share: share,
                preferred: slot.name == preferring && order.first == slot.name
            )
        }
    }

    /// The providers the next request would try, in order.
    public var candidates: [Entry] {
        entries.filter { $0.position != nil }.sorted { $0.position! < $1.position! }
    }
}
