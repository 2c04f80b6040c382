import Foundation
import Testing
@testable import SwitchyardCore

/// Shared helpers: configs built in code and routing tables whose counters start from given snapshots.
enum UsageFixtures {
    static func provider(_ name: String, limit: RateLimitConfig? = nil) -> ProviderConfig {
        var provider = ProviderConfig(name: name)
        provider.endpoint = "https://\(name).example/v1"
        provider.model = "m"
        provider.rateLimit = limit
        return provider
    }

    static func config(_ models: [(String, [ProviderConfig])]) -> GatewayConfig {
        GatewayConfig(global: GlobalSettings(), models: models.map { ModelConfig(name: $0.0, providers: $0.1) })
    }

    static func cron(_ expression: String) -> CronSchedule { try! CronSchedule(expression) }

    static func limit(requests: Int? = nil, tokens: Int? = nil, cron expression: String = "0 0 * * *") -> RateLimitConfig {
        RateLimitConfig(requestsPerPeriod: requests, tokensPerPeriod: tokens, periodCron: cron(expression))
    }
}

/// Cron-driven resets of the usage counters, including catch-up after downtime.
@Suite struct UsageResetsTests {
    let utc = TimeZone(identifier: "UTC")!
    let shanghai = TimeZone(identifier: "Asia/Shanghai")!

    /// A table for `config` whose counters start from `usage` (by provider name; default: zero since `defaultReset`).
    func makeTable(
        _ config: GatewayConfig, usage: [String: UsageSnapshot], defaultReset: Date = utcDate(2026, 3, 10)
    ) -> (table: RoutingTable, states: ProviderStates) {
        let states = ProviderStates()
        let adopted = states.adopt(config) { key in
            UsageCounter(key: key, usage: usage[key.provider] ?? UsageSnapshot(lastReset: defaultReset))
        }
        #expect(adopted.removed.isEmpty)
        return (RoutingTable(config: config, states: adopted.current), states)
    }

    func findSlot(_ table: RoutingTable, _ model: String, _ provider: String) throws -> ProviderSlot {
        try #require(table.route(for: model)?.providers.first { $0.name == provider })
    }

    // MARK: applyDue

