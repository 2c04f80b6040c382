import Foundation
import NIOCore

/// Splits an upstream byte stream into complete server-sent events, byte-exact.
///
/// An event ends with a blank line; lines may end with LF, CRLF or CR (the SSE grammar). Each returned event
/// holds its original bytes including the blank line, so relaying every event reproduces the stream exactly.
/// Bytes of an event that has not ended yet are held until it does: a relay built on this never forwards half an
/// event, so a stream that breaks can still be ended with a well-formed error event. What is held is bounded:
/// an event longer than `maximumEventBytes` is an error, so an upstream that never ends an event cannot make the
/// gateway buffer without limit.
public struct SSEEventFramer: Sendable {
    public let maximumEventBytes: Int
    private var pending = ByteBuffer()
    private var atLineStart = true
    private var afterCR = false
    /// A CR ending a blank line was the last byte received: the next byte tells whether an LF completes it.
    private var heldCR = false
    /// The stream has used a bare CR (not part of a CRLF) as a line end, so a final CR need not wait for an LF.
    private var sawBareCR = false
    /// The last chunk ended with a blank line's CR, which ended an event at once (`sawBareCR`): an LF first in the
    /// next chunk is that CRLF's second half and becomes an event of its own, so the next event still starts at a
    /// line start (one starting with a stray LF would hide its data).
    private var endedEventAtCR = false

    public init(maximumEventBytes: Int = .max) {
        self.maximumEventBytes = maximumEventBytes
    }

    /// Bytes received that do not yet form a complete event.
    public var pendingByteCount: Int { pending.readableBytes }

    /// Adds `chunk` and returns the events it completes, in order; throws when an event (complete or not) is longer
    /// than `maximumEventBytes`.
    public mutating func append(_ chunk: ByteBuffer) throws(SSEEventTooLarge) -> [ByteBuffer] {
        var buffer: ByteBuffer
        let scanFrom: Int
        if pending.readableBytes == 0 {
            buffer = chunk
            scanFrom = 0
        } else {
            scanFrom = pending.readableBytes
            pending.writeImmutableBuffer(chunk)
            buffer = pending
        }
        var boundaries: [Int] = []
        buffer.withUnsafeReadableBytes { bytes in
            var index = scanFrom
            if !heldCR, !afterCR, let base = bytes.baseAddress,
                memchr(base + scanFrom, 0x0D, bytes.count - scanFrom) == nil
            {
                // The usual LF-only stream: jump from line end to line end.
                while index < bytes.count {
                    guard let found = memchr(base + index, 0x0A, bytes.count - index) else {
                        atLineStart = false
                        break
                    }
                    let lineFeed = base.distance(to: UnsafeRawPointer(found))
                    if lineFeed > index { atLineStart = false }
                    if atLineStart { boundaries.append(lineFeed + 1) } else { atLineStart = true }
                    index = lineFeed + 1
                }
                return
            }
            while index < bytes.count {
                let byte = bytes[index]
                let lineFeedEndsEvent = endedEventAtCR
                endedEventAtCR = false
                if heldCR {
                    heldCR = false
                    afterCR = false
                    if byte == 0x0A {  // the held blank line was a CRLF: the event ends after the LF
                        boundaries.append(index + 1)
                        index += 1
                        continue
                    }
                    sawBareCR = true
                    boundaries.append(index)  // the held CR ended the event
                }
                if afterCR && byte != 0x0A { sawBareCR = true }
                if byte == 0x0A {  // LF
                    if afterCR {
                        afterCR = false  // second half of a CRLF already counted at the CR
                        if lineFeedEndsEvent { boundaries.append(index + 1) }
                    } else if atLineStart {
                        boundaries.append(index + 1)
                    } else {
                        atLineStart = true
                    }
                } else if byte == 0x0D {  // CR
                    if atLineStart {
                        if index + 1 < bytes.count {
                            if bytes[index + 1] == 0x0A {
                                index += 1
                                afterCR = false
                            } else {
                                afterCR = true
                            }
                            boundaries.append(index + 1)
                        } else if sawBareCR {
                            afterCR = true
                            endedEventAtCR = true
                            boundaries.append(index + 1)
                        } else {
                            // Wait for the next byte so that a CRLF is never split between two events, whatever
                            // the chunking (an event starting with a stray LF would hide its data).
                            heldCR = true
                        }
                    } else {
                        atLineStart = true
                        afterCR = true
                    }
                } else {
                    atLineStart = false
                    afterCR = false
                }
                index += 1
            }
        }
        guard let last = boundaries.last else {
            if scanFrom == 0 { pending = chunk }
            if pending.readableBytes > maximumEventBytes { throw SSEEventTooLarge(limit: maximumEventBytes) }
            return []
        }
        var events: [ByteBuffer] = []
        events.reserveCapacity(boundaries.count)
        var start = 0
        for end in boundaries {
            if end - start > maximumEventBytes { throw SSEEventTooLarge(limit: maximumEventBytes) }
            events.append(buffer.getSlice(at: buffer.readerIndex + start, length: end - start)!)
            start = end
        }
        buffer.moveReaderIndex(forwardBy: last)
        pending = buffer.readableBytes == 0 ? ByteBuffer() : buffer
        if pending.readableBytes > maximumEventBytes { throw SSEEventTooLarge(limit: maximumEventBytes) }
        return events
    }
}

