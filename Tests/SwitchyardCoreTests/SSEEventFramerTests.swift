import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// Splitting an upstream byte stream into whole SSE events, byte-exact, however the bytes arrive.
@Suite struct SSEEventFramerTests {
    /// Feeds `stream` in pieces cut at `cuts` (sorted offsets) and returns the events as text.
    func frame(_ stream: [UInt8], cuts: [Int]) -> (events: [String], pending: Int) {
        var framer = SSEEventFramer()
        var events: [String] = []
        var start = 0
        for cut in cuts + [stream.count] where cut >= start {
            events += framer.feed(ByteBuffer(bytes: stream[start..<cut])).map { text($0) }
            start = cut
        }
        return (events, framer.pendingByteCount)
    }

    func frame(_ stream: String) -> [String] { frame(bytes(stream), cuts: []).events }

    static let lfStream = """
        : keep-alive

        event: message
        data: {"id":"1","choices":[{"delta":{"content":"Hel"}}]}

        data: {"id":"1","choices":[{"delta":{"content":"lo\\n\\nworld"}}]}


        id: 7
        retry: 1000
        data: line one
        data: line two

        data: [DONE]


        """

    static var crlfStream: String { lfStream.replacingOccurrences(of: "\n", with: "\r\n") }
    static var crStream: String { lfStream.replacingOccurrences(of: "\n", with: "\r") }
    /// Every terminator style in one stream (allowed by the SSE grammar).
    static let mixedStream = "data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\r\n\ndata: e\n\r\n: c\r\r\n\ndata: [DONE]\r\n\r\n"
    /// LF and CRLF mixed, as when a proxy adds LF-only keep-alives to a CRLF stream.
    static let lfAndCRLFStream = "data: a\r\n\r\n: ping\n\ndata: b\ndata: c\r\n\r\ndata: d\r\n\n\r\ndata: e\n\r\ndata: [DONE]\r\n\r\n"

    // MARK: Boundaries

    @Test func eventsEndAtABlankLineWithLF() {
        #expect(frame("data: a\n\ndata: b\n\n") == ["data: a\n\n", "data: b\n\n"])
    }

    @Test func eventsEndAtABlankLineWithCRLF() {
        #expect(frame("data: a\r\n\r\ndata: b\r\n\r\n") == ["data: a\r\n\r\n", "data: b\r\n\r\n"])
    }

    @Test func eventsEndAtABlankLineWithCR() {
        #expect(frame("data: a\r\rdata: b\r\r") == ["data: a\r\r", "data: b\r\r"])
    }

