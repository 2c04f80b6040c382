import Foundation
import Testing
@testable import SwitchyardCore

@Suite("Session affinity") struct SessionAffinityTests {
    let start = utcDate(2026, 3, 1, 12)

    @Test("a recorded session finds its provider again; an unknown one finds none")
    func recordAndLookUp() {
        let affinity = SessionAffinity(clock: ManualClock(start))
        #expect(affinity.provider(session: "sess_1", model: "gpt-4o") == nil)
        affinity.record(session: "sess_1", model: "gpt-4o", provider: "openai-main")
        #expect(affinity.provider(session: "sess_1", model: "gpt-4o") == "openai-main")
        #expect(affinity.provider(session: "sess_2", model: "gpt-4o") == nil)
        affinity.record(session: "sess_1", model: "gpt-4o", provider: "azure-backup")
        #expect(affinity.provider(session: "sess_1", model: "gpt-4o") == "azure-backup")
    }

    @Test("each model of a session has its own provider")
    func modelsAreSeparate() {
        let affinity = SessionAffinity(clock: ManualClock(start))
        affinity.record(session: "sess_1", model: "gpt-4o", provider: "openai-main")
        affinity.record(session: "sess_1", model: "claude-sonnet", provider: "anthropic-main")
        #expect(affinity.provider(session: "sess_1", model: "gpt-4o") == "openai-main")
        #expect(affinity.provider(session: "sess_1", model: "claude-sonnet") == "anthropic-main")
        #expect(affinity.provider(session: "sess_1", model: "gemini-pro") == nil)
    }

    @Test("a session is forgotten once it is as old as the time to live; recording refreshes it")
    func timeToLive() {
        let clock = ManualClock(start)
        let affinity = SessionAffinity(timeToLive: 60, clock: clock)
        affinity.record(session: "sess_1", model: "gpt-4o", provider: "openai-main")
        affinity.record(session: "sess_2", model: "gpt-4o", provider: "openai-main")
        clock.advance(by: 59)
        affinity.record(session: "sess_2", model: "gpt-4o", provider: "openai-main")
        #expect(affinity.provider(session: "sess_1", model: "gpt-4o") == "openai-main")
        clock.advance(by: 1)
        #expect(affinity.provider(session: "sess_1", model: "gpt-4o") == nil)
        #expect(affinity.provider(session: "sess_2", model: "gpt-4o") == "openai-main")
        clock.advance(by: 59)
        #expect(affinity.provider(session: "sess_2", model: "gpt-4o") == nil)
    }

    @Test("a shorter time to live from a reload applies to sessions already recorded")
    func applyTimeToLive() {
        let clock = ManualClock(start)
        let affinity = SessionAffinity(timeToLive: 3600, clock: clock)
        affinity.record(session: "sess_1", model: "gpt-4o", provider: "openai-main")
        clock.advance(by: 120)
        #expect(affinity.provider(session: "sess_1", model: "gpt-4o") == "openai-main")
        affinity.apply(timeToLive: 60)
        #expect(affinity.provider(session: "sess_1", model: "gpt-4o") == nil)
    }

    @Test("over the maximum the least recently recorded session goes")
    func leastRecentlyRecordedGoes() {
        let clock = ManualClock(start)
        let affinity = SessionAffinity(maximumSessions: 3, clock: clock)
        for session in ["sess_a", "sess_b", "sess_c"] {
            affinity.record(session: session, model: "gpt-4o", provider: "openai-main")
            clock.advance(by: 1)
        }
        affinity.record(session: "sess_a", model: "gpt-4o", provider: "openai-main")
        affinity.record(session: "sess_d", model: "gpt-4o", provider: "openai-main")
        let live = ["sess_a", "sess_b", "sess_c", "sess_d"].map { affinity.provider(session: $0, model: "gpt-4o") != nil }
        #expect(live == [true, false, true, true])
        #expect(affinity.counts() == ["gpt-4o": ["openai-main": 3]])
    }

    @Test("many sessions through a small table keep exactly the newest")
    func churn() {
        let clock = ManualClock(start)
        let affinity = SessionAffinity(maximumSessions: 100, timeToLive: 50, clock: clock)
        for index in 0..<1_000 {
            affinity.record(session: "sess_\(index % 250)", model: "m\(index % 2)", provider: "p\(index % 3)")
            clock.advance(by: 0.1)
        }
        // 50 seconds is 500 records, more than the 100 kept: the count bound is the one that holds.
        #expect(affinity.counts().values.flatMap(\.values).reduce(0, +) == 100)
        #expect((900..<1_000).allSatisfy { affinity.provider(session: "sess_\($0 % 250)", model: "m\($0 % 2)") == "p\($0 % 3)" })
        #expect(affinity.provider(session: "sess_\(899 % 250)", model: "m1") == nil)
    }

    @Test("counts are live sessions per model and provider")
    func counts() {
        let clock = ManualClock(start)
        let affinity = SessionAffinity(timeToLive: 60, clock: clock)
        affinity.record(session: "sess_old", model: "gpt-4o", provider: "azure-backup")
        clock.advance(by: 30)
        affinity.record(session: "sess_1", model: "gpt-4o", provider: "openai-main")
        affinity.record(session: "sess_2", model: "gpt-4o", provider: "openai-main")
        affinity.record(session: "sess_3", model: "gpt-4o", provider: "azure-backup")
        affinity.record(session: "sess_1", model: "claude-sonnet", provider: "anthropic-main")
        #expect(affinity.counts() == [
            "gpt-4o": ["openai-main": 2, "azure-backup": 2], "claude-sonnet": ["anthropic-main": 1],
        ])
        clock.advance(by: 30)
        #expect(affinity.counts() == ["gpt-4o": ["openai-main": 2, "azure-backup": 1], "claude-sonnet": ["anthropic-main": 1]])
        clock.advance(by: 30)
        #expect(affinity.counts().isEmpty)
    }

    @Test("session ids that are empty or longer than 256 bytes are no session")
    func sessionIDLength() {
        let affinity = SessionAffinity(clock: ManualClock(start))
        let longest = String(repeating: "s", count: SessionAffinity.maximumSessionIDBytes)
        let tooLong = String(repeating: "é", count: 129)
        for session in [longest, tooLong, ""] { affinity.record(session: session, model: "gpt-4o", provider: "openai-main") }
        #expect(affinity.provider(session: longest, model: "gpt-4o") == "openai-main")
        #expect(affinity.provider(session: tooLong, model: "gpt-4o") == nil)
        #expect(affinity.provider(session: "", model: "gpt-4o") == nil)
        #expect(affinity.counts() == ["gpt-4o": ["openai-main": 1]])
    }
}
