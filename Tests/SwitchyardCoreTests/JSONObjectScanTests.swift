import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// The validating scanner that finds top-level members of a request body by byte range.
@Suite struct JSONObjectScanTests {
    func scan(_ json: String) throws(JSONScanError) -> JSONObjectScan { try JSONObjectScan(bytes(json)) }

    func scanError(_ json: String) -> JSONScanError? {
        do {
            _ = try JSONObjectScan(bytes(json))
            return nil
        } catch {
            return error
        }
    }

    func scanError(_ raw: [UInt8]) -> JSONScanError? {
        do {
            _ = try JSONObjectScan(raw)
            return nil
        } catch {
            return error
        }
    }

    /// The text of `range` in `json`.
    func slice(_ json: String, _ range: Range<Int>) -> String {
        text(Array(bytes(json)[range]))
    }

    // MARK: Valid bodies

    @Test func membersHaveExactByteRanges() throws {
        let json = #"{"a":1,"bb":"x"}"#
        let result = try scan(json)
        #expect(result.objectStart == 0)
        #expect(result.objectEnd == 16)
        #expect(
            result.members == [
                .init(key: "a", keyStart: 1, valueStart: 5, valueEnd: 6, kind: .number),
                .init(key: "bb", keyStart: 7, valueStart: 12, valueEnd: 15, kind: .string),
            ])
    }

    @Test func rangesSurviveWhitespaceEverywhere() throws {
        let json = " \n\t{ \"model\" :\r\n \"gpt-4o\" ,\n  \"n\"\t:\t-0.5e+3 }\n "
        let result = try scan(json)
        #expect(result.objectStart == 3)
        #expect(slice(json, result.objectStart..<result.objectEnd).hasPrefix("{"))
        #expect(slice(json, result.objectStart..<result.objectEnd).hasSuffix("}"))
        #expect(result.objectEnd == bytes(json).count - 2)
        #expect(result.members.map(\.key) == ["model", "n"])
        #expect(slice(json, result.members[0].valueRange) == #""gpt-4o""#)
        #expect(slice(json, result.members[1].valueRange) == "-0.5e+3")
        #expect(slice(json, result.members[0].keyStart..<(result.members[0].keyStart + 7)) == #""model""#)
        #expect(slice(json, result.members[1].keyStart..<(result.members[1].keyStart + 3)) == #""n""#)
    }

    @Test func everyValueKindIsRecognised() throws {
        let json = """
            {"o":{"x":[1,{"y":null}]},"a":[],"s":"t\\"q","n":-12.5E-3,"t":true,"f":false,"z":null,"e":{},"zero":0}
            """
        let result = try scan(json)
        let expected: [(String, JSONValueKind, String)] = [
            ("o", .object, #"{"x":[1,{"y":null}]}"#),
            ("a", .array, "[]"),
            ("s", .string, #""t\"q""#),
            ("n", .number, "-12.5E-3"),
            ("t", .true, "true"),
            ("f", .false, "false"),
            ("z", .null, "null"),
            ("e", .object, "{}"),
            ("zero", .number, "0"),
        ]
        #expect(result.members.count == expected.count)
        for (member, (key, kind, raw)) in zip(result.members, expected) {
            #expect(member.key == key)
            #expect(member.kind == kind, "\(key)")
            #expect(slice(json, member.valueRange) == raw, "\(key)")
            #expect(slice(json, member.keyStart..<member.valueStart).hasPrefix("\"\(key)\""))
        }
    }

    @Test func emptyObjectHasNoMembers() throws {
        let result = try scan("  {  }  ")
        #expect(result.members.isEmpty)
        #expect(result.objectStart == 2)
        #expect(result.objectEnd == 6)
    }

    @Test func validNumbersAreAccepted() throws {
        for number in ["0", "-0", "1", "-1", "10", "0.5", "-0.0", "1e5", "1E+5", "1e-5", "123.456e789", "9007199254740993"] {
            let result = try scan(#"{"n":\#(number)}"#)
            #expect(result.members.first?.kind == .number, "\(number)")
            #expect(result.members.first?.valueRange == 5..<(5 + number.utf8.count), "\(number)")
        }
    }

    @Test func validStringsAreAccepted() throws {
        let strings = [
            #""""#, #""plain""#, #""\"\\\/\b\f\n\r\t""#, #""\u00e9\u00E9""#, #""\ud83d\ude00""#, "\"h\u{e9}llo \u{4f60}\u{597d} \u{1F600}\"",
            "\"\u{7f}\"",
        ]
        for string in strings {
            let result = try scan(#"{"s":\#(string)}"#)
            #expect(result.members.first?.kind == .string, "\(string)")
            #expect(result.members.first.map { slice(#"{"s":\#(string)}"#, $0.valueRange) } == string)
        }
    }

    @Test func keysWithEscapesAreDecoded() throws {
        let result = try scan(#"{"mo\u0064el":"x","a\"b":1,"\u4f60":2}"#)
        #expect(result.members.map(\.key) == ["model", "a\"b", "\u{4f60}"])
        #expect(result.member("model") != nil)
    }

    @Test func duplicateKeysAreAllListedAndTheLastWins() throws {
        let json = #"{"model":"a","x":1,"model":"b"}"#
        let result = try scan(json)
        #expect(result.members.map(\.key) == ["model", "x", "model"])
        let member = try #require(result.member("model"))
        #expect(slice(json, member.valueRange) == #""b""#)
        #expect(result.member("absent") == nil)
    }

    @Test func scanningAByteBufferUsesItsReadableBytes() throws {
        var buffer = ByteBuffer(string: "garbage")
        buffer.moveReaderIndex(forwardBy: 7)
        buffer.writeString(#"{"a":[1,2]}"#)
        let result = try JSONObjectScan(buffer)
        #expect(result.members == [.init(key: "a", keyStart: 1, valueStart: 5, valueEnd: 10, kind: .array)])
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        // The top-level object is depth 1, so 255 nested arrays reach the limit of 256.
        let json = #"{"a":"# + String(repeating: "[", count: 255) + String(repeating: "]", count: 255) + "}"
        #expect(try scan(json).members.first?.kind == .array)
        let objects = #"{"a":"# + String(repeating: #"{"b":"#, count: 255) + "1" + String(repeating: "}", count: 255) + "}"
        #expect(try scan(objects).members.first?.kind == .object)
    }

    @Test func scanObjectReadsANestedRange() throws {
        let json = #"{"stream_options": {"include_usage": true, "x": 1}}"#
        let outer = try scan(json)
        let options = try #require(outer.member("stream_options"))
        let nested = try bytes(json).withUnsafeBytes { raw in
            try JSONObjectScan.scanObject(raw, in: options.valueRange)
        }
        #expect(nested.objectStart == options.valueStart)
        #expect(nested.objectEnd == options.valueEnd)
        #expect(nested.members.map(\.key) == ["include_usage", "x"])
        #expect(nested.member("include_usage")?.kind == .true)
        #expect(slice(json, nested.members[1].valueRange) == "1")
    }

    // MARK: Invalid bodies

    @Test(arguments: [
        (#"{"a":1,}"#, "trailing comma in object"),
        (#"{"a":[1,2,]}"#, "trailing comma in array"),
        (#"{,}"#, "lone comma"),
        (#"{"a":1,,"b":2}"#, "double comma"),
        (#"{a:1}"#, "unquoted key"),
        (#"{'a':1}"#, "single-quoted key"),
        (#"{"a":'x'}"#, "single-quoted value"),
        (#"{1:1}"#, "numeric key"),
        (#"{"a" 1}"#, "missing colon"),
        (#"{"a":1 "b":2}"#, "missing comma"),
        (#"{"a":"\x"}"#, "bad escape"),
        (#"{"a":"\u12G4"}"#, "bad unicode escape"),
        (#"{"a":"\u12"}"#, "short unicode escape"),
        (#"{"a":"\U1234"}"#, "upper-case U escape"),
        (#"{"a":01}"#, "leading zero"),
        (#"{"a":-01}"#, "negative leading zero"),
        (#"{"a":00}"#, "double zero"),
        (#"{"a":-}"#, "lone minus"),
        (#"{"a":+1}"#, "plus sign"),
        (#"{"a":1.}"#, "dot without fraction"),
        (#"{"a":.5}"#, "fraction without integer"),
        (#"{"a":1e}"#, "exponent without digits"),
        (#"{"a":1e+}"#, "signed exponent without digits"),
        (#"{"a":0x10}"#, "hex number"),
        (#"{"a":NaN}"#, "NaN"),
        (#"{"a":Infinity}"#, "Infinity"),
        (#"{"a":tru}"#, "truncated true"),
        (#"{"a":True}"#, "capitalised True"),
        (#"{"a":nul}"#, "truncated null"),
        (#"{"a":nulls}"#, "null followed by letters"),
        (#"{"a":undefined}"#, "undefined"),
        (#"{"a":"abc"#, "unterminated string"),
        (#"{"a":"abc\"#, "unterminated string after backslash"),
        (#"{"a":"\u00"#, "unterminated unicode escape"),
        (#"{"a":1"#, "unterminated object"),
        (#"{"a":1,"#, "unterminated object after comma"),
        (#"{"a""#, "unterminated after key"),
        (#"{"a":"#, "unterminated before value"),
        (#"{"a":[1,2"#, "unterminated array"),
        (#"{"a":[1,2}"#, "array closed by brace"),
        (#"{"a":{"b":1]}"#, "object closed by bracket"),
        (#"{"#, "lone brace"),
        (#"[1,2]"#, "top-level array"),
        (#""text""#, "top-level string"),
        (#"42"#, "top-level number"),
        (#"null"#, "top-level null"),
        (#"{"a":1}x"#, "trailing garbage"),
        (#"{"a":1}{}"#, "two objects"),
        (#"{"a":1},"#, "trailing comma after object"),
        ("", "empty body"),
        ("   \n\t ", "whitespace only"),
        ("\u{feff}{}", "byte order mark"),
        ("{\u{0b}\"a\":1}", "vertical tab as whitespace"),
    ])
    func invalidJSONIsRejected(json: String, reason: String) {
        #expect(scanError(json) != nil, "\(reason): \(json)")
    }

    @Test func controlCharactersInsideStringsAreRejected() {
        for byte in [UInt8](0x00..<0x20) {
            let raw = bytes(#"{"a":"x"#) + [byte] + bytes(#"y"}"#)
            #expect(scanError(raw) != nil, "byte \(byte)")
        }
        #expect(scanError(bytes(#"{"a":"x"#) + [0x7F] + bytes(#"y"}"#)) == nil)
    }

    @Test func nestingDeeperThan256IsRejected() {
        let arrays = #"{"a":"# + String(repeating: "[", count: 256) + String(repeating: "]", count: 256) + "}"
        let error = scanError(arrays)
        #expect(error?.message == "JSON nested too deeply")
        let objects = #"{"a":"# + String(repeating: #"{"b":"#, count: 256) + "1" + String(repeating: "}", count: 256) + "}"
        #expect(scanError(objects)?.message == "JSON nested too deeply")
        let huge = #"{"a":"# + String(repeating: "[", count: 100_000)
        #expect(scanError(huge)?.message == "JSON nested too deeply")
    }

    @Test func errorsReportWhereTheyWereFound() {
        #expect(scanError("") == JSONScanError(message: "empty body", offset: 0))
        #expect(scanError("  ") == JSONScanError(message: "empty body", offset: 2))
        #expect(scanError("[]") == JSONScanError(message: "expected a JSON object", offset: 0))
        #expect(scanError(#"{"a":1}x"#) == JSONScanError(message: "unexpected data after the JSON object", offset: 7))
        #expect(scanError(#"{"a":1,}"#)?.offset == 7)
        #expect(scanError(#"{"a":01}"#)?.offset == 6)
        #expect(scanError(#"{"a":"\x"}"#)?.message == "invalid escape")
        #expect(scanError(#"{"a":1"#)?.message == "unexpected end of JSON")
        #expect(scanError(#"{"a":1}x"#)?.description == "unexpected data after the JSON object at byte 7")
    }

    // MARK: String decoding

    func decode(_ literal: String) -> String? {
        bytes(literal).withUnsafeBytes { JSONObjectScan.decodeString($0, in: 0..<$0.count) }
    }

    @Test func decodesPlainAndEscapedStrings() {
        #expect(decode(#""gpt-4o""#) == "gpt-4o")
        #expect(decode(#""""#) == "")
        #expect(decode(#""a\"b\\c\/d""#) == "a\"b\\c/d")
        #expect(decode(#""\b\f\n\r\t""#) == "\u{08}\u{0C}\n\r\t")
        #expect(decode(#""caf\u00e9 \u00C9""#) == "caf\u{e9} \u{c9}")
        #expect(decode(#""\u0000""#) == "\u{0}")
        #expect(decode("\"h\u{e9}llo \u{4f60}\u{597d}\"") == "h\u{e9}llo \u{4f60}\u{597d}")
        #expect(decode("\"\u{4f60}\\n\u{597d}\"") == "\u{4f60}\n\u{597d}")
    }

    @Test func decodesSurrogatePairs() {
        #expect(decode(#""\ud83d\ude00""#) == "\u{1F600}")
        #expect(decode(#""\uD83D\uDE00!""#) == "\u{1F600}!")
        #expect(decode(#""x\ud834\udd1ey""#) == "x\u{1D11E}y")
    }

    @Test func loneSurrogatesBecomeReplacementCharacters() {
        #expect(decode(#""\ud83d""#) == "\u{FFFD}")
        #expect(decode(#""\ude00""#) == "\u{FFFD}")
        #expect(decode(#""\ud83dx""#) == "\u{FFFD}x")
        #expect(decode(#""\ud83d\u0041""#) == "\u{FFFD}A")
    }

    @Test func decodingRejectsNonStringsAndBrokenEscapes() {
        #expect(decode("123") == nil)
        #expect(decode("\"") == nil)
        #expect(decode("null") == nil)
        #expect(decode(#""\q""#) == nil)
        #expect(decode(#""\u12""#) == nil)
    }

    @Test func decodeStringReadsASubrange() {
        let json = #"{"model":"gpt-\u0034o"}"#
        let result = try? scan(json)
        let member = result?.member("model")
        let decoded = member.flatMap { member in
            bytes(json).withUnsafeBytes { JSONObjectScan.decodeString($0, in: member.valueRange) }
        }
        #expect(decoded == "gpt-4o")
    }
}

extension JSONObjectScanTests {
    @Test func stringsMustBeWellFormedUTF8() {
        func string(_ inner: [UInt8]) -> [UInt8] { Array(#"{"a":""#.utf8) + inner + Array(#""}"#.utf8) }
        for valid in ["é", "中文", "😀", "\u{10FFFF}", "\u{D7FF}", "\u{E000}"] {
            #expect(scanError(string(Array(valid.utf8))) == nil, "\(valid)")
        }
        let invalid: [[UInt8]] = [
            [0x80],  // a lone continuation byte
            [0xC0, 0x80], [0xC1, 0xBF],  // overlong two-byte forms
            [0xE0, 0x80, 0x80],  // overlong three-byte form
            [0xED, 0xA0, 0x80],  // a UTF-16 surrogate
            [0xF4, 0x90, 0x80, 0x80],  // past U+10FFFF
            [0xF5, 0x80, 0x80, 0x80], [0xFF],
            [0xE4, 0xB8],  // cut short before the closing quote
            [0xC3, 0x28],  // a continuation that is not one
        ]
        for bytes in invalid {
            #expect(scanError(string(bytes))?.message == "invalid UTF-8 in a string", "\(bytes)")
        }
        #expect(scanError(Array(#"{"a":"x"#.utf8) + [0xE4, 0xB8])?.message == "invalid UTF-8 in a string")
    }
}
