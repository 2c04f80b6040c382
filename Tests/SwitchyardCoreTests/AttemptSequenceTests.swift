import Foundation
import Testing
@testable import SwitchyardCore

/// The attempts of one request as a state machine: every step it takes, without sockets or timers.
@Suite struct AttemptSequenceTests {
    static let now = utcDate(2026, 12, 2, 12)

    func provider(_ name: String, priority: Int = 1, retry: Int = 0) -> ProviderConfig {
        var provider = ProviderConfig(name: name)
        provider.endpoint = "https://\(name).example/v1"
        provider.model = "m"
        provider.priority = priority
        provider.retry = retry
        return provider
    }

    func sequence(
        _ providers: [ProviderConfig], preferring: String? = nil, untranslatable: GatewayError? = nil,
        unavailable: [String: ProviderAvailability] = [:]
    ) -> AttemptSequence {
        var global = GlobalSettings()
        global.retryBackoffMilliseconds = 100
        global.cooldownSeconds = 30
        return AttemptSequence(
            route: ModelRoute(ModelConfig(name: "m", providers: providers)), global: global, preferring: preferring,
            untranslatable: untranslatable, startedAt: Self.now, random: { 0.5 }
        ) { unavailable[$0.name] ?? .available }
    }

    /// The action as a short line, for comparing whole runs.
    func step(_ action: AttemptAction) -> String {
        switch action {
        case .reserve(let slot, let bypassing): "reserve \(slot.name)" + (bypassing ? " despite its open circuit" : "")
        case .send(let slot, let retry): "send \(slot.name) #\(retry)"
        case .backOff(let slot, let failure, let delay, let retry): "back off \(slot.name) after \(failure.kind) \(delay) before #\(retry)"
        case .leave(let slot, let failure, let coolDown):
            "leave \(slot.name) after \(failure.kind)" + (coolDown.map { " cooling \($0.status) until +\(Int($0.until.timeIntervalSince(Self.now)))s" } ?? "")
        case .returnUpstreamAnswer(let slot, let failure): "return \(slot.name)'s \(failure.kind) answer"
        case .fail(let error): "fail \(error.statusCode) \(error.code ?? "")"
        }
    }

