import Foundation
import Testing
@testable import SwitchyardCore

/// What to do after a failed attempt, how long to wait, and how long to skip a provider.
@Suite struct FailoverPolicyTests {
    @Test(arguments: ["1e19", "inf", "Infinity", "nan", "-5", "1e308", "99999999999999999999"])
    func absurdRetryAfterHintsAreCappedOrIgnored(hint: String) {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let seconds = FailoverPolicy.retryAfter(seconds: hint, milliseconds: nil, now: now)
        if let seconds {
            #expect(seconds.isFinite && seconds >= 0 && seconds <= FailoverPolicy.maximumRetryAfter, "\(hint)")
        }
        let milliseconds = FailoverPolicy.retryAfter(seconds: nil, milliseconds: hint, now: now)
        if let milliseconds {
            #expect(milliseconds.isFinite && milliseconds >= 0 && milliseconds <= FailoverPolicy.maximumRetryAfter, "\(hint)")
        }
        #expect(FailoverPolicy.retryAfter(seconds: "1e19", milliseconds: nil, now: now) == FailoverPolicy.maximumRetryAfter)
        #expect(FailoverPolicy.retryAfter(seconds: "inf", milliseconds: nil, now: now) == nil)
        #expect(FailoverPolicy.retryAfter(seconds: "-5", milliseconds: nil, now: now) == nil)
        #expect(FailoverPolicy.retryAfter(seconds: "30", milliseconds: "nan", now: now) == 30, "a bad ms hint falls back")
    }