    @Test func catchUpResetsACounterLastResetBeforeTheMostRecentScheduledTime() throws {
        let config = UsageFixtures.config([
            ("gpt-4o", [
                UsageFixtures.provider("stale", limit: UsageFixtures.limit(requests: 100)),
                UsageFixtures.provider("current", limit: UsageFixtures.limit(requests: 100)),
                UsageFixtures.provider("exact", limit: UsageFixtures.limit(requests: 100)),
            ])
        ])
        let now = utcDate(2026, 3, 10, 10)
        let (table, _) = makeTable(config, usage: [
            // The gateway was down for three days.
            "stale": UsageSnapshot(requests: 100, tokens: 5000, estimatedTokens: 20, lastReset: utcDate(2026, 3, 7)),
            // Reset after today's midnight: nothing is due.
            "current": UsageSnapshot(requests: 40, tokens: 400, lastReset: utcDate(2026, 3, 10, 0, 0, 5)),
            // Reset exactly at today's midnight: that reset has happened.
            "exact": UsageSnapshot(requests: 7, tokens: 70, lastReset: utcDate(2026, 3, 10)),
        ])
        let stale = try findSlot(table, "gpt-4o", "stale")
        let current = try findSlot(table, "gpt-4o", "current")
        let exact = try findSlot(table, "gpt-4o", "exact")
        for slot in [stale, current, exact] { #expect(slot.state.usage.takeChanges() == nil) }

        let reset = UsageResets.applyDue(in: table, now: now, timeZone: utc)
        #expect(reset == [ProviderKey(model: "gpt-4o", provider: "stale")])
        #expect(stale.state.usage.snapshot == UsageSnapshot(requests: 0, tokens: 0, estimatedTokens: 0, lastReset: now))
        #expect(current.state.usage.snapshot == UsageSnapshot(requests: 40, tokens: 400, lastReset: utcDate(2026, 3, 10, 0, 0, 5)))
        #expect(exact.state.usage.snapshot == UsageSnapshot(requests: 7, tokens: 70, lastReset: utcDate(2026, 3, 10)))

        // The reset must be written out; the others were not changed.
        #expect(stale.state.usage.takeChanges() == UsageSnapshot(lastReset: now))
        #expect(current.state.usage.takeChanges() == nil)
        #expect(exact.state.usage.takeChanges() == nil)

        // The reset frees the quota, and is not repeated.
        #expect(stale.availability(now: now, timeZone: utc) == .available)
        #expect(UsageResets.applyDue(in: table, now: now, timeZone: utc).isEmpty)
        #expect(UsageResets.applyDue(in: table, now: utcDate(2026, 3, 10, 23, 59, 59), timeZone: utc).isEmpty)
        #expect(stale.nextReset(in: utc) == utcDate(2026, 3, 11))
    }

    @Test func aResetIsDueAtExactlyTheScheduledTime() throws {
        let config = UsageFixtures.config([("m", [UsageFixtures.provider("p", limit: UsageFixtures.limit(requests: 1))])])
        let (table, _) = makeTable(config, usage: ["p": UsageSnapshot(requests: 1, lastReset: utcDate(2026, 3, 9, 12))])
        #expect(UsageResets.applyDue(in: table, now: utcDate(2026, 3, 9, 23, 59, 59), timeZone: utc).isEmpty)
        #expect(try findSlot(table, "m", "p").state.usage.snapshot.requests == 1)
        #expect(UsageResets.applyDue(in: table, now: utcDate(2026, 3, 10), timeZone: utc).count == 1)
        #expect(try findSlot(table, "m", "p").state.usage.snapshot == UsageSnapshot(lastReset: utcDate(2026, 3, 10)))
    }

    @Test func providersWithoutARateLimitResetDaily() throws {
        let config = UsageFixtures.config([
            ("m", [
                UsageFixtures.provider("unlimited"),
                UsageFixtures.provider("hourly", limit: UsageFixtures.limit(tokens: 10, cron: "0 * * * *")),
                UsageFixtures.provider("no-limits-daily", limit: UsageFixtures.limit()),
            ])
        ])
        let lastReset = utcDate(2026, 3, 9, 12, 30)
        let (table, _) = makeTable(config, usage: [
            "unlimited": UsageSnapshot(requests: 5, tokens: 50, lastReset: lastReset),
            "hourly": UsageSnapshot(requests: 5, tokens: 50, lastReset: lastReset),
            "no-limits-daily": UsageSnapshot(requests: 5, tokens: 50, lastReset: lastReset),
        ])
        let unlimited = try findSlot(table, "m", "unlimited")
        #expect(unlimited.resetSchedule == .daily)
        #expect(unlimited.nextReset(in: utc) == utcDate(2026, 3, 10))
        #expect(try findSlot(table, "m", "hourly").nextReset(in: utc) == utcDate(2026, 3, 9, 13))
        #expect(try findSlot(table, "m", "no-limits-daily").nextReset(in: utc) == utcDate(2026, 3, 10))

        let at1300 = UsageResets.applyDue(in: table, now: utcDate(2026, 3, 9, 13), timeZone: utc)
        #expect(at1300 == [ProviderKey(model: "m", provider: "hourly")])
        let atMidnight = UsageResets.applyDue(in: table, now: utcDate(2026, 3, 10, 0, 0, 1), timeZone: utc)
        #expect(Set(atMidnight) == [
            ProviderKey(model: "m", provider: "unlimited"), ProviderKey(model: "m", provider: "hourly"),
            ProviderKey(model: "m", provider: "no-limits-daily"),
        ])
        #expect(unlimited.state.usage.snapshot == UsageSnapshot(lastReset: utcDate(2026, 3, 10, 0, 0, 1)))
    }

    @Test func weeklyScheduleResetsOnSundayMidnightInTheConfiguredZone() throws {
        // 2026-01-01 is a Thursday; the following Sunday is 2026-01-04.
        for expression in ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "@weekly"] {
            let config = UsageFixtures.config([
                ("m", [UsageFixtures.provider("p", limit: UsageFixtures.limit(requests: 10, cron: expression))])
            ])
            let lastReset = date(in: shanghai, 2026, 1, 1, 12)
            let (table, _) = makeTable(config, usage: ["p": UsageSnapshot(requests: 10, lastReset: lastReset)])
            let sunday = date(in: shanghai, 2026, 1, 4)
            #expect(sunday == utcDate(2026, 1, 3, 16), "Sunday 00:00 in Shanghai is Saturday 16:00 UTC")
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = shanghai
            #expect(calendar.component(.weekday, from: sunday) == 1, "Calendar says Sunday")

            #expect(UsageResets.nextDue(in: table, timeZone: shanghai) == sunday, "\(expression)")
            #expect(UsageResets.nextDue(in: table, timeZone: shanghai) != date(in: shanghai, 2026, 1, 5), "not Monday")
            // Evaluated in UTC instead, Sunday midnight is eight hours later.
            #expect(UsageResets.nextDue(in: table, timeZone: utc) == utcDate(2026, 1, 4))

            let slot = try findSlot(table, "m", "p")
            #expect(slot.availability(now: date(in: shanghai, 2026, 1, 3, 23), timeZone: shanghai) == .overQuota(until: sunday))
            #expect(UsageResets.applyDue(in: table, now: sunday.addingTimeInterval(-1), timeZone: shanghai).isEmpty)
            #expect(slot.state.usage.snapshot.requests == 10)
            #expect(UsageResets.applyDue(in: table, now: sunday, timeZone: shanghai).count == 1)
            #expect(slot.state.usage.snapshot == UsageSnapshot(lastReset: sunday))
            #expect(slot.nextReset(in: shanghai) == date(in: shanghai, 2026, 1, 11))
        }
    }

    @Test func nextDueIsTheEarliestUpcomingReset() throws {
        let config = UsageFixtures.config([
            ("a", [
                UsageFixtures.provider("daily", limit: UsageFixtures.limit(requests: 1)),
                UsageFixtures.provider("monthly", limit: UsageFixtures.limit(requests: 1, cron: "0 0 1 * *")),
            ]),
            ("b", [
                UsageFixtures.provider("quarter-hour", limit: UsageFixtures.limit(tokens: 1, cron: "*/15 * * * *")),
                UsageFixtures.provider("unlimited"),
            ]),
        ])
        let (table, _) = makeTable(config, usage: [
            "daily": UsageSnapshot(lastReset: utcDate(2026, 3, 10, 5)),
            "monthly": UsageSnapshot(lastReset: utcDate(2026, 3, 1)),
            "quarter-hour": UsageSnapshot(lastReset: utcDate(2026, 3, 10, 5, 7)),
            "unlimited": UsageSnapshot(lastReset: utcDate(2026, 3, 10, 9)),
        ])
        #expect(UsageResets.nextDue(in: table, timeZone: utc) == utcDate(2026, 3, 10, 5, 15))

        // After that reset the next one comes from the others (the quarter-hour one moves on from `now`).
        let now = utcDate(2026, 3, 10, 5, 20)
        #expect(UsageResets.applyDue(in: table, now: now, timeZone: utc) == [ProviderKey(model: "b", provider: "quarter-hour")])
        #expect(UsageResets.nextDue(in: table, timeZone: utc) == utcDate(2026, 3, 10, 5, 30))

        let empty = RoutingTable(config: UsageFixtures.config([]))
        #expect(UsageResets.nextDue(in: empty, timeZone: utc) == nil)
        #expect(UsageResets.applyDue(in: empty, now: now, timeZone: utc).isEmpty)
    }

    @Test func catchUpResetsOnceHoweverManyPeriodsWereMissed() throws {
        let config = UsageFixtures.config([
            ("m", [UsageFixtures.provider("p", limit: UsageFixtures.limit(requests: 5, cron: "0 * * * *"))])
        ])
        let (table, _) = makeTable(config, usage: ["p": UsageSnapshot(requests: 5, tokens: 9, lastReset: utcDate(2025, 12, 1))])
        let now = utcDate(2026, 3, 10, 10, 42)
        #expect(UsageResets.nextDue(in: table, timeZone: utc) == utcDate(2025, 12, 1, 1))
        #expect(UsageResets.applyDue(in: table, now: now, timeZone: utc).count == 1)
        #expect(UsageResets.applyDue(in: table, now: now, timeZone: utc).isEmpty)
        #expect(UsageResets.nextDue(in: table, timeZone: utc) == utcDate(2026, 3, 10, 11))
        #expect(try findSlot(table, "m", "p").state.usage.takeChanges() == UsageSnapshot(lastReset: now))
    }

    @Test func disabledProvidersAreResetToo() throws {
        var disabled = UsageFixtures.provider("off", limit: UsageFixtures.limit(requests: 1))
        disabled.enabled = false
        let config = UsageFixtures.config([("m", [disabled])])
        let (table, _) = makeTable(config, usage: ["off": UsageSnapshot(requests: 1, lastReset: utcDate(2026, 3, 1))])
        #expect(UsageResets.applyDue(in: table, now: utcDate(2026, 3, 10), timeZone: utc) == [ProviderKey(model: "m", provider: "off")])
    }
}