    @Test func aServerErrorIsRetriedAfterABackoffThenTheNextProviderServes() {
        var attempts = sequence([provider("a", retry: 2), provider("b", priority: 2)])
        var steps = [step(attempts.next()), step(attempts.reserved())]
        steps.append(step(attempts.failed(.status(500, retryAfter: nil), upstreamAnswered: true, now: Self.now)))
        steps.append(step(attempts.waited()))
        steps.append(step(attempts.failed(.timeout, upstreamAnswered: false, now: Self.now)))
        steps.append(step(attempts.waited()))
        steps.append(step(attempts.failed(.connection("reset"), upstreamAnswered: false, now: Self.now)))
        steps.append(step(attempts.next()))
        steps.append(step(attempts.reserved()))
        #expect(steps == [
            "reserve a", "send a #0",
            "back off a after 500 0.075 seconds before #1", "send a #1",
            "back off a after timeout 0.15 seconds before #2", "send a #2",
            "leave a after connection",  // retries used up: no cooldown, a later request may try it again
            "reserve b", "send b #0",
        ])
        #expect(attempts.attempts.map(\.provider) == ["a", "a", "a"])
    }

    @Test func rateLimitsAndAuthErrorsSwitchAtOnceAndCoolTheProviderDown() {
        var attempts = sequence([provider("a", retry: 3), provider("b", retry: 3), provider("c", priority: 2)])
        _ = attempts.next()
        _ = attempts.reserved()
        let first = step(attempts.failed(.status(429, retryAfter: 7), upstreamAnswered: true, now: Self.now))
        _ = attempts.next()
        _ = attempts.reserved()
        let second = step(attempts.failed(.status(401, retryAfter: nil), upstreamAnswered: true, now: Self.now))
        #expect(first.hasSuffix("cooling 429 until +7s"), "the upstream's Retry-After")
        #expect(second.hasSuffix("cooling 401 until +30s"), "the configured cooldown")
        #expect(step(attempts.next()) == "reserve c")
    }

    @Test func aClientErrorGoesBackToTheClientUnlessThereIsNoAnswerToGive() {
        var attempts = sequence([provider("a", retry: 3), provider("b")])
        _ = attempts.next()
        _ = attempts.reserved()
        #expect(step(attempts.failed(.status(400, retryAfter: nil), upstreamAnswered: true, now: Self.now)) == "return a's 400 answer")

        var unanswered = sequence([provider("a", retry: 3), provider("b")])
        _ = unanswered.next()
        _ = unanswered.reserved()
        #expect(step(unanswered.failed(.status(400, retryAfter: nil), upstreamAnswered: false, now: Self.now)) == "leave a after 400")
    }

    @Test func aPoolKeysRefusalStaysWithinTheProviderAndAClientKeysGoesBackToTheClient() {
        var pool = sequence([provider("a", retry: 0), provider("b")])
        _ = pool.next()
        _ = pool.reserved()
        #expect(step(pool.failed(.status(401, retryAfter: nil), upstreamAnswered: true, keys: .anotherKey, now: Self.now)) == "send a #0")
        #expect(step(pool.failed(.status(429, retryAfter: 9), upstreamAnswered: true, keys: .noKeyLeft, now: Self.now)) == "leave a after 429")

        var own = sequence([provider("a", retry: 3), provider("b")])
        _ = own.next()
        _ = own.reserved()
        #expect(step(own.failed(.status(429, retryAfter: 9), upstreamAnswered: true, keys: .clientKey, now: Self.now)) == "return a's 429 answer")
        var unanswered = sequence([provider("a", retry: 3), provider("b")])
        _ = unanswered.next()
        _ = unanswered.reserved()
        #expect(step(unanswered.failed(.status(401, retryAfter: nil), upstreamAnswered: false, keys: .clientKey, now: Self.now)) == "leave a after 401", "no cooldown")
    }

    @Test func aProviderWhoseQuotaRanOutBeforeTheReservationIsSkippedWithItsReset() {
        let reset = Self.now.addingTimeInterval(3600)
        var attempts = sequence([provider("a")])
        #expect(step(attempts.next()) == "reserve a")
        guard case .fail(let error) = attempts.refused(until: reset) else {
            Issue.record("nothing else to try")
            return
        }
        #expect(error.statusCode == 429 && error.code == "quota_exceeded")
        #expect(error.message.contains("a (quota exhausted, resets in 3600s)"))
        #expect(error.headers.contains(HeaderField("retry-after", "3600")))
    }

    @Test func everyFailureEndsInOneErrorNamingEachAttempt() {
        var attempts = sequence([provider("a"), provider("b")])
        for _ in 0..<2 {
            _ = attempts.next()
            _ = attempts.reserved()
            _ = attempts.failed(.status(503, retryAfter: nil), upstreamAnswered: true, now: Self.now)
        }
        #expect(step(attempts.next()) == "fail 502 all_providers_failed")

        var limited = sequence([provider("a"), provider("b")])
        for _ in 0..<2 {
            _ = limited.next()
            _ = limited.reserved()
            _ = limited.failed(.status(429, retryAfter: 2), upstreamAnswered: true, now: Self.now)
        }
        #expect(step(limited.next()) == "fail 429 rate_limit_exceeded", "only rate limits: the client is told to wait")
    }

    @Test func unavailableProvidersAreNeverReservedAndNamedWhenNothingIsLeft() {
        var attempts = sequence(
            [provider("a"), provider("b")], unavailable: ["a": .coolingDown(until: Self.now.addingTimeInterval(5))]
        )
        #expect(step(attempts.next()) == "reserve b")
        var none = sequence([provider("a")], unavailable: ["a": .coolingDown(until: Self.now.addingTimeInterval(5))])
        guard case .fail(let error) = none.next() else {
            Issue.record("a cooling provider was offered")
            return
        }
        #expect(error.code == "no_available_provider")
        #expect(none.attempts.isEmpty)
    }

    @Test func aRequestOnlyItsOwnDialectCouldServeGetsTheReasonItCannotBeTranslated() {
        let reason = GatewayError(status: 400, type: "invalid_request_error", code: "untranslatable", message: "documents")
        var attempts = sequence(
            [provider("a")], untranslatable: reason, unavailable: ["a": .cannotServe(api: "Anthropic Messages")]
        )
        #expect(step(attempts.next()) == "fail 400 untranslatable")
        // When something else kept a provider out, the usual error says why.
        var cooling = sequence(
            [provider("a"), provider("b")], untranslatable: reason,
            unavailable: ["a": .cannotServe(api: "Anthropic Messages"), "b": .coolingDown(until: Self.now)]
        )
        #expect(step(cooling.next()) == "fail 503 no_available_provider")
    }

    @Test func aSessionsProviderIsOfferedFirstWhateverItsTier() {
        var attempts = sequence([provider("a"), provider("b", priority: 2)], preferring: "b")
        #expect(step(attempts.next()) == "reserve b")
        _ = attempts.reserved()
        _ = attempts.failed(.status(500, retryAfter: nil), upstreamAnswered: true, now: Self.now)
        #expect(step(attempts.next()) == "reserve a", "routing goes on in order, without offering it again")
        _ = attempts.reserved()
        _ = attempts.failed(.status(500, retryAfter: nil), upstreamAnswered: true, now: Self.now)
        #expect(step(attempts.next()) == "fail 502 all_providers_failed")
    }
}