    @Test func aRetryAfterDateCenturiesAheadIsCapped() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let seconds = FailoverPolicy.retryAfter(seconds: "Fri, 31 Dec 9999 23:59:59 GMT", milliseconds: nil, now: now)
        #expect(seconds == FailoverPolicy.maximumRetryAfter)
    }

    @Test func allProvidersRateLimitedForeverStillGivesAWholeRetryAfter() {
        let error = GatewayError.allProvidersFailed(
            model: "m", attempts: [AttemptRecord(provider: "a", failure: .status(429, retryAfter: .infinity))]
        )
        #expect(error.statusCode == 429)
        #expect(error.headers.first { $0.name == "retry-after" }?.value == "1")
    }

    func decide(_ failure: AttemptFailure) -> FailoverDecision {
        FailoverPolicy.decide(failure, defaultCooldown: 30)
    }

    @Test func serverErrorsTimeoutsAndBrokenConnectionsAreRetried() {
        for code in [500, 502, 503, 504, 408, 599] {
            #expect(decide(.status(code, retryAfter: nil)) == .retry, "\(code)")
        }
        #expect(decide(.timeout) == .retry)
        #expect(decide(.connection("connection refused")) == .retry)
        #expect(decide(.invalidResponse("stream ended early")) == .retry)
    }

    @Test func authenticationFailuresSwitchWithACooldown() {
        #expect(decide(.status(401, retryAfter: nil)) == .switchProvider(cooldown: 30))
        #expect(decide(.status(403, retryAfter: nil)) == .switchProvider(cooldown: 30))
        #expect(FailoverPolicy.decide(.status(401, retryAfter: nil), defaultCooldown: 5) == .switchProvider(cooldown: 5))
    }

    @Test func rateLimitsSwitchUsingRetryAfterOrTheDefault() {
        #expect(decide(.status(429, retryAfter: 12.5)) == .switchProvider(cooldown: 12.5))
        #expect(decide(.status(429, retryAfter: nil)) == .switchProvider(cooldown: 30))
        #expect(decide(.status(429, retryAfter: 0)) == .switchProvider(cooldown: 0))
    }

    @Test func clientErrorsGoBackToTheClient() {
        for code in [400, 404, 413, 422, 409, 415] {
            #expect(decide(.status(code, retryAfter: nil)) == .returnToClient, "\(code)")
        }
    }

    @Test func unexpectedStatusesSwitchWithoutCooldown() {
        for code in [101, 301, 302, 304] {
            #expect(decide(.status(code, retryAfter: nil)) == .switchProvider(cooldown: nil), "\(code)")
        }
    }

    @Test func failureDescriptionsAndKinds() {
        #expect(AttemptFailure.status(502, retryAfter: nil).description == "502")
        #expect(AttemptFailure.timeout.description == "timeout")
        #expect(AttemptFailure.connection("reset").description == "connection error (reset)")
        #expect(AttemptFailure.invalidResponse("empty").description == "invalid response (empty)")
        #expect(AttemptFailure.status(429, retryAfter: 3).kind == "429")
        #expect(AttemptFailure.connection("reset").kind == "connection")
        #expect(AttemptFailure.invalidResponse("x").kind == "invalid_response")
        #expect(AttemptFailure.timeout.kind == "timeout")
    }

    // MARK: Backoff

    func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    @Test func backoffDoublesPerRetry() {
        let lows = (1...6).map { milliseconds(FailoverPolicy.backoff(retry: $0, baseMilliseconds: 100, random: 0)) }
        #expect(lows == [50, 100, 200, 400, 800, 1600])
        let highs = (1...3).map { milliseconds(FailoverPolicy.backoff(retry: $0, baseMilliseconds: 100, random: 0.5)) }
        #expect(highs == [75, 150, 300])
    }

    @Test func backoffStaysWithinHalfCapAndCap() {
        var generator = SeededGenerator(seed: 3)
        for retry in 1...40 {
            let exponential = 100.0 * pow(2, Double(min(retry - 1, 16)))
            let cap = min(exponential, 5_000)
            for _ in 0..<20 {
                let random = Double.random(in: 0..<1, using: &generator)
                let delay = milliseconds(FailoverPolicy.backoff(retry: retry, baseMilliseconds: 100, random: random))
                #expect(delay >= cap / 2 - 1 && delay <= cap, "retry \(retry): \(delay) not in [\(cap / 2), \(cap)]")
            }
        }
        #expect(milliseconds(FailoverPolicy.backoff(retry: 100, baseMilliseconds: 1_000, random: 0)) == 2_500)
        #expect(milliseconds(FailoverPolicy.backoff(retry: 100, baseMilliseconds: 1_000, random: 0.999_999)) <= 5_000)
        // The default random source also stays in bounds.
        for _ in 0..<50 {
            let delay = milliseconds(FailoverPolicy.backoff(retry: 2, baseMilliseconds: 100))
            #expect(delay >= 100 && delay <= 200)
        }
    }

    @Test func backoffIsZeroWhenTheBaseIsZero() {
        for retry in 1...5 {
            #expect(FailoverPolicy.backoff(retry: retry, baseMilliseconds: 0, random: 0.7) == .zero)
        }
    }

    // MARK: Retry-After

    static let now = Date(timeIntervalSince1970: 1_445_412_420)  // Wed, 21 Oct 2015 07:27:00 GMT

    @Test func retryAfterInSeconds() {
        #expect(FailoverPolicy.retryAfter(seconds: "30", milliseconds: nil, now: Self.now) == 30)
        #expect(FailoverPolicy.retryAfter(seconds: " 2.5 ", milliseconds: nil, now: Self.now) == 2.5)
        #expect(FailoverPolicy.retryAfter(seconds: "0", milliseconds: nil, now: Self.now) == 0)
    }

    @Test func retryAfterMillisecondsTakesPrecedence() {
        #expect(FailoverPolicy.retryAfter(seconds: "30", milliseconds: "1500", now: Self.now) == 1.5)
        #expect(FailoverPolicy.retryAfter(seconds: nil, milliseconds: "250", now: Self.now) == 0.25)
        #expect(FailoverPolicy.retryAfter(seconds: "7", milliseconds: "soon", now: Self.now) == 7)
    }

    @Test func retryAfterAsAnHTTPDate() {
        #expect(FailoverPolicy.retryAfter(seconds: "Wed, 21 Oct 2015 07:28:00 GMT", milliseconds: nil, now: Self.now) == 60)
        #expect(FailoverPolicy.retryAfter(seconds: "Wed, 21 Oct 2015 07:00:00 GMT", milliseconds: nil, now: Self.now) == 0)
    }

    @Test func unusableRetryAfterIsNil() {
        #expect(FailoverPolicy.retryAfter(seconds: nil, milliseconds: nil, now: Self.now) == nil)
        #expect(FailoverPolicy.retryAfter(seconds: "", milliseconds: nil, now: Self.now) == nil)
        #expect(FailoverPolicy.retryAfter(seconds: "later", milliseconds: nil, now: Self.now) == nil)
        #expect(FailoverPolicy.retryAfter(seconds: "-5", milliseconds: nil, now: Self.now) == nil)
        #expect(FailoverPolicy.retryAfter(seconds: nil, milliseconds: "-1", now: Self.now) == nil)
    }
}