    @Test func mixedTerminatorsAreEachRecognised() {
        #expect(
            frame(Self.mixedStream) == [
                "data: a\r\n\r\n", "data: b\n\n", "data: c\r\r", "data: d\r\n\n", "data: e\n\r\n", ": c\r\r\n",
                "\n", "data: [DONE]\r\n\r\n",
            ])
    }

    @Test func multiLineEventsStayTogether() {
        #expect(frame("event: x\nid: 3\ndata: 1\ndata: 2\n\n") == ["event: x\nid: 3\ndata: 1\ndata: 2\n\n"])
    }

    @Test func blankLinesAreKeptAsTheirOwnEvents() {
        #expect(frame("\n\ndata: a\n\n\n") == ["\n", "\n", "data: a\n\n", "\n"])
        #expect(frame("\r\n\r\ndata: a\r\n\r\n\r\n") == ["\r\n", "\r\n", "data: a\r\n\r\n", "\r\n"])
    }

    @Test func aSingleLineBreakDoesNotEndAnEvent() {
        var framer = SSEEventFramer()
        #expect(framer.feed(buffer("data: a\n")).isEmpty)
        #expect(framer.pendingByteCount == 8)
        #expect(framer.feed(buffer("data: b\r\n")).isEmpty)
        #expect(framer.pendingByteCount == 17)
    }

    @Test func partialEventsAreHeldUntilComplete() {
        var framer = SSEEventFramer()
        #expect(framer.feed(buffer(#"data: {"a""#)).isEmpty)
        #expect(framer.pendingByteCount == 10)
        #expect(framer.feed(buffer(":1}\n")).isEmpty)
        #expect(framer.pendingByteCount == 14)
        let events = framer.feed(buffer("\ndata: nex"))
        #expect(events.map { text($0) } == ["data: {\"a\":1}\n\n"])
        #expect(framer.pendingByteCount == 9)
        #expect(framer.feed(buffer("t\n\n")).map { text($0) } == ["data: next\n\n"])
        #expect(framer.pendingByteCount == 0)
    }

    @Test func oneChunkMayCompleteSeveralEvents() {
        var framer = SSEEventFramer()
        _ = framer.feed(buffer("data: 1"))
        let events = framer.feed(buffer("\n\ndata: 2\n\ndata: 3\n\ndata: 4"))
        #expect(events.map { text($0) } == ["data: 1\n\n", "data: 2\n\n", "data: 3\n\n"])
        #expect(framer.pendingByteCount == 7)
    }

    @Test func emptyChunksChangeNothing() {
        var framer = SSEEventFramer()
        #expect(framer.feed(ByteBuffer()).isEmpty)
        _ = framer.feed(buffer("data: x\n"))
        #expect(framer.feed(ByteBuffer()).isEmpty)
        #expect(framer.pendingByteCount == 8)
        #expect(framer.feed(buffer("\n")).map { text($0) } == ["data: x\n\n"])
    }

    @Test func chunksWithAReaderOffsetAreRead() {
        var chunk = ByteBuffer(string: "xxxx")
        chunk.moveReaderIndex(forwardBy: 4)
        chunk.writeString("data: a\n\n")
        var framer = SSEEventFramer()
        #expect(framer.feed(chunk).map { text($0) } == ["data: a\n\n"])
    }

    // MARK: Chunking does not matter

    @Test(arguments: ["lf", "crlf", "cr", "lf+crlf"])
    func everySingleSplitGivesTheSameEvents(style: String) {
        let stream = bytes(Self.stream(style))
        let whole = frame(stream, cuts: [])
        #expect(whole.pending == 0)
        #expect(whole.events.joined() == text(stream))
        for cut in 0...stream.count {
            let split = frame(stream, cuts: [cut])
            #expect(split.events == whole.events, "\(style): split at byte \(cut)")
            #expect(split.pending == 0)
        }
    }

    @Test(arguments: ["lf", "crlf", "cr", "lf+crlf"])
    func byteByByteGivesTheSameEvents(style: String) {
        let stream = bytes(Self.stream(style))
        let whole = frame(stream, cuts: [])
        let byByte = frame(stream, cuts: Array(0..<stream.count))
        #expect(byByte.events == whole.events)
        #expect(byByte.pending == 0)
        #expect(byByte.events.joined() == text(stream))
    }

    @Test(arguments: ["lf", "crlf", "cr", "lf+crlf"])
    func randomChunkingsGiveTheSameEvents(style: String) {
        let stream = bytes(Self.stream(style))
        let whole = frame(stream, cuts: []).events
        var generator = SeededGenerator(seed: 0x5EED)
        for round in 0..<300 {
            let count = Int.random(in: 1...12, using: &generator)
            let cuts = (0..<count).map { _ in Int.random(in: 0...stream.count, using: &generator) }.sorted()
            let framed = frame(stream, cuts: cuts)
            #expect(framed.events == whole, "\(style) round \(round) cuts \(cuts)")
            #expect(framed.pending == 0)
        }
    }

    @Test func lfAndCRLFMixedAreFramedPerLine() {
        #expect(
            frame(Self.lfAndCRLFStream) == [
                "data: a\r\n\r\n", ": ping\n\n", "data: b\ndata: c\r\n\r\n", "data: d\r\n\n", "\r\n", "data: e\n\r\n",
                "data: [DONE]\r\n\r\n",
            ])
    }

    @Test func anyChunkingOfAnyStreamStaysByteExact() {
        // Even a stream mixing bare CR with CRLF (where a CRLF split at its CR cannot be told from two line ends
        // without waiting) is relayed byte for byte: nothing is lost, duplicated or reordered.
        let stream = bytes(Self.mixedStream)
        for cut in 0...stream.count {
            let framed = frame(stream, cuts: [cut])
            #expect(bytes(framed.events.joined()) == Array(stream[0..<(stream.count - framed.pending)]), "split at \(cut)")
        }
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<200 {
            let cuts = (0..<8).map { _ in Int.random(in: 0...stream.count, using: &generator) }.sorted()
            let framed = frame(stream, cuts: cuts)
            #expect(bytes(framed.events.joined()) == Array(stream[0..<(stream.count - framed.pending)]))
        }
    }

    @Test func aCRLFBlankLineSplitBetweenCRAndLFStaysInOneEvent() {
        var framer = SSEEventFramer()
        #expect(framer.feed(buffer("data: a\r\n\r")).isEmpty)
        #expect(framer.pendingByteCount == 10)
        let events = framer.feed(buffer("\ndata: b\r\n\r"))
        #expect(events.map { text($0) } == ["data: a\r\n\r\n"])
        #expect(framer.feed(buffer("\n")).map { text($0) } == ["data: b\r\n\r\n"])
        #expect(framer.pendingByteCount == 0)
    }

    @Test func aBareCRStreamIsNotHeldBack() {
        // Once the stream has shown it ends lines with a bare CR, an event ending in CR is complete at once.
        var framer = SSEEventFramer()
        #expect(framer.feed(buffer("data: a\r\r")).map { text($0) } == ["data: a\r\r"])
        #expect(framer.pendingByteCount == 0)
        #expect(framer.feed(buffer("data: b\r")).isEmpty)
        #expect(framer.feed(buffer("\r")).map { text($0) } == ["data: b\r\r"])
        #expect(framer.pendingByteCount == 0)
    }

    @Test func concatenatedEventsReproduceTheStreamWithATrailingPartialEvent() {
        let stream = bytes(Self.crlfStream + "data: unfinished")
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<100 {
            let cuts = (0..<6).map { _ in Int.random(in: 0...stream.count, using: &generator) }.sorted()
            let framed = frame(stream, cuts: cuts)
            #expect(bytes(framed.events.joined()) + bytes("data: unfinished") == stream)
            #expect(framed.pending == "data: unfinished".utf8.count)
        }
    }

    static func stream(_ style: String) -> String {
        switch style {
        case "lf": lfStream
        case "crlf": crlfStream
        case "cr": crStream
        default: lfAndCRLFStream
        }
    }

    // MARK: Reading events

    func data(_ event: String) -> String? { SSEEvent.data(of: buffer(event)).map { text($0) } }

    @Test func dataFieldWithAndWithoutSpace() {
        #expect(data("data: hello\n\n") == "hello")
        #expect(data("data:hello\n\n") == "hello")
        #expect(data("data:  two spaces\n\n") == " two spaces")
        #expect(data("data: \n\n") == "")
        #expect(data("data\n\n") == "")
    }

    @Test func multipleDataLinesAreJoinedWithLF() {
        #expect(data("data: a\ndata: b\ndata:c\n\n") == "a\nb\nc")
        #expect(data("data: a\r\ndata: b\r\n\r\n") == "a\nb")
        #expect(data("data: a\rdata: b\r\r") == "a\nb")
        #expect(data("data\ndata: b\n\n") == "\nb")
        #expect(data("data: a\ndata\n\n") == "a\n")
    }

    @Test func otherFieldsAndCommentsAreIgnored() {
        #expect(data(": keep-alive\n\n") == nil)
        #expect(data("\n") == nil)
        #expect(data("\r\n") == nil)
        #expect(data("event: ping\n\n") == nil)
        #expect(data("event: message\nid: 4\ndata: {\"x\":1}\nretry: 10\n\n") == "{\"x\":1}")
        #expect(data(": comment\ndata: x\n\n") == "x")
        #expect(data("datum: x\n\n") == nil)
        #expect(data("Data: x\n\n") == nil)
        #expect(data("dat: x\n\n") == nil)
    }

    @Test func dataOfAnEventWithoutItsBlankLine() {
        #expect(data("data: tail") == "tail")
        #expect(data("data: a\ndata: b") == "a\nb")
    }

    @Test func dataOfFramedEventsMatchesForEveryTerminatorStyle() {
        for style in ["lf", "crlf", "cr"] {
            let payloads = frame(Self.stream(style)).compactMap(data)
            #expect(
                payloads == [
                    #"{"id":"1","choices":[{"delta":{"content":"Hel"}}]}"#,
                    #"{"id":"1","choices":[{"delta":{"content":"lo\n\nworld"}}]}"#,
                    "line one\nline two",
                    "[DONE]",
                ], "\(style)")
        }
    }

    @Test func dataIsTheSameHoweverTheStreamIsChunked() {
        for style in ["lf", "crlf", "cr", "lf+crlf"] {
            let stream = bytes(Self.stream(style))
            let expected = frame(stream, cuts: []).events.compactMap(data)
            for cut in 0...stream.count {
                #expect(frame(stream, cuts: [cut]).events.compactMap(data) == expected, "\(style) split at \(cut)")
            }
        }
    }

    @Test func doneIsDetectedExactly() {
        #expect(SSEEvent.isDone(data: buffer("[DONE]")))
        #expect(!SSEEvent.isDone(data: buffer("[DONE] ")))
        #expect(!SSEEvent.isDone(data: buffer(" [DONE]")))
        #expect(!SSEEvent.isDone(data: buffer("[done]")))
        #expect(!SSEEvent.isDone(data: buffer("")))
        #expect(!SSEEvent.isDone(data: buffer(#"{"content":"[DONE]"}"#)))
        #expect(SSEEvent.data(of: buffer("data: [DONE]\n\n")).map(SSEEvent.isDone) == true)
        #expect(SSEEvent.data(of: buffer("data:[DONE]\r\n\r\n")).map(SSEEvent.isDone) == true)
    }

    // MARK: Size limit

    @Test func anEventThatNeverEndsIsRejectedOnceItPassesTheLimit() throws {
        var framer = SSEEventFramer(maximumEventBytes: 64)
        #expect(try framer.append(buffer("data: " + String(repeating: "x", count: 50))).isEmpty)
        #expect(throws: SSEEventTooLarge(limit: 64)) { try framer.append(buffer(String(repeating: "y", count: 20))) }
    }

    @Test func aCompleteEventOverTheLimitInOneChunkIsRejected() {
        var framer = SSEEventFramer(maximumEventBytes: 64)
        let large = "data: " + String(repeating: "x", count: 100) + "\n\n"
        #expect(throws: SSEEventTooLarge(limit: 64)) { try framer.append(buffer("data: a\n\n" + large)) }
    }

    @Test func eventsUpToTheLimitPass() throws {
        var framer = SSEEventFramer(maximumEventBytes: 16)
        let event = "data: 12345678\n\n"  // exactly 16 bytes
        #expect(try framer.append(buffer(event + event)).map { text($0) } == [event, event])
        #expect(try framer.append(buffer("data: 1234")).isEmpty)
        #expect(try framer.append(buffer("5678\n\n")).map { text($0) } == [event])
    }

    @Test func encodingEvents() {
        #expect(text(SSEEvent.encode(data: bytes(#"{"a":1}"#))) == "data: {\"a\":1}\n\n")
        #expect(text(SSEEvent.done) == "data: [DONE]\n\n")
        #expect(data(text(SSEEvent.encode(data: bytes("x")))) == "x")
    }
}

extension SSEEventFramer {
    /// `append` for streams that stay within the limit.
    mutating func feed(_ chunk: ByteBuffer) -> [ByteBuffer] {
        do { return try append(chunk) } catch {
            Issue.record("unexpected \(error)")
            return []
        }
    }
}