/// How the attempt sequence treats providers whose circuit breaker is open.
@Suite struct AttemptSequenceCircuitTests {
    let base = AttemptSequenceTests()
    var now: Date { AttemptSequenceTests.now }

    @Test func aProviderWhoseCircuitOpenedIsNotRetriedButLeft() {
        var attempts = base.sequence([base.provider("a", retry: 3), base.provider("b")])
        _ = attempts.next()
        _ = attempts.reserved()
        let action = attempts.failed(.timeout, upstreamAnswered: false, circuitOpen: true, now: now)
        #expect(base.step(action) == "leave a after timeout")
        #expect(base.step(attempts.next()) == "reserve b")
    }

    @Test func whenEveryProviderIsOpenTheOneThatClosesFirstIsTriedOnce() {
        var attempts = base.sequence(
            [base.provider("a"), base.provider("b"), base.provider("c")],
            unavailable: [
                "a": .circuitOpen(until: now.addingTimeInterval(20)), "b": .circuitOpen(until: now.addingTimeInterval(5)),
                "c": .circuitOpen(until: nil),
            ]
        )
        #expect(base.step(attempts.next()) == "reserve b despite its open circuit")
        #expect(base.step(attempts.reserved()) == "send b #0")
        #expect(base.step(attempts.failed(.status(502, retryAfter: nil), upstreamAnswered: true, circuitOpen: true, now: now)) == "leave b after 502")
        #expect(base.step(attempts.next()) == "fail 502 all_providers_failed", "one try despite open circuits, not one each")
    }

    @Test func openCircuitsAreBypassedButQuotasAndCooldownsAreNot() {
        var mixed = base.sequence(
            [base.provider("a"), base.provider("b")],
            unavailable: ["a": .overQuota(until: nil), "b": .circuitOpen(until: now.addingTimeInterval(5))]
        )
        #expect(base.step(mixed.next()) == "reserve b despite its open circuit")
        var cooling = base.sequence([base.provider("a")], unavailable: ["a": .coolingDown(until: now.addingTimeInterval(5))])
        #expect(base.step(cooling.next()) == "fail 503 no_available_provider")
    }

    @Test func aProviderTheBreakerRefusesAtReservationIsSkipped() {
        var attempts = base.sequence([base.provider("a"), base.provider("b", priority: 2)])
        #expect(base.step(attempts.next()) == "reserve a")
        #expect(base.step(attempts.circuitRefused(until: nil)) == "reserve b")
    }

    @Test func a503WithRetryAfterCoolsTheProviderDownAndSwitchesAtOnce() {
        var attempts = base.sequence([base.provider("a", retry: 3), base.provider("b")])
        _ = attempts.next()
        _ = attempts.reserved()
        #expect(base.step(attempts.failed(.status(503, retryAfter: 7), upstreamAnswered: true, now: now)) == "leave a after 503 cooling 503 until +7s")
        var plain = base.sequence([base.provider("a", retry: 3)])
        _ = plain.next()
        _ = plain.reserved()
        #expect(base.step(plain.failed(.status(503, retryAfter: nil), upstreamAnswered: true, now: now)).hasPrefix("back off a after 503"))
    }
}
