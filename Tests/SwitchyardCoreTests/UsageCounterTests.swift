import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import SwitchyardCore

/// Reserving, releasing and settling requests against a provider's quota, and the change marks the flusher reads.
@Suite struct UsageCounterTests {
    let key = ProviderKey(model: "gpt-4o", provider: "provider-1")
    let start = utcDate(2026, 3, 1)

    func counter(requests: Int = 0, tokens: Int = 0, estimated: Int = 0, loadError: String? = nil) -> UsageCounter {
        UsageCounter(
            key: key,
            usage: UsageSnapshot(requests: requests, tokens: tokens, estimatedTokens: estimated, lastReset: start),
            loadError: loadError
        )
    }

    func limits(requests: Int? = nil, tokens: Int? = nil) -> RateLimitConfig {
        RateLimitConfig(requestsPerPeriod: requests, tokensPerPeriod: tokens, periodCron: .daily)
    }

    // MARK: Reserve

    @Test func reserveCountsARequest() {
        let usage = counter()
        #expect(usage.reserve(limits(requests: 10)) != nil)
        #expect(usage.snapshot.requests == 1)
        #expect(usage.reserve(nil) != nil)
        #expect(usage.snapshot.requests == 2)
        #expect(usage.snapshot.tokens == 0)
        #expect(usage.snapshot.lastReset == start)
    }