/// An upstream event longer than the framer's limit.
public struct SSEEventTooLarge: Error, Sendable, Equatable {
    public var limit: Int
}

/// Reading the fields of one raw event.
public enum SSEEvent {
    /// The event's `data` field: its `data:` lines joined with LF (one leading space stripped from each), or nil
    /// when it has none (comments, keep-alives, blank events).
    public static func data(of event: ByteBuffer) -> ByteBuffer? {
        event.withUnsafeReadableBytes { bytes -> ByteBuffer? in
            // The usual event, one `data:` line ending in LF LF: slice it without walking the lines.
            let count = bytes.count
            if count >= 7, let base = bytes.baseAddress, bytes[count - 1] == 0x0A, bytes[count - 2] == 0x0A,
                memcmp(base, "data:", 5) == 0
            {
                let valueStart = bytes[5] == UInt8(ascii: " ") ? 6 : 5
                if let found = memchr(base + valueStart, 0x0A, count - valueStart),
                    base.distance(to: UnsafeRawPointer(found)) == count - 2,
                    memchr(base + valueStart, 0x0D, count - 2 - valueStart) == nil
                {
                    return event.getSlice(at: event.readerIndex + valueStart, length: count - 2 - valueStart)
                }
            }
            var result: ByteBuffer?
            var lineStart = 0
            var index: Int
            while lineStart < bytes.count {
                // Find the end of this line.
                index = lineStart
                while index < bytes.count, bytes[index] != 0x0A, bytes[index] != 0x0D { index += 1 }
                let lineEnd = index
                if lineEnd == lineStart { break }  // the blank line that ends the event
                if lineEnd - lineStart >= 5, bytes[lineStart] == UInt8(ascii: "d"), bytes[lineStart + 1] == UInt8(ascii: "a"),
                    bytes[lineStart + 2] == UInt8(ascii: "t"), bytes[lineStart + 3] == UInt8(ascii: "a"),
                    bytes[lineStart + 4] == UInt8(ascii: ":")
                {
                    var valueStart = lineStart + 5
                    if valueStart < lineEnd, bytes[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
                    if result == nil {
                        result = event.getSlice(at: event.readerIndex + valueStart, length: lineEnd - valueStart)
                    } else {
                        result!.writeInteger(UInt8(0x0A))
                        result!.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[valueStart..<lineEnd]))
                    }
                } else if lineEnd - lineStart == 4, bytes[lineStart] == UInt8(ascii: "d"),
                    bytes[lineStart + 1] == UInt8(ascii: "a"), bytes[lineStart + 2] == UInt8(ascii: "t"),
                    bytes[lineStart + 3] == UInt8(ascii: "a")
                {
                    // A bare "data" line is a data field with an empty value.
                    if result == nil { result = ByteBuffer() } else { result!.writeInteger(UInt8(0x0A)) }
                }
                // Skip the line terminator (CRLF counts once).
                if index < bytes.count, bytes[index] == 0x0D { index += 1 }
                if index < bytes.count, bytes[index] == 0x0A { index += 1 }
                lineStart = index
            }
            return result
        }
    }

    /// True for the OpenAI end marker `data: [DONE]`.
    public static func isDone(data: ByteBuffer) -> Bool {
        data.readableBytesView.elementsEqual("[DONE]".utf8)
    }

    /// A complete event carrying `data`.
    public static func encode(data: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(data.count + 8)
        buffer.writeString("data: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }

    public static let done = ByteBuffer(string: "data: [DONE]\n\n")
}
