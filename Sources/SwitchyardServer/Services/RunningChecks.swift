import NIOConcurrencyHelpers

/// The checks under way, so that a slow check is not started again before it ends.
final class RunningChecks<Key: Hashable & Sendable>: Sendable {
    private let keys = NIOLockedValueBox(Set<Key>())

    func start(_ key: Key) -> Bool { keys.withLockedValue { $0.insert(key).inserted } }
    func end(_ key: Key) { _ = keys.withLockedValue { $0.remove(key) } }
}
