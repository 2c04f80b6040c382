import Foundation

/// When usage counters reset: each provider's counters reset at the first time its cron schedule matches after
/// its `last_reset`. A reset that fell due while the gateway was down is applied as soon as it is checked.
public enum UsageResets {
    /// Resets every counter in `table` whose next scheduled reset is at or before `now`; returns the keys reset.
    public static func applyDue(in table: RoutingTable, now: Date, timeZone: TimeZone) -> [ProviderKey] {
        var reset: [ProviderKey] = []
        for route in table.routes {
            for slot in route.providers {
                if let due = slot.nextReset(in: timeZone), due <= now {
                    slot.state.usage.reset(at: now)
                    reset.append(slot.state.key)
                }
                for (counter, due) in keyResets(of: slot, in: timeZone) where due <= now {
                    counter.reset(at: now)
                    reset.append(counter.key)
                }
            }
        }
        return reset
    }

    /// The earliest upcoming reset in `table`.
    public static func nextDue(in table: RoutingTable, timeZone: TimeZone) -> Date? {
        table.routes.flatMap(\.providers).flatMap { slot in
            [slot.nextReset(in: timeZone)].compactMap { $0 } + keyResets(of: slot, in: timeZone).map(\.due)
        }.min()
    }

    /// The counters of a slot's pool keys with their own quota, each with its next reset.
    static func keyResets(of slot: ProviderSlot, in timeZone: TimeZone) -> [(counter: UsageCounter, due: Date)] {
        slot.config.keyPool.compactMap { key in
            guard let schedule = key.rateLimit?.periodCron, let counter = slot.state.keyCounter(for: key.key),
                let due = try? schedule.nextDate(after: counter.snapshot.lastReset, in: timeZone)
            else { return nil }
            return (counter, due)
        }
    }
}