/// Whether routing may try a provider now, and how provider state survives a reload.
@Suite struct ProviderStateTests {
    let utc = TimeZone(identifier: "UTC")!
    let now = utcDate(2026, 3, 10, 10)

    func slot(_ limit: RateLimitConfig?, usage: UsageSnapshot) -> ProviderSlot {
        let key = ProviderKey(model: "m", provider: "p")
        return ProviderSlot(
            config: UsageFixtures.provider("p", limit: limit),
            state: ProviderState(key: key, usage: UsageCounter(key: key, usage: usage))
        )
    }

    @Test func overQuotaUntilTheNextReset() {
        let lastReset = utcDate(2026, 3, 10)
        let requests = slot(UsageFixtures.limit(requests: 3), usage: UsageSnapshot(requests: 3, lastReset: lastReset))
        #expect(requests.availability(now: now, timeZone: utc) == .overQuota(until: utcDate(2026, 3, 11)))

        let tokens = slot(
            UsageFixtures.limit(requests: 100, tokens: 1000, cron: "30 6 * * mon"),
            usage: UsageSnapshot(requests: 1, tokens: 1200, lastReset: lastReset)
        )
        // 2026-03-10 is a Tuesday; the next Monday is 2026-03-16.
        #expect(tokens.availability(now: now, timeZone: utc) == .overQuota(until: utcDate(2026, 3, 16, 6, 30)))
        let shanghai = TimeZone(identifier: "Asia/Shanghai")!
        #expect(tokens.availability(now: now, timeZone: shanghai) == .overQuota(until: date(in: shanghai, 2026, 3, 16, 6, 30)))

        let below = slot(UsageFixtures.limit(requests: 3, tokens: 1000), usage: UsageSnapshot(requests: 2, tokens: 999, lastReset: lastReset))
        #expect(below.availability(now: now, timeZone: utc) == .available)
        let unlimited = slot(nil, usage: UsageSnapshot(requests: 1_000_000, tokens: 1_000_000_000, lastReset: lastReset))
        #expect(unlimited.availability(now: now, timeZone: utc) == .available)
    }

