import Foundation

/// When usage counters reset: each provider's counters reset at the first time its cron schedule matches after
/// its `last_reset`. A reset that fell due while the gateway was down is applied as soon as it is checked.
public enum UsageResets {
    /// Resets every counter in `table` whose next scheduled reset is at or before `now`; returns the keys reset.
    public static func applyDue(in table: RoutingTable, now: Date, timeZone: TimeZone) -> [ProviderKey] {
        var reset: [ProviderKey] = []
        for route in table.routes {
            for slot in route.providers {
                guard let due = slot.nextReset(in: timeZone), due <= now else { continue }
                slot.state.usage.reset(at: now)
                reset.append(slot.state.key)
            }
        }
        return reset
    }

    /// The earliest upcoming reset in `table`.
    public static func nextDue(in table: RoutingTable, timeZone: TimeZone) -> Date? {
        table.routes.flatMap(\.providers).compactMap { $0.nextReset(in: timeZone) }.min()
    }
}