@Suite struct ProviderCooldownTests {
    let key = ProviderKey(model: "gpt-4o", provider: "a")
    let start = Date(timeIntervalSince1970: 1_000_000)

    func state(_ key: ProviderKey? = nil) -> ProviderState {
        let key = key ?? self.key
        return ProviderState(key: key, usage: UsageCounter(key: key, usage: UsageSnapshot(lastReset: start)))
    }

    @Test func aCooldownLastsUntilItsEnd() {
        let provider = state()
        provider.coolDown(until: start.addingTimeInterval(30), status: 429, now: start)
        #expect(provider.cooldown(now: start) == .init(until: start.addingTimeInterval(30), status: 429))
        #expect(provider.cooldown(now: start.addingTimeInterval(29.9))?.status == 429)
        #expect(provider.cooldown(now: start.addingTimeInterval(30)) == nil)
        #expect(provider.cooldown(now: start) == nil, "an expired cooldown is forgotten")
    }

    @Test func cooldownsArePerModelAndProvider() {
        let states = ProviderStates()
        let config = GatewayConfig(global: GlobalSettings(), models: [
            ModelConfig(name: "gpt-4o", providers: [ProviderConfig(name: "a"), ProviderConfig(name: "b")]),
            ModelConfig(name: "other", providers: [ProviderConfig(name: "a")]),
        ])
        let (current, _) = states.adopt(config) { key in UsageCounter(key: key, usage: UsageSnapshot(lastReset: start)) }
        current[key]!.coolDown(until: start.addingTimeInterval(10), status: 401, now: start)
        #expect(current[ProviderKey(model: "gpt-4o", provider: "b")]!.cooldown(now: start) == nil)
        #expect(current[ProviderKey(model: "other", provider: "a")]!.cooldown(now: start) == nil)
        #expect(current[key]!.cooldown(now: start)?.status == 401)
        #expect(key.description == "gpt-4o/a")
    }

    @Test func aShorterCooldownDoesNotCutALongerOneShort() {
        let provider = state()
        provider.coolDown(until: start.addingTimeInterval(60), status: 429, now: start)
        provider.coolDown(until: start.addingTimeInterval(5), status: 403, now: start)
        #expect(provider.cooldown(now: start.addingTimeInterval(10))?.status == 429)
        provider.coolDown(until: start.addingTimeInterval(90), status: 403, now: start)
        #expect(provider.cooldown(now: start.addingTimeInterval(70))?.status == 403)
    }

    @Test func cooldownsSurviveAReloadThatKeepsTheProvider() {
        let states = ProviderStates()
        let one = GatewayConfig(global: GlobalSettings(), models: [ModelConfig(name: "gpt-4o", providers: [ProviderConfig(name: "a")])])
        let (first, _) = states.adopt(one) { key in UsageCounter(key: key, usage: UsageSnapshot(lastReset: start)) }
        first[key]!.coolDown(until: start.addingTimeInterval(60), status: 429, now: start)
        let (second, removed) = states.adopt(one) { key in UsageCounter(key: key, usage: UsageSnapshot(lastReset: start)) }
        #expect(second[key] === first[key])
        #expect(removed.isEmpty)
        #expect(second[key]!.cooldown(now: start)?.status == 429)
    }
}
