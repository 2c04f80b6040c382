import NIOCore

/// The kind of a JSON value, as far as the scanner needs to know it.
public enum JSONValueKind: Sendable, Equatable {
    case object, array, string, number, `true`, `false`, null
}

/// A JSON syntax error with the byte offset where it was found.
public struct JSONScanError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// Validates a JSON document whose top level is an object and records each top-level member by byte range.
///
/// The gateway forwards request bodies byte-exact and only edits a few top-level fields (`model`, `stream`,
/// `stream_options`), so it needs positions, not values: nothing here builds strings, arrays or dictionaries
/// except the member keys. Validation is complete (RFC 8259 grammar, nesting depth capped), so a body that scans
/// is well-formed JSON.
public struct JSONObjectScan: Sendable {
    public struct Member: Sendable, Equatable {
        public var key: String
        /// Offset of the key's opening quote.
        public var keyStart: Int
        public var valueStart: Int
        /// Offset just past the value.
        public var valueEnd: Int
        public var kind: JSONValueKind
        public var valueRange: Range<Int> { valueStart..<valueEnd }
    }

    /// Offset of the object's `{`.
    public var objectStart: Int
    /// Offset just past the object's `}`.
    public var objectEnd: Int
    public var members: [Member]

    static let maximumDepth = 256

    init(objectStart: Int, objectEnd: Int, members: [Member]) {
        self.objectStart = objectStart
        self.objectEnd = objectEnd
        self.members = members
    }

    public init(_ bytes: [UInt8]) throws(JSONScanError) {
        self = try bytes.withUnsafeBytes { bytes in Result { () throws(JSONScanError) in try Self.scanDocument(bytes) } }
            .get()
    }

    public init(_ buffer: ByteBuffer) throws(JSONScanError) {
        self = try buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(JSONScanError) in try Self.scanDocument(bytes) }
        }.get()
    }

    /// The last member with this key (JSON parsers conventionally let the last duplicate win).
    public func member(_ key: String) -> Member? {
        members.last { $0.key == key }
    }

    /// Scans a whole document: optional whitespace, one object, optional whitespace.
    static func scanDocument(_ bytes: UnsafeRawBufferPointer) throws(JSONScanError) -> JSONObjectScan {
        try scanObject(bytes, in: 0..<bytes.count)
    }

    /// Scans `range` of `bytes`, which must hold exactly one object (whitespace around it allowed).
    public static func scanObject(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) throws(JSONScanError) -> JSONObjectScan {
        var cursor = Cursor(bytes: bytes, position: range.lowerBound, end: range.upperBound)
        cursor.skipWhitespace()
        guard cursor.peek() == UInt8(ascii: "{") else {
            throw JSONScanError(message: cursor.atEnd ? "empty body" : "expected a JSON object", offset: cursor.position)
        }
        var members: [Member] = []
        let start = cursor.position
        try cursor.skipObject(depth: 1) { member in members.append(member) }
        let end = cursor.position
        cursor.skipWhitespace()
        guard cursor.atEnd else {
            throw JSONScanError(message: "unexpected data after the JSON object", offset: cursor.position)
        }
        return JSONObjectScan(objectStart: start, objectEnd: end, members: members)
    }

    /// Validates a whole document whose top level may be any value: optional whitespace, one value, optional
    /// whitespace, with the same grammar and nesting cap as an object's scan.
    public static func validateDocument(_ bytes: [UInt8]) throws(JSONScanError) {
        try bytes.withUnsafeBytes { bytes in
            Result { () throws(JSONScanError) in
                var cursor = Cursor(bytes: bytes, position: 0, end: bytes.count)
                cursor.skipWhitespace()
                _ = try cursor.skipValue(depth: 0)
                cursor.skipWhitespace()
                guard cursor.atEnd else {
                    throw JSONScanError(message: "unexpected data after the JSON value", offset: cursor.position)
                }
            }
        }.get()
    }

    /// Decodes the JSON string at `range` (quotes included); nil if it is not a string.
    public static func decodeString(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) -> String? {
        guard range.count >= 2, bytes[range.lowerBound] == UInt8(ascii: "\""),
            bytes[range.upperBound - 1] == UInt8(ascii: "\"")
        else { return nil }
        let inner = UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
        if !inner.contains(UInt8(ascii: "\\")) {
            return String(decoding: inner, as: UTF8.self)
        }
        return unescape(inner)
    }

    private static func unescape(_ inner: UnsafeRawBufferPointer) -> String? {
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var index = 0
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll(keepingCapacity: true)
            }
        }
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= inner.count else { return nil }
            var value: UInt32 = 0
            for offset in 0..<4 {
                guard let digit = hexValue(inner[at + offset]) else { return nil }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while index < inner.count {
            let byte = inner[index]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                index += 1
                continue
            }
            guard index + 1 < inner.count else { return nil }
            let escape = inner[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "\""): utf8.append(escape)
            case UInt8(ascii: "\\"): utf8.append(escape)
            case UInt8(ascii: "/"): utf8.append(escape)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                guard var code = hex4(index) else { return nil }
                index += 4
                if (0xD800..<0xDC00).contains(code), index + 6 <= inner.count, inner[index] == UInt8(ascii: "\\"),
                    inner[index + 1] == UInt8(ascii: "u"), let low = hex4(index + 2), (0xDC00..<0xE000).contains(low)
                {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                return nil
            }
        }
        flush()
        return String(scalars)
    }
}

@inline(__always)
private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// A validating, allocation-free walk over JSON bytes.
private struct Cursor {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    var atEnd: Bool { position >= end }

