import Foundation
import Testing
@testable import SwitchyardCore

/// The circuit breaker as a pure state machine on an injected clock.
@Suite struct CircuitBreakerTests {
    let start = utcDate(2026, 12, 3, 12)
    let config = CircuitBreakerConfig()

    func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    func failing(_ breaker: inout CircuitBreaker, times: Int, timeout: Bool = false, at time: Double = 0) -> [CircuitBreaker.Transition?] {
        (0..<times).map { _ in breaker.record(.failure(timeout: timeout), probe: false, now: at(time), config: config) }
    }

    @Test func itOpensAfterTheConsecutiveFailureThresholdAndASuccessStartsTheCountAgain() {
        var breaker = CircuitBreaker()
        #expect(failing(&breaker, times: 4).allSatisfy { $0 == nil })
        #expect(breaker.record(.success, probe: false, now: at(0), config: config) == nil)
        #expect(failing(&breaker, times: 4).allSatisfy { $0 == nil })
        #expect(breaker.state == .closed)
        let opened = breaker.record(.failure(timeout: false), probe: false, now: at(1), config: config)
        #expect(opened == .opened(until: at(31), reason: "5 consecutive failures"))
        #expect(breaker.refusal(now: at(30), config: config) == .refused(until: at(31)))
        #expect(breaker.admit(now: at(30), bypassing: false, config: config).0 == .refused(until: at(31)))
    }

