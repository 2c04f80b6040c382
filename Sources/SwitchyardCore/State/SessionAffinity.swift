import Foundation
import NIOConcurrencyHelpers

/// Which provider served each session's last request per model, so the next request of the session goes there
/// too (and finds the provider's prompt cache warm).
///
/// Bounded by count (the least recently recorded session goes first) and by age. Entries form a list ordered by
/// when they were recorded, newest first, kept in an array with index links so every call is O(1): expired entries
/// are at the tail, where `record` drops them, and a lookup drops the one it finds expired.
public final class SessionAffinity: Sendable {
    /// Longer session ids from outside are treated as no session (and ignored here).
    public static let maximumSessionIDBytes = 256

    private let state: NIOLockedValueBox<State>
    private let clock: any GatewayClock

    public init(maximumSessions: Int = 100_000, timeToLive: TimeInterval = 3600, clock: any GatewayClock) {
        self.state = NIOLockedValueBox(State(maximumSessions: maximumSessions, timeToLive: timeToLive))
        self.clock = clock
    }

    /// The provider that served the session's previous request for this model; nil if none or expired.
    public func provider(session: String, model: String) -> String? {
        guard Self.isUsable(session) else { return nil }
        let now = clock.now()
        return state.withLockedValue { state -> String? in
            let key = Key(session: session, model: model)
            guard let index = state.indices[key] else { return nil }
            if state.isExpired(state.nodes[index], now: now) {
                state.remove(at: index)
                return nil
            }
            return state.nodes[index].provider
        }
    }

    /// Records that `provider` served the session now (refreshing its time); over `maximumSessions` the least
    /// recently recorded goes.
    public func record(session: String, model: String, provider: String) {
        guard Self.isUsable(session) else { return }
        let now = clock.now()
        state.withLockedValue { state in
            state.record(Key(session: session, model: model), provider: provider, now: now)
        }
    }

    /// Live sessions per model and provider (for /admin/stats).
    public func counts() -> [String: [String: Int]] {
        let now = clock.now()
        return state.withLockedValue { state -> [String: [String: Int]] in
            var counts: [String: [String: Int]] = [:]
            for index in state.indices.values where !state.isExpired(state.nodes[index], now: now) {
                counts[state.nodes[index].key.model, default: [:]][state.nodes[index].provider, default: 0] += 1
            }
            return counts
        }
    }

    public func apply(timeToLive: TimeInterval) {
        state.withLockedValue { $0.timeToLive = timeToLive }
    }

    private static func isUsable(_ session: String) -> Bool {
        !session.isEmpty && session.utf8.count <= maximumSessionIDBytes
    }

    private struct Key: Hashable, Sendable {
        var session: String
        var model: String
    }

    private struct Node: Sendable {
        var key: Key
        var provider: String
        var recordedAt: Date
        /// Neighbours towards the newest (`newer`) and the oldest (`older`) entry; nil at the ends.
        var newer: Int?
        var older: Int?
    }

    private struct State: Sendable {
        let maximumSessions: Int
        var timeToLive: TimeInterval
        var indices: [Key: Int] = [:]
        /// Slots of the list; those listed in `freeSlots` hold no entry.
        var nodes: [Node] = []
        var freeSlots: [Int] = []
        var newest: Int?
        var oldest: Int?

        init(maximumSessions: Int, timeToLive: TimeInterval) {
            self.maximumSessions = maximumSessions
            self.timeToLive = timeToLive
        }

        func isExpired(_ node: Node, now: Date) -> Bool {
            now.timeIntervalSince(node.recordedAt) >= timeToLive
        }

        mutating func record(_ key: Key, provider: String, now: Date) {
            if let index = indices[key] { remove(at: index) }
            while let last = oldest, isExpired(nodes[last], now: now) || indices.count >= maximumSessions {
                remove(at: last)
            }
            let node = Node(key: key, provider: provider, recordedAt: now, newer: nil, older: newest)
            let index: Int
            if let free = freeSlots.popLast() {
                index = free
                nodes[index] = node
            } else {
                index = nodes.count
                nodes.append(node)
            }
            if let first = newest { nodes[first].newer = index } else { oldest = index }
            newest = index
            indices[key] = index
        }

        mutating func remove(at index: Int) {
            let node = nodes[index]
            indices[node.key] = nil
            if let newer = node.newer { nodes[newer].older = node.older } else { newest = node.older }
            if let older = node.older { nodes[older].newer = node.newer } else { oldest = node.newer }
            freeSlots.append(index)
        }
    }
}
