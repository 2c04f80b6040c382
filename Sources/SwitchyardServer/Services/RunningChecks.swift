import Synchronization

/// The checks under way, so that a slow check is not started again before it ends.
final class RunningChecks<Key: Hashable & Sendable>: Sendable {
    private let keys = Mutex(Set<Key>())

    func start(_ key: Key) -> Bool { keys.withLock { $0.insert(key).inserted } }
    func end(_ key: Key) { _ = keys.withLock { $0.remove(key) } }
}