    @Test func oneTimeoutOpensItUnlessTimeoutsAreLeftToTheFailureThreshold() {
        var breaker = CircuitBreaker()
        #expect(failing(&breaker, times: 1, timeout: true) == [.opened(until: at(30), reason: "a timeout")])
        var patient = CircuitBreaker()
        var lenient = config
        lenient.timeoutThreshold = 0
        for _ in 0..<4 { #expect(patient.record(.failure(timeout: true), probe: false, now: at(0), config: lenient) == nil) }
        #expect(patient.record(.failure(timeout: true), probe: false, now: at(0), config: lenient) == .opened(until: at(30), reason: "5 consecutive failures"))
    }

    @Test func afterTheOpenPeriodExactlyOneProbeIsLetThroughAndItsSuccessClosesTheCircuit() {
        var breaker = CircuitBreaker()
        _ = failing(&breaker, times: 5)
        #expect(breaker.refusal(now: at(30), config: config) == nil, "due: routing may pick it")
        let (first, transition) = breaker.admit(now: at(30), bypassing: false, config: config)
        #expect(first == .probe)
        #expect(transition == .halfOpened)
        #expect(breaker.admit(now: at(30), bypassing: false, config: config).0 == .refused(until: nil), "one probe at a time")
        #expect(breaker.refusal(now: at(30), config: config) == .refused(until: nil))
        #expect(breaker.record(.success, probe: true, now: at(31), config: config) == .closed)
        #expect(breaker.state == .closed)
        #expect(breaker.admit(now: at(31), bypassing: false, config: config).0 == .admitted)
    }

    @Test func aFailedProbeOpensItAgainForTwiceAsLongUpToTheCap() {
        var breaker = CircuitBreaker()
        var capped = config
        capped.maxOpenSeconds = 100
        _ = (0..<5).map { _ in breaker.record(.failure(timeout: false), probe: false, now: at(0), config: capped) }
        var time = 30.0
        var periods: [Double] = []
        for _ in 0..<4 {
            #expect(breaker.admit(now: at(time), bypassing: false, config: capped).0 == .probe)
            guard case .opened(let until, let reason) = breaker.record(.failure(timeout: false), probe: true, now: at(time), config: capped) else {
                Issue.record("a failed probe did not re-open the circuit")
                return
            }
            #expect(reason == "the probe failed")
            periods.append(until.timeIntervalSince(at(time)))
            time = until.timeIntervalSince(start)
        }
        #expect(periods == [60, 100, 100, 100])
        #expect(breaker.admit(now: at(time), bypassing: false, config: capped).0 == .probe)
        #expect(breaker.record(.success, probe: true, now: at(time), config: capped) == .closed)
        _ = (0..<5).map { _ in breaker.record(.failure(timeout: false), probe: false, now: at(time), config: capped) }
        #expect(breaker.state == .open(until: at(time + 30)), "closing starts the doubling again")
    }

    @Test func anAbandonedProbeGivesItsTurnBack() {
        var breaker = CircuitBreaker()
        _ = failing(&breaker, times: 1, timeout: true)
        #expect(breaker.admit(now: at(30), bypassing: false, config: config).0 == .probe)
        #expect(breaker.record(.abandoned, probe: true, now: at(31), config: config) == nil)
        #expect(breaker.admit(now: at(31), bypassing: false, config: config).0 == .probe)
    }

    @Test func anAttemptLetThroughAnOpenCircuitClosesItOnSuccessAndLeavesItOnFailure() {
        var breaker = CircuitBreaker()
        _ = failing(&breaker, times: 5)
        #expect(breaker.admit(now: at(1), bypassing: true, config: config).0 == .admitted)
        #expect(breaker.record(.failure(timeout: false), probe: false, now: at(1), config: config) == nil)
        #expect(breaker.state == .open(until: at(30)))
        #expect(breaker.record(.success, probe: false, now: at(2), config: config) == .closed)
    }

    @Test func theErrorRateOpensItOnceEnoughRequestsWereSeenInTheWindow() {
        var rated = config
        rated.failureThreshold = 0
        rated.errorRate = 0.5
        rated.minRequests = 10
        rated.windowSeconds = 10
        var breaker = CircuitBreaker()
        // Old failures leave the window: 4 at t=0 do not count at t=20.
        for _ in 0..<4 { _ = breaker.record(.failure(timeout: false), probe: false, now: at(0), config: rated) }
        for second in 0..<4 {
            #expect(breaker.record(.success, probe: false, now: at(20 + Double(second)), config: rated) == nil)
            #expect(breaker.record(.failure(timeout: false), probe: false, now: at(20 + Double(second)), config: rated) == nil)
        }
        #expect(breaker.record(.success, probe: false, now: at(24), config: rated) == nil)
        #expect(breaker.state == .closed, "9 requests seen in the window, below min_requests")
        let opened = breaker.record(.failure(timeout: false), probe: false, now: at(25), config: rated)
        #expect(opened == .opened(until: at(55), reason: "50% of 10 requests failed in 10 s"))
    }

    @Test func aDisabledBreakerLetsEverythingThroughAndForgetsItsState() {
        var breaker = CircuitBreaker()
        _ = failing(&breaker, times: 5)
        var off = config
        off.enabled = false
        #expect(breaker.refusal(now: at(1), config: off) == nil)
        let (admission, transition) = breaker.admit(now: at(1), bypassing: false, config: off)
        #expect(admission == .admitted)
        #expect(transition == .closed)
        for _ in 0..<10 { #expect(breaker.record(.failure(timeout: true), probe: false, now: at(1), config: off) == nil) }
    }

    @Test func clientErrorsTellTheBreakerTheProviderIsUp() {
        #expect(AttemptFailure.status(400, retryAfter: nil).breakerOutcome == .success)
        #expect(AttemptFailure.status(429, retryAfter: 3).breakerOutcome == .success)
        #expect(AttemptFailure.status(401, retryAfter: nil).breakerOutcome == .success)
        #expect(AttemptFailure.status(503, retryAfter: nil).breakerOutcome == .failure(timeout: false))
        #expect(AttemptFailure.status(408, retryAfter: nil).breakerOutcome == .failure(timeout: false))
        #expect(AttemptFailure.timeout.breakerOutcome == .failure(timeout: true))
        #expect(AttemptFailure.connection("refused").breakerOutcome == .failure(timeout: false))
        #expect(AttemptFailure.invalidResponse("html").breakerOutcome == .failure(timeout: false))
    }
}