    @inline(__always)
    func peek() -> UInt8? { position < end ? bytes[position] : nil }

    @inline(__always)
    mutating func skipWhitespace() {
        while position < end {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    func error(_ message: String) -> JSONScanError {
        JSONScanError(message: atEnd ? "unexpected end of JSON" : message, offset: position)
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(JSONScanError) {
        guard peek() == byte else { throw error("expected \(what)") }
        position += 1
    }

    /// Skips one value and returns its kind.
    mutating func skipValue(depth: Int) throws(JSONScanError) -> JSONValueKind {
        guard let byte = peek() else { throw error("expected a value") }
        switch byte {
        case UInt8(ascii: "{"):
            try skipObject(depth: depth + 1, onMember: nil)
            return .object
        case UInt8(ascii: "["):
            try skipArray(depth: depth + 1)
            return .array
        case UInt8(ascii: "\""):
            try skipString()
            return .string
        case UInt8(ascii: "t"):
            try skipLiteral("true")
            return .true
        case UInt8(ascii: "f"):
            try skipLiteral("false")
            return .false
        case UInt8(ascii: "n"):
            try skipLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try skipNumber()
            return .number
        default:
            throw error("unexpected character '\(Character(Unicode.Scalar(byte)))'")
        }
    }

    mutating func skipObject(depth: Int, onMember: ((JSONObjectScan.Member) -> Void)?) throws(JSONScanError) {
        guard depth <= JSONObjectScan.maximumDepth else { throw error("JSON nested too deeply") }
        try expect(UInt8(ascii: "{"), "'{'")
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            let keyStart = position
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a string key") }
            try skipString()
            let keyEnd = position
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':'")
            skipWhitespace()
            let valueStart = position
            let kind = try skipValue(depth: depth)
            if let onMember {
                let key = JSONObjectScan.decodeString(bytes, in: keyStart..<keyEnd) ?? ""
                onMember(.init(key: key, keyStart: keyStart, valueStart: valueStart, valueEnd: position, kind: kind))
            }
            skipWhitespace()
            guard let next = peek() else { throw error("unterminated object") }
            position += 1
            if next == UInt8(ascii: "}") { return }
            guard next == UInt8(ascii: ",") else {
                position -= 1
                throw error("expected ',' or '}'")
            }
        }
    }

    mutating func skipArray(depth: Int) throws(JSONScanError) {
        guard depth <= JSONObjectScan.maximumDepth else { throw error("JSON nested too deeply") }
        try expect(UInt8(ascii: "["), "'['")
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            _ = try skipValue(depth: depth)
            skipWhitespace()
            guard let next = peek() else { throw error("unterminated array") }
            position += 1
            if next == UInt8(ascii: "]") { return }
            guard next == UInt8(ascii: ",") else {
                position -= 1
                throw error("expected ',' or ']'")
            }
        }
    }

    mutating func skipString() throws(JSONScanError) {
        position += 1  // opening quote
        while position < end {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return
            case UInt8(ascii: "\\"):
                guard position + 1 < end else { position = end; throw error("unterminated string") }
                switch bytes[position + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    position += 2
                case UInt8(ascii: "u"):
                    guard position + 6 <= end else { position = end; throw error("unterminated string") }
                    for offset in 2..<6 where hexValue(bytes[position + offset]) == nil {
                        position += offset
                        throw error("invalid \\u escape")
                    }
                    position += 6
                default:
                    position += 1
                    throw error("invalid escape")
                }
            case 0x00..<0x20:
                throw error("control character in string")
            case 0x80...:
                try skipUTF8Sequence()
            default:
                position += 1
            }
        }
        throw error("unterminated string")
    }

    /// Skips one multi-byte UTF-8 sequence, which must be well-formed (JSON text is UTF-8; a byte that is not
    /// would reach the provider, or the client, as text it cannot read).
    mutating func skipUTF8Sequence() throws(JSONScanError) {
        let lead = bytes[position]
        let length: Int
        var second: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: (length, second) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: (length, second) = (3, 0x80...0x9F)
        case 0xF0: (length, second) = (4, 0x90...0xBF)
        case 0xF1...0xF3: length = 4
        case 0xF4: (length, second) = (4, 0x80...0x8F)
        default: throw error("invalid UTF-8 in a string")
        }
        guard position + length <= end, second.contains(bytes[position + 1]) else {
            throw error("invalid UTF-8 in a string")
        }
        for offset in 2..<length where !(0x80...0xBF).contains(bytes[position + offset]) {
            throw error("invalid UTF-8 in a string")
        }
        position += length
    }

    mutating func skipLiteral(_ literal: StaticString) throws(JSONScanError) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= end else { position = end; throw error("invalid literal") }
        let expected = UnsafeRawBufferPointer(start: literal.utf8Start, count: count)
        for offset in 0..<count where bytes[position + offset] != expected[offset] {
            throw error("invalid literal")
        }
        position += count
    }

    mutating func skipNumber() throws(JSONScanError) {
        if peek() == UInt8(ascii: "-") { position += 1 }
        guard let first = peek(), isDigit(first) else { throw error("invalid number") }
        position += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            position += 1
            guard let digit = peek(), isDigit(digit) else { throw error("invalid number") }
            skipDigits()
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            position += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { position += 1 }
            guard let digit = peek(), isDigit(digit) else { throw error("invalid number") }
            skipDigits()
        }
    }

    @inline(__always)
    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    @inline(__always)
    mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { position += 1 }
    }
}