    @Test func coolingDownTakesPrecedenceAndEnds() {
        let over = slot(UsageFixtures.limit(requests: 1), usage: UsageSnapshot(requests: 1, lastReset: utcDate(2026, 3, 10)))
        let fresh = slot(UsageFixtures.limit(requests: 1), usage: UsageSnapshot(lastReset: utcDate(2026, 3, 10)))
        let until = now.addingTimeInterval(30)
        over.state.coolDown(until: until, status: 429, now: now)
        fresh.state.coolDown(until: until, status: 401, now: now)
        #expect(over.availability(now: now, timeZone: utc) == .coolingDown(until: until))
        #expect(fresh.availability(now: now, timeZone: utc) == .coolingDown(until: until))
        #expect(fresh.state.cooldown(now: now)?.status == 401)

        // A shorter cooldown does not cut a longer one short; a longer one extends it.
        fresh.state.coolDown(until: now.addingTimeInterval(5), status: 429, now: now)
        #expect(fresh.availability(now: now, timeZone: utc) == .coolingDown(until: until))
        fresh.state.coolDown(until: now.addingTimeInterval(60), status: 403, now: now)
        #expect(fresh.availability(now: now, timeZone: utc) == .coolingDown(until: now.addingTimeInterval(60)))

        // Once it has passed, quota decides again.
        #expect(over.availability(now: until, timeZone: utc) == .overQuota(until: utcDate(2026, 3, 11)))
        #expect(fresh.availability(now: now.addingTimeInterval(60), timeZone: utc) == .available)
        #expect(fresh.state.cooldown(now: now) == nil, "an ended cooldown is forgotten")
    }

