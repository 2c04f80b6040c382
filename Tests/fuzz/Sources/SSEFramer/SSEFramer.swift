// SSEFramer fuzzes the SSE event framer and the reading of an event's data. The input's first byte seeds a chunking,
// the second sets the event size limit (0: none), the rest is the upstream byte stream, framed whole, one byte at a
// time and in seeded random chunks. Invariants: the events and the held bytes always add up to the stream,
// byte-exact; every framing yields the same events and throws the too-large error or none does (for a stream that
// mixes bare CR with CRLF the framer cannot tell a CRLF split at its CR without waiting, so there only the bytes,
// not the cut points, must agree), and always the same data fields; each event of the whole framing ends at
// its first blank line; and `SSEEvent.data` reads each event as the SSE specification does (data lines joined by
// LF, one leading space dropped).
import Foundation
import NIOCore
@testable import SwitchyardCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSSEFramer(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    var generator = SplitMix(state: UInt64(input.byte()))
    let limitByte = Int(input.byte())
    let limit = limitByte == 0 ? Int.max : limitByte * 8
    let stream = input.rest()

    var randomCuts: [Int] = []
    var cut = 0
    while cut < stream.count {
        cut += Int.random(in: 1...max(1, stream.count / 3 + 1), using: &generator)
        randomCuts.append(min(cut, stream.count))
    }
    let whole = frame(stream, cuts: [stream.count], limit: limit)
    var framings = [whole, frame(stream, cuts: randomCuts, limit: limit)]
    // Byte by byte re-copies the held bytes on every append: quadratic, so only for streams of a few KB.
    if stream.count <= 4096 {
        framings.append(frame(stream, cuts: Array(stride(from: 1, through: stream.count, by: 1)), limit: limit))
    }
    let mixed = mixesBareCRWithCRLF(stream)
    for framing in framings {
        // Where the cut points may differ, so may an event's length, by the LF of a CRLF.
        check(mixed || framing.tooLarge == whole.tooLarge, "one chunking hit the size limit, another did not")
        guard !framing.tooLarge, !whole.tooLarge else { continue }
        check(framing.events.joined() + stream.suffix(framing.pending) == stream, "events and held bytes are not the stream")
        check(framing.events.compactMap(data) == whole.events.compactMap(data), "the data fields depend on the chunking")
        if !mixed { check(framing.events == whole.events, "the events depend on the chunking") }
    }
    guard !whole.tooLarge else { return 0 }
    for event in whole.events {
        check(event.count <= limit, "an event over the limit was returned")
        let lines = sseLines(event)
        check(lines.last?.isEmpty == true && lines.dropLast().allSatisfy { !$0.isEmpty }, "an event does not end at its first blank line: \(preview(event))")
        check(data(event) == referenceData(lines), "SSEEvent.data misreads \(preview(event))")
    }
    return 0
}

/// The events one framer returns for `stream` cut at `cuts` (increasing offsets), and how many bytes it holds.
private func frame(_ stream: [UInt8], cuts: [Int], limit: Int) -> (events: [[UInt8]], pending: Int, tooLarge: Bool) {
    var framer = SSEEventFramer(maximumEventBytes: limit)
    var events: [[UInt8]] = []
    var position = 0
    for cut in cuts where cut > position {
        do {
            events += try framer.append(ByteBuffer(bytes: stream[position..<cut])).map { Array($0.readableBytesView) }
        } catch {
            return (events, 0, true)
        }
        position = cut
    }
    return (events, framer.pendingByteCount, false)
}

private func data(_ event: [UInt8]) -> [UInt8]? {
    SSEEvent.data(of: ByteBuffer(bytes: event)).map { Array($0.readableBytesView) }
}

/// The data field as the SSE specification defines it, from an event's lines.
private func referenceData(_ lines: [ArraySlice<UInt8>]) -> [UInt8]? {
    var values: [ArraySlice<UInt8>] = []
    for line in lines {
        if line.elementsEqual("data".utf8) {
            values.append([])
        } else if line.starts(with: "data:".utf8) {
            let value = line.dropFirst(5)
            values.append(value.first == UInt8(ascii: " ") ? value.dropFirst() : value)
        }
    }
    return values.isEmpty ? nil : Array(values.joined(separator: [0x0A]))
}

/// Whether the stream ends some line with a bare CR and another with CRLF.
private func mixesBareCRWithCRLF(_ stream: [UInt8]) -> Bool {
    let carriageReturns = stream.indices.filter { stream[$0] == 0x0D }
    let followedByLF = carriageReturns.filter { $0 + 1 < stream.count && stream[$0 + 1] == 0x0A }
    return !followedByLF.isEmpty && followedByLF.count < carriageReturns.count
}
