import Foundation

/// How much the response store keeps; a config reload may change these (`ResponseStore.apply(limits:)`).
public struct ResponseStoreLimits: Sendable, Equatable {
    public var maximumCount: Int
    /// Counted as `StoredResponse.byteCount`; a single response larger than this is not stored.
    public var maximumBytes: Int
    /// A response this old is gone.
    public var timeToLive: TimeInterval

    public init(maximumCount: Int = 10_000, maximumBytes: Int = 256 << 20, timeToLive: TimeInterval = 30 * 86_400) {
        self.maximumCount = maximumCount
        self.maximumBytes = maximumBytes
        self.timeToLive = timeToLive
    }
}