    @Test func adoptKeepsStatesOfProvidersThatStillExist() throws {
        let states = ProviderStates()
        let made = MadeCounters()
        let first = UsageFixtures.config([
            ("gpt-4o", [UsageFixtures.provider("a"), UsageFixtures.provider("b")]),
            ("old-model", [UsageFixtures.provider("a")]),
        ])
        let adopted = states.adopt(first) { made.make($0) }
        #expect(adopted.removed.isEmpty)
        #expect(Set(adopted.current.keys) == [
            ProviderKey(model: "gpt-4o", provider: "a"), ProviderKey(model: "gpt-4o", provider: "b"),
            ProviderKey(model: "old-model", provider: "a"),
        ])
        #expect(made.keys.count == 3)
        let a = try #require(adopted.current[ProviderKey(model: "gpt-4o", provider: "a")])
        #expect(a.key == ProviderKey(model: "gpt-4o", provider: "a"))
        #expect(a.usage.key == a.key)
        _ = a.usage.reserve(nil)
        a.coolDown(until: utcDate(2026, 3, 10, 12), status: 429, now: utcDate(2026, 3, 10))

        // Reload: b and old-model are gone, c and new-model are new, a stays.
        let second = UsageFixtures.config([
            ("gpt-4o", [UsageFixtures.provider("c"), UsageFixtures.provider("a", limit: UsageFixtures.limit(requests: 9))]),
            ("new-model", [UsageFixtures.provider("b")]),
        ])
        let readopted = states.adopt(second) { made.make($0) }
        let kept = try #require(readopted.current[ProviderKey(model: "gpt-4o", provider: "a")])
        #expect(kept === a, "the same state object carries over")
        #expect(kept.usage === a.usage)
        #expect(kept.usage.snapshot.requests == 1)
        #expect(kept.cooldown(now: utcDate(2026, 3, 10, 10))?.status == 429)
        #expect(made.keys.count == 5)
        #expect(Set(made.keys.suffix(2)) == [ProviderKey(model: "gpt-4o", provider: "c"), ProviderKey(model: "new-model", provider: "b")])
        #expect(Set(readopted.removed.map(\.key)) == [
            ProviderKey(model: "gpt-4o", provider: "b"), ProviderKey(model: "old-model", provider: "a"),
        ])
        // Removed states stay among those to save until nothing is left to settle.
        #expect(Set(states.all.map(\.key)) == Set(readopted.current.keys).union(readopted.removed.map(\.key)))
        states.releaseQuiescentRetired()
        #expect(Set(states.all.map(\.key)) == Set(readopted.current.keys))
        #expect(readopted.current[ProviderKey(model: "new-model", provider: "b")]?.usage.snapshot.requests == 0)

        // A table built on the new states shares them, and no longer schedules the removed providers.
        let table = RoutingTable(config: second, states: readopted.current)
        let route = try #require(table.route(for: "gpt-4o"))
        #expect(route.providers.map(\.name) == ["c", "a"])
        #expect(route.providers[1].state === a)
        #expect(table.route(for: "old-model") == nil)
        let removedB = try #require(readopted.removed.first { $0.key.provider == "b" })
        #expect(!table.routes.flatMap(\.providers).contains { $0.state === removedB })

        // Adopting the same config again changes nothing.
        let again = states.adopt(second) { made.make($0) }
        #expect(again.removed.isEmpty)
        #expect(made.keys.count == 5)
        #expect(again.current[ProviderKey(model: "gpt-4o", provider: "a")] === a)
    }
}

extension ProviderStateTests {
    @Test func aRemovedProviderKeepsItsCounterUntilItsInFlightRequestSettles() throws {
        let states = ProviderStates()
        let made = MadeCounters()
        let first = UsageFixtures.config([("gpt-4o", [UsageFixtures.provider("a"), UsageFixtures.provider("b")])])
        let b = try #require(states.adopt(first) { made.make($0) }.current[ProviderKey(model: "gpt-4o", provider: "b")])
        let lease = try #require(b.usage.reserve(nil))
        _ = b.usage.takeChanges()

        _ = states.adopt(UsageFixtures.config([("gpt-4o", [UsageFixtures.provider("a")])])) { made.make($0) }
        states.releaseQuiescentRetired()
        #expect(states.all.contains { $0 === b }, "a lease is still open")

        lease.settle(TokenUsage(promptTokens: 3, completionTokens: 4))
        #expect(states.all.contains { $0 === b })
        #expect(b.usage.takeChanges()?.tokens == 7, "the settled tokens are there to be saved")
        states.releaseQuiescentRetired()
        #expect(!states.all.contains { $0 === b })
    }

    @Test func aProviderConfiguredAgainTakesBackItsRetiredState() throws {
        let states = ProviderStates()
        let made = MadeCounters()
        let both = UsageFixtures.config([("gpt-4o", [UsageFixtures.provider("a"), UsageFixtures.provider("b")])])
        let b = try #require(states.adopt(both) { made.make($0) }.current[ProviderKey(model: "gpt-4o", provider: "b")])
        _ = b.usage.reserve(nil)
        _ = states.adopt(UsageFixtures.config([("gpt-4o", [UsageFixtures.provider("a")])])) { made.make($0) }
        let again = states.adopt(both) { made.make($0) }
        #expect(again.current[ProviderKey(model: "gpt-4o", provider: "b")] === b)
        #expect(made.keys.count == 2)
    }
}

/// Records the keys `ProviderStates.adopt` asks a counter for.
final class MadeCounters {
    private(set) var keys: [ProviderKey] = []

    func make(_ key: ProviderKey) -> UsageCounter {
        keys.append(key)
        return UsageCounter(key: key, usage: UsageSnapshot(lastReset: utcDate(2026, 3, 1)))
    }
}
