/// The values a numeric setting accepts. Every number read from a config file is checked against one, so that no
/// later conversion (to `Int`, `TimeAmount` or `Duration`) can trap on an absurd value.
public struct SettingRange: Sendable, Equatable {
    public var minimum: Double
    /// Whether `minimum` itself is excluded (`> 0` rather than `>= 0`).
    public var excludesMinimum: Bool
    public var maximum: Double

    public static func positive(upTo maximum: Double) -> SettingRange {
        SettingRange(minimum: 0, excludesMinimum: true, maximum: maximum)
    }

    public static func nonNegative(upTo maximum: Double) -> SettingRange {
        SettingRange(minimum: 0, excludesMinimum: false, maximum: maximum)
    }

    public static func within(_ range: ClosedRange<Double>) -> SettingRange {
        SettingRange(minimum: range.lowerBound, excludesMinimum: false, maximum: range.upperBound)
    }

    /// Provider `timeout` and `_global.default_timeout` (seconds).
    public static let timeout = positive(upTo: ProviderConfig.maximumTimeout)
    /// Provider `retry` and `_global.default_retry`.
    public static let retries = nonNegative(upTo: 100)

    /// Why `value` is outside the range, or nil when it is inside.
    public func problem(_ value: Double) -> String? {
        guard value.isFinite else { return "must be a finite number" }
        if excludesMinimum ? value <= minimum : value < minimum {
            return "must be \(excludesMinimum ? ">" : ">=") \(Self.format(minimum))"
        }
        if value > maximum { return "must be <= \(Self.format(maximum))" }
        return nil
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e18 ? String(Int(value)) : String(value)
    }
}
