import Foundation
import Testing

@testable import SwitchyardCore

@Suite("Event ring and queries")
struct EventRingTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func event(_ index: Int, _ action: GatewayEvent.Action = .keySelected, model: String = "m", provider: String = "a")
        -> GatewayEvent
    {
        GatewayEvent(time: start.addingTimeInterval(Double(index)), action: action, model: model, provider: provider, detail: "\(index)")
    }

    @Test func aFullRingKeepsTheNewestAndListsThemNewestFirst() {
        var ring = EventRing(capacity: 3)
        #expect(ring.newest(matching: EventQuery()).isEmpty)
        for index in 0..<2 { ring.append(Self.event(index)) }
        #expect(ring.newest(matching: EventQuery()).map(\.detail) == ["1", "0"])
        for index in 2..<7 { ring.append(Self.event(index)) }
        #expect(ring.count == 3)
        #expect(ring.newest(matching: EventQuery()).map(\.detail) == ["6", "5", "4"])
        #expect(ring.newest(matching: EventQuery(limit: 2)).map(\.detail) == ["6", "5"])
    }

    @Test func everyFilterNarrowsAndTheyCombine() {
        var ring = EventRing(capacity: 10)
        ring.append(Self.event(0, .keyUnselected, model: "m", provider: "a"))
        ring.append(Self.event(1, .keySelected, model: "m", provider: "b"))
        ring.append(Self.event(2, .providerCooldown, model: "q", provider: "a"))
        ring.append(GatewayEvent(time: Self.start.addingTimeInterval(3), action: .configReloaded))
        func details(_ query: EventQuery) -> [String?] { ring.newest(matching: query).map(\.detail) }
        #expect(details(EventQuery(model: "m")) == ["1", "0"])
        #expect(details(EventQuery(provider: "a")) == ["2", "0"])
        #expect(details(EventQuery(model: "m", provider: "a")) == ["0"])
        #expect(details(EventQuery(action: .providerCooldown)) == ["2"])
        #expect(details(EventQuery(since: Self.start.addingTimeInterval(2))) == [nil, "2"])
        #expect(details(EventQuery(model: "none")).isEmpty)
    }

    @Test func queryParametersAreCheckedWhereTheyEnter() throws {
        let query = try EventQuery(
            parameters: ["limit": "5", "model": "m", "provider": "a", "action": "quota_reset", "since": "2026-12-04T10:00:00Z"],
            maximumLimit: 100
        )
        #expect(query.limit == 5 && query.model == "m" && query.provider == "a" && query.action == .quotaReset)
        #expect(query.since == ISO8601DateFormatter().date(from: "2026-12-04T10:00:00Z"))
        #expect(try EventQuery(parameters: ["since": "1800000000.5"], maximumLimit: 1).since == Date(timeIntervalSince1970: 1_800_000_000.5))
        #expect(try EventQuery(parameters: ["since": "2026-12-04T10:00:00.250Z"], maximumLimit: 1).since != nil)
        #expect(try EventQuery(parameters: [:], maximumLimit: 100).limit == EventQuery.defaultLimit)
        for (name, value) in [
            ("limit", "0"), ("limit", "101"), ("limit", "-1"), ("limit", "1e3"), ("action", "KEY"), ("since", "soon"),
            ("since", "-5"), ("since", "1e300"), ("since", "nan"),
        ] {
            #expect(throws: GatewayError.self, "\(name)=\(value)") { try EventQuery(parameters: [name: value], maximumLimit: 100) }
        }
    }
}
