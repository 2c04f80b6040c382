import Foundation
import Synchronization

/// Providers that recently refused requests (429, 401, 403) and are skipped until their cooldown ends.
///
/// Kept apart from the routing snapshot so cooldowns survive a config reload.
public final class ProviderCooldowns: Sendable {
    public struct Cooldown: Sendable, Equatable {
        public var until: Date
        /// The upstream status that caused it.
        public var status: Int
    }

    private let entries = Mutex<[ProviderKey: Cooldown]>([:])

    public init() {}

    public func coolDown(_ key: ProviderKey, until: Date, status: Int) {
        entries.withLock { entries in
            if let existing = entries[key], existing.until > until { return }
            entries[key] = Cooldown(until: until, status: status)
        }
    }

    /// The active cooldown of `key`, if any.
    public func cooldown(for key: ProviderKey, now: Date) -> Cooldown? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            if entry.until <= now {
                entries[key] = nil
                return nil
            }
            return entry
        }
    }

    public func clear(_ key: ProviderKey) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }
}