    @Test func reserveRefusesAtTheRequestLimit() {
        let usage = counter()
        let limit = limits(requests: 3)
        for _ in 0..<3 { #expect(usage.reserve(limit) != nil) }
        #expect(usage.isExhausted(limit))
        #expect(usage.reserve(limit) == nil)
        #expect(usage.reserve(limit) == nil)
        #expect(usage.snapshot.requests == 3, "a refused reservation must not be counted")
    }

    @Test func reserveRefusesOverTheRequestLimit() {
        // Counts loaded from a file can already be over a limit that was lowered since.
        let usage = counter(requests: 12)
        let limit = limits(requests: 10)
        #expect(usage.isExhausted(limit))
        #expect(usage.reserve(limit) == nil)
        #expect(usage.snapshot.requests == 12)
    }

    @Test func reserveRefusesAtOrOverTheTokenLimit() {
        let below = counter(tokens: 999)
        #expect(!below.isExhausted(limits(tokens: 1000)))
        #expect(below.reserve(limits(tokens: 1000)) != nil)

        let at = counter(tokens: 1000)
        #expect(at.isExhausted(limits(tokens: 1000)))
        #expect(at.reserve(limits(tokens: 1000)) == nil)
        #expect(at.snapshot.requests == 0)

        let over = counter(tokens: 1500)
        #expect(over.reserve(limits(tokens: 1000)) == nil)
        // Either limit is enough to refuse.
        #expect(over.reserve(limits(requests: 100, tokens: 1000)) == nil)
        #expect(counter(requests: 100).reserve(limits(requests: 100, tokens: 1000)) == nil)
    }

    @Test func noLimitsAlwaysAdmit() {
        let usage = counter(requests: 1_000_000, tokens: 1_000_000_000)
        #expect(!usage.isExhausted(nil))
        #expect(!usage.isExhausted(limits()))
        for _ in 0..<100 {
            #expect(usage.reserve(nil) != nil)
            #expect(usage.reserve(limits()) != nil)
        }
        #expect(usage.snapshot.requests == 1_000_200)
    }

    @Test func sequentialTokenLimitAdmitsUntilTheSettledTokensReachIt() {
        let usage = counter()
        let limit = limits(tokens: 1000)
        var admitted = 0
        for _ in 0..<500 {
            guard let lease = usage.reserve(limit) else { continue }
            admitted += 1
            lease.settle(TokenUsage(promptTokens: 4, completionTokens: 6))
        }
        #expect(admitted == 100)
        #expect(usage.snapshot.tokens == 1000)
        #expect(usage.snapshot.requests == 100)
    }

    // MARK: Release

    @Test func releaseGivesTheRequestBack() throws {
        let usage = counter()
        let limit = limits(requests: 1)
        let lease = try #require(usage.reserve(limit))
        #expect(usage.reserve(limit) == nil)
        lease.release()
        #expect(usage.snapshot.requests == 0)
        #expect(usage.reserve(limit) != nil, "the released slot can be used again")
        #expect(usage.snapshot.requests == 1)
    }

    @Test func releaseAfterAResetDoesNotTouchTheNewPeriod() throws {
        let usage = counter()
        let old = try #require(usage.reserve(nil))
        #expect(usage.snapshot.requests == 1)
        let resetTime = utcDate(2026, 3, 2)
        usage.reset(at: resetTime)
        #expect(usage.snapshot == UsageSnapshot(lastReset: resetTime))

        let fresh = try #require(usage.reserve(nil))
        #expect(usage.snapshot.requests == 1)
        old.release()
        #expect(usage.snapshot.requests == 1, "a reservation from the old period must not decrement the new one")
        fresh.release()
        #expect(usage.snapshot.requests == 0)
    }

    @Test func releaseNeverGoesBelowZero() throws {
        let usage = counter()
        let lease = try #require(usage.reserve(nil))
        // The counts were replaced (e.g. recovered from a file) without a new period.
        usage.recover(UsageSnapshot(lastReset: start))
        lease.release()
        #expect(usage.snapshot.requests == 0)
    }

    // MARK: Settle

    @Test func settleAddsTokensAndTracksEstimatesSeparately() throws {
        let usage = counter()
        let reported = try #require(usage.reserve(nil))
        reported.settle(TokenUsage(promptTokens: 10, completionTokens: 20))
        #expect(usage.snapshot.tokens == 30)
        #expect(usage.snapshot.estimatedTokens == 0)

        let estimated = try #require(usage.reserve(nil))
        estimated.settle(TokenUsage(promptTokens: 3, completionTokens: 4, estimated: true))
        #expect(usage.snapshot.tokens == 37)
        #expect(usage.snapshot.estimatedTokens == 7)

        // total_tokens as reported wins over the sum of the parts.
        let total = try #require(usage.reserve(nil))
        total.settle(TokenUsage(promptTokens: 1, completionTokens: 1, totalTokens: 50))
        #expect(usage.snapshot.tokens == 87)
        #expect(usage.snapshot.estimatedTokens == 7)
        #expect(usage.snapshot.requests == 3)
    }

    @Test func settleNilOrZeroAddsNothing() throws {
        let usage = counter(tokens: 5)
        let lease = try #require(usage.reserve(nil))
        _ = usage.takeChanges()
        lease.settle(nil)
        #expect(usage.snapshot.tokens == 5)
        #expect(usage.snapshot.requests == 1)
        #expect(usage.takeChanges() == nil, "settling nothing is not a change")
        lease.settle(TokenUsage(promptTokens: 0, completionTokens: 0))
        #expect(usage.snapshot.tokens == 5)
        #expect(usage.takeChanges() == nil)
    }

    // MARK: Change marks

    @Test func takeChangesReturnsASnapshotOnlyWhenChanged() throws {
        let usage = counter(requests: 2, tokens: 40)
        #expect(usage.takeChanges() == nil, "freshly loaded counts need no write")

        let lease = try #require(usage.reserve(nil))
        let first = try #require(usage.takeChanges())
        #expect(first == UsageSnapshot(requests: 3, tokens: 40, lastReset: start))
        #expect(usage.takeChanges() == nil, "the mark is cleared")

        lease.settle(TokenUsage(promptTokens: 5, completionTokens: 5))
        #expect(usage.takeChanges()?.tokens == 50)
        #expect(usage.takeChanges() == nil)

        lease.release()
        #expect(usage.takeChanges()?.requests == 2)

        // A refused reservation changes nothing.
        _ = usage.takeChanges()
        #expect(usage.reserve(limits(requests: 2)) == nil)
        #expect(usage.takeChanges() == nil)

        usage.reset(at: utcDate(2026, 3, 2))
        #expect(usage.takeChanges() == UsageSnapshot(lastReset: utcDate(2026, 3, 2)))
    }

    @Test func markChangedAsksForAnotherWrite() throws {
        let usage = counter()
        _ = usage.reserve(nil)
        let written = try #require(usage.takeChanges())
        #expect(usage.takeChanges() == nil)
        usage.markChanged()  // the write failed
        #expect(usage.takeChanges() == written)
        #expect(usage.takeChanges() == nil)
    }

    @Test func aCounterWhoseFileWasUnreadableIsNeverPersistedUntilRecovered() throws {
        let usage = counter(loadError: "usage/gpt-4o_provider-1.json is not a JSON object")
        #expect(usage.persistenceError == "usage/gpt-4o_provider-1.json is not a JSON object")
        #expect(usage.takeChanges() == nil)

        // It still counts in memory (so quotas keep working) but never hands counts to the flusher.
        let lease = try #require(usage.reserve(limits(requests: 5)))
        lease.settle(TokenUsage(promptTokens: 1, completionTokens: 2))
        usage.markChanged()
        usage.reset(at: utcDate(2026, 3, 2))
        #expect(usage.takeChanges() == nil)
        #expect(usage.takeChanges() == nil)

        let recovered = UsageSnapshot(requests: 7, tokens: 70, estimatedTokens: 3, lastReset: utcDate(2026, 3, 2, 6))
        usage.recover(recovered)
        #expect(usage.persistenceError == nil)
        #expect(usage.snapshot == recovered)
        #expect(usage.takeChanges() == nil, "the adopted counts are what is on disk already")
        _ = usage.reserve(nil)
        #expect(usage.takeChanges()?.requests == 8)
    }

    // MARK: Concurrency

    /// Shared observations of concurrent tasks.
    final class Observations: Sendable {
        struct State {
            var admissions = 0
            var releases = 0
            var refusals = 0
            /// The highest count seen (under the counter's lock) right after an admission.
            var maxSeen = 0
            /// Set once any task saw the counter at its limit; no reservation starting after that may be admitted.
            var limitReached = false
            var admittedAfterLimit = 0
        }

        let state = NIOLockedValueBox(State())
    }

    @Test func concurrentReservationsAdmitExactlyTheLimit() async {
        let usage = counter()
        let limit = limits(requests: 137)
        let observations = Observations()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2000 {
                group.addTask {
                    let reachedBefore = observations.state.withLockedValue { $0.limitReached }
                    let lease = usage.reserve(limit)
                    let seen = usage.snapshot.requests
                    observations.state.withLockedValue { state in
                        if lease != nil {
                            state.admissions += 1
                            if reachedBefore { state.admittedAfterLimit += 1 }
                        } else {
                            state.refusals += 1
                        }
                        state.maxSeen = max(state.maxSeen, seen)
                        if seen >= 137 { state.limitReached = true }
                    }
                }
            }
        }
        let result = observations.state.withLockedValue { $0 }
        #expect(result.admissions == 137)
        #expect(result.refusals == 2000 - 137)
        #expect(result.maxSeen == 137)
        #expect(result.admittedAfterLimit == 0)
        #expect(usage.snapshot.requests == 137)
        #expect(usage.reserve(limit) == nil)
    }

