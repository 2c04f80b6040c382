import Foundation
import Testing
@testable import SwitchyardCore

/// A provider's key pool as a pure state machine on an injected clock.
@Suite struct KeyPoolTests {
    let now = utcDate(2026, 12, 3, 12)
    let keys = [UpstreamKey(key: "k1"), UpstreamKey(key: "k2", weight: 3), UpstreamKey(key: "k3")]

    func at(_ seconds: Double) -> Date { now.addingTimeInterval(seconds) }

    @Test func fillFirstStaysOnTheFirstUsableKeyAndAKeysFailureTakesItOut() {
        var pool = KeyPool()
        #expect(pool.select(keys, strategy: .fillFirst, affinity: nil, tried: [], now: now) == 0)
        #expect(pool.failed("k1", status: 401, retryAfter: nil, now: now, cooldownSeconds: 30, disabledRetrySeconds: nil) == .disabled(until: nil))
        #expect(pool.select(keys, strategy: .fillFirst, affinity: nil, tried: [], now: at(3600)) == 1, "disabled until reload")
        #expect(pool.failed("k2", status: 429, retryAfter: 20, now: now, cooldownSeconds: 30, disabledRetrySeconds: nil) == .coolingDown(until: at(20)))
        #expect(pool.select(keys, strategy: .fillFirst, affinity: nil, tried: [], now: at(10)) == 2)
        #expect(pool.select(keys, strategy: .fillFirst, affinity: nil, tried: [], now: at(20)) == 1, "its cooldown is over")
        #expect(pool.failed("k3", status: 500, retryAfter: nil, now: now, cooldownSeconds: 30, disabledRetrySeconds: nil) == nil, "not the key's failure")
        #expect(pool.select(keys, strategy: .fillFirst, affinity: nil, tried: [1, 2], now: at(20)) == nil, "nothing untried is left")
    }

    @Test func aDisabledKeyComesBackAfterItsRetryTimeAndWhenItServes() {
        var pool = KeyPool()
        #expect(pool.failed("k1", status: 403, retryAfter: nil, now: now, cooldownSeconds: 30, disabledRetrySeconds: 600) == .disabled(until: at(600)))
        #expect(!pool.isUsable("k1", now: at(599)))
        #expect(pool.isUsable("k1", now: at(600)))
        pool.served("k1")
        #expect(pool.state(of: "k1").disabled == nil && pool.state(of: "k1").requests == 1)
    }

    @Test func theSoonestUsableKeySaysWhenThePoolIsBack() {
        var pool = KeyPool()
        _ = pool.failed("k1", status: 401, retryAfter: nil, now: now, cooldownSeconds: 30, disabledRetrySeconds: nil)
        _ = pool.failed("k2", status: 429, retryAfter: 50, now: now, cooldownSeconds: 30, disabledRetrySeconds: nil)
        #expect(pool.soonestUsable(keys, now: now) == (true, nil))
        _ = pool.failed("k3", status: 429, retryAfter: nil, now: now, cooldownSeconds: 30, disabledRetrySeconds: nil)
        let (usable, at) = pool.soonestUsable(keys, now: now)
        #expect(!usable && at == self.at(30))
        let disabledOnly = [UpstreamKey(key: "k1")]
        #expect(pool.soonestUsable(disabledOnly, now: now) == (false, nil), "back only after a reload")
    }

    @Test func roundRobinSpreadsByWeight() {
        var pool = KeyPool()
        var counts = [0, 0, 0]
        for _ in 0..<50 { counts[pool.select(keys, strategy: .roundRobin, affinity: nil, tried: [], now: now)!] += 1 }
        #expect(counts == [10, 30, 10])
    }

    @Test func anAffinityKeepsItsKeyWhileItIsUsableAndOnlyItsRequestsMoveWhenItIsOut() {
        var pool = KeyPool()
        let affinities = (0..<40).map { KeyPool.affinity(of: Array("session-\($0)".utf8)) }
        let first = affinities.map { pool.select(keys, strategy: .roundRobin, affinity: $0, tried: [], now: now)! }
        let again = affinities.map { pool.select(keys, strategy: .roundRobin, affinity: $0, tried: [], now: now)! }
        #expect(first == again, "the same key every time")
        #expect(Set(first).count == 3, "sessions spread over the keys")
        _ = pool.failed("k2", status: 429, retryAfter: 60, now: now, cooldownSeconds: 30, disabledRetrySeconds: nil)
        let moved = affinities.map { pool.select(keys, strategy: .roundRobin, affinity: $0, tried: [], now: now)! }
        for (before, after) in zip(first, moved) {
            if before == 1 { #expect(after != 1) } else { #expect(after == before, "sessions on other keys stay") }
        }
        let back = affinities.map { pool.select(keys, strategy: .roundRobin, affinity: $0, tried: [], now: at(60))! }
        #expect(back == first, "back on their key once it is usable again")
    }
}
