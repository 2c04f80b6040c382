import Foundation

/// Wall-clock time for schedules, injectable so tests can drive resets without waiting.
public protocol GatewayClock: Sendable {
    func now() -> Date
    /// Suspends until `deadline` (or until cancelled).
    func sleep(until deadline: Date) async throws
}

public struct SystemClock: GatewayClock {
    public init() {}

    public func now() -> Date { Date() }

    /// Sleeps until `deadline`, or for at most a day (callers loop; a deadline far away, even
    /// `.distantFuture`, must not make the conversion to milliseconds trap).
    public func sleep(until deadline: Date) async throws {
        let seconds = min(deadline.timeIntervalSinceNow, 86_400)
        if seconds > 0 {
            try await Task.sleep(for: .milliseconds(Int((seconds * 1000).rounded(.up))))
        }
    }
}

extension TimeZone {
    /// The zone schedules use: `TZ` from the environment, UTC when it is unset or unknown.
    public static func schedules(environment: [String: String] = ProcessInfo.processInfo.environment) -> TimeZone {
        if let name = environment["TZ"]?.trimmingCharacters(in: CharacterSet(charactersIn: ":")), !name.isEmpty,
            let zone = TimeZone(identifier: name)
        {
            return zone
        }
        return TimeZone(identifier: "UTC")!
    }
}
