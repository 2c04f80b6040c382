import Foundation
import NIOCore
import NIOConcurrencyHelpers
import Testing
@testable import SwitchyardCore

/// Small conversions shared by the SwitchyardCore tests.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

func byteArray(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

/// Parses JSON bytes into a dictionary (for checking generated JSON, never for byte-exactness checks).
func jsonObject(_ bytes: [UInt8]) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
}

func jsonObject(_ text: String) -> [String: Any]? { jsonObject(Array(text.utf8)) }

/// Compares two JSON-compatible values structurally.
func jsonEqual(_ lhs: Any?, _ rhs: Any?) -> Bool {
    switch (lhs, rhs) {
    case (nil, nil): return true
    case (let lhs?, let rhs?):
        guard let left = canonicalJSON(lhs), let right = canonicalJSON(rhs) else { return false }
        return left == right
    default: return false
    }
}

/// The value written as JSON with sorted keys (wrapped in an array so scalars are allowed).
func canonicalJSON(_ value: Any) -> Data? {
    try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])
}

/// A deterministic pseudo-random generator (SplitMix64) so "random" chunkings are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A UTC date from its parts.
func utcDate(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0) -> Date {
    date(in: TimeZone(identifier: "UTC")!, year, month, day, hour, minute, second)
}

func date(in zone: TimeZone, _ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0)
    -> Date
{
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = zone
    return calendar.date(
        from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    )!
}

/// ISO-8601 text of a date in UTC, e.g. `2026-03-08T07:30:00Z`, for readable failure messages.
func iso(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
}

/// A clock the tests move by hand; nothing under test sleeps on it.
final class ManualClock: GatewayClock {
    private let current: NIOLockedValueBox<Date>

    init(_ start: Date) { current = NIOLockedValueBox(start) }

    func now() -> Date { current.withLockedValue { $0 } }

    func advance(by seconds: TimeInterval) { current.withLockedValue { $0 += seconds } }

    func sleep(until deadline: Date) async throws {}
}

/// Each `event: <name>` / `data: <json>` event of SSE buffers (a buffer may hold several) as its name and parsed data,
/// checking the framing and that the data's `type` is the event's name.
func events(_ buffers: [ByteBuffer]) throws -> [(name: String, data: JSONObject)] {
    try buffers.flatMap { buffer in
        let raw = text(buffer)
        #expect(raw.hasSuffix("\n\n"))
        return try raw.split(separator: "\n\n").map { event in
            let lines = event.split(separator: "\n", omittingEmptySubsequences: false)
            try #require(lines.count == 2)
            try #require(lines[0].hasPrefix("event: ") && lines[1].hasPrefix("data: "))
            let name = String(lines[0].dropFirst("event: ".count))
            let data = try #require(jsonObject(String(lines[1].dropFirst("data: ".count))))
            #expect(data["type"] as? String == name, "the data's type matches the event name")
            return (name, data)
        }
    }
}

/// The error a step throws, or nil when it succeeds.
func gatewayError(_ step: () throws(GatewayError) -> Void) -> GatewayError? {
    do throws(GatewayError) {
        try step()
        return nil
    } catch {
        return error
    }
}