    @Test func concurrentReservationsWithReleasesNeverExceedTheLimit() async {
        let usage = counter()
        let limit = limits(requests: 137)
        let observations = Observations()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2000 {
                group.addTask {
                    guard let lease = usage.reserve(limit) else {
                        observations.state.withLockedValue { $0.refusals += 1 }
                        return
                    }
                    let seen = usage.snapshot.requests
                    let release = observations.state.withLockedValue { state in
                        state.admissions += 1
                        state.maxSeen = max(state.maxSeen, seen)
                        return state.admissions % 2 == 0  // every other admitted task fails and gives it back
                    }
                    if release {
                        lease.release()
                        observations.state.withLockedValue { $0.releases += 1 }
                    }
                    await Task.yield()
                    let after = usage.snapshot.requests
                    observations.state.withLockedValue { $0.maxSeen = max($0.maxSeen, after) }
                }
            }
        }
        let result = observations.state.withLockedValue { $0 }
        #expect(result.admissions + result.refusals == 2000)
        #expect(result.releases == result.admissions / 2)
        #expect(usage.snapshot.requests == result.admissions - result.releases)
        #expect(result.maxSeen <= 137, "the count went over the limit")
        #expect(usage.snapshot.requests <= 137)
        // Released slots are reused: only a reservation that is still held can keep a task out.
        #expect(result.admissions > 137, "released slots are reused")
        #expect(usage.reserve(limit) == nil)
    }

    @Test func concurrentReservationsStopAtTheTokenLimit() async {
        let usage = counter()
        let limit = limits(tokens: 1000)
        let observations = Observations()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2000 {
                group.addTask {
                    let reachedBefore = observations.state.withLockedValue { $0.limitReached }
                    guard let lease = usage.reserve(limit) else {
                        let tokens = usage.snapshot.tokens
                        observations.state.withLockedValue { state in
                            state.refusals += 1
                            if tokens >= 1000 { state.limitReached = true }
                        }
                        return
                    }
                    observations.state.withLockedValue { state in
                        state.admissions += 1
                        if reachedBefore { state.admittedAfterLimit += 1 }
                    }
                    lease.settle(TokenUsage(promptTokens: 4, completionTokens: 6))
                    let tokens = usage.snapshot.tokens
                    if tokens >= 1000 { observations.state.withLockedValue { $0.limitReached = true } }
                }
            }
        }
        let result = observations.state.withLockedValue { $0 }
        let final = usage.snapshot
        #expect(result.admissions + result.refusals == 2000)
        #expect(result.admittedAfterLimit == 0, "a request was admitted after the token limit had been reached")
        #expect(final.requests == result.admissions)
        #expect(final.tokens == result.admissions * 10)
        // Tokens are only known after admission, so requests in flight when the limit is crossed may still finish,
        // but at least the limit's worth were admitted and nothing is admitted once it is reached.
        #expect(result.admissions >= 100)
        #expect(final.tokens >= 1000)
        #expect(usage.reserve(limit) == nil)
    }

    @Test func tokenTotalsSaturateInsteadOfOverflowing() {
        let counter = UsageCounter(
            key: ProviderKey(model: "m", provider: "p"), usage: UsageSnapshot(tokens: Int.max - 5, lastReset: Date())
        )
        counter.reserve(nil)?.settle(TokenUsage(promptTokens: 10, completionTokens: 10))
        #expect(counter.snapshot.tokens == Int.max)
    }
}
