import Foundation
import Testing
@testable import SwitchyardCore

/// Byte-splicing edits of top-level members; every byte not edited must be preserved.
@Suite struct JSONObjectEditorTests {
    /// Applies `edit` to `json` and returns the result as text.
    func apply(_ json: String, _ edit: (inout JSONObjectEditor) -> Void) throws -> String {
        var editor = JSONObjectEditor()
        edit(&editor)
        let raw = bytes(json)
        let scan = try JSONObjectScan(raw)
        let output = raw.withUnsafeBytes { editor.apply(to: $0, scan: scan) }
        // Whatever the edit, the result must still be one valid JSON object.
        #expect(throws: Never.self, "not valid JSON: \(text(output))") { try JSONObjectScan(output) }
        return text(output)
    }

    // MARK: Replacing

    @Test func replacingAValueKeepsEveryOtherByte() throws {
        let json = "{ \"model\" :\t\"gpt-4o\" ,\n  \"x\": [1, 2] }"
        let result = try apply(json) { $0.set("model", string: "claude") }
        #expect(result == "{ \"model\" :\t\"claude\" ,\n  \"x\": [1, 2] }")
    }

    @Test func replacingWithRawValues() throws {
        let json = #"{"stream":false,"n":1}"#
        #expect(try apply(json) { $0.set("stream", rawValue: bytes("true")) } == #"{"stream":true,"n":1}"#)
        #expect(try apply(json) { $0.set("n", rawValue: bytes(#"{"deep":[null]}"#)) } == #"{"stream":false,"n":{"deep":[null]}}"#)
    }

    @Test func replacingAffectsEveryDuplicateKey() throws {
        let json = #"{"model":"a","x":1,"model":"b"}"#
        #expect(try apply(json) { $0.set("model", string: "c") } == #"{"model":"c","x":1,"model":"c"}"#)
    }

    @Test func replacementStringsAreEscaped() throws {
        let json = #"{"model":"a"}"#
        let result = try apply(json) { $0.set("model", string: "we\"ird\\name\n\u{01}\u{4f60}") }
        #expect(result == "{\"model\":\"we\\\"ird\\\\name\\n\\u0001\u{4f60}\"}")
    }

    @Test func theLastSetOfAKeyWins() throws {
        let json = #"{"model":"a"}"#
        let result = try apply(json) {
            $0.set("model", string: "b")
            $0.set("model", string: "c")
        }
        #expect(result == #"{"model":"c"}"#)
    }

    // MARK: Inserting

    @Test func insertingIntoAnEmptyObject() throws {
        #expect(try apply("{}") { $0.set("stream", rawValue: bytes("true")) } == #"{"stream":true}"#)
        #expect(try apply(" { \n } ") { $0.set("a", string: "b") } == #" {"a":"b" "# + "\n } ")
    }

    @Test func insertingIntoANonEmptyObjectGoesFirst() throws {
        let json = "{\n  \"model\": \"m\"\n}"
        let result = try apply(json) { $0.set("stream", rawValue: bytes("true")) }
        #expect(result == "{\"stream\":true,\n  \"model\": \"m\"\n}")
    }

    @Test func severalInsertionsKeepTheirOrder() throws {
        let result = try apply(#"{"x":0}"#) {
            $0.set("a", rawValue: bytes("1"))
            $0.set("b", rawValue: bytes("2"))
            $0.set("x", rawValue: bytes("3"))
            $0.set("c", rawValue: bytes("4"))
        }
        #expect(result == #"{"a":1,"b":2,"c":4,"x":3}"#)
    }

    // MARK: Removing

    @Test func removingTheFirstMember() throws {
        #expect(try apply(#"{"a":1, "b":2, "c":3}"#) { $0.remove("a") } == #"{"b":2, "c":3}"#)
    }

    @Test func removingAMiddleMember() throws {
        #expect(try apply(#"{"a":1, "b":2, "c":3}"#) { $0.remove("b") } == #"{"a":1, "c":3}"#)
    }

    @Test func removingTheLastMember() throws {
        #expect(try apply(#"{"a":1, "b":2, "c":3}"#) { $0.remove("c") } == #"{"a":1, "b":2}"#)
        #expect(try apply("{\n  \"a\": 1,\n  \"b\": 2\n}") { $0.remove("b") } == "{\n  \"a\": 1\n}")
    }

    @Test func removingTheOnlyMember() throws {
        #expect(try apply(#"{"a":1}"#) { $0.remove("a") } == "{}")
        #expect(try apply("{ \"a\" : [1] \n}") { $0.remove("a") } == "{  \n}")
    }

    @Test func removingConsecutiveMembers() throws {
        let json = #"{"a":1, "b":2, "c":3, "d":4}"#
        #expect(try apply(json) { $0.remove("a"); $0.remove("b") } == #"{"c":3, "d":4}"#)
        #expect(try apply(json) { $0.remove("b"); $0.remove("c") } == #"{"a":1, "d":4}"#)
        #expect(try apply(json) { $0.remove("c"); $0.remove("d") } == #"{"a":1, "b":2}"#)
        #expect(try apply(json) { $0.remove("a"); $0.remove("c") } == #"{"b":2, "d":4}"#)
        #expect(try apply(json) { $0.remove("b"); $0.remove("d") } == #"{"a":1, "c":3}"#)
        #expect(try apply(json) { for key in ["a", "b", "c", "d"] { $0.remove(key) } } == "{}")
    }

    @Test func removingADuplicatedKeyRemovesEveryCopy() throws {
        #expect(try apply(#"{"u":null,"a":1,"u":2}"#) { $0.remove("u") } == #"{"a":1}"#)
    }

    @Test func removingAnAbsentKeyChangesNothing() throws {
        let json = "{ \"a\" : 1 }"
        #expect(try apply(json) { $0.remove("zz") } == json)
    }

    @Test func everySubsetOfMembersCanBeRemoved() throws {
        let json = "{\n\t\"a\" : 1,\"b\":\"two\" ,  \"c\":[3,{}],\r\n\"d\": {\"e\":null}, \"f\" :true\n}"
        let raw = bytes(json)
        let original = try JSONObjectScan(raw)
        let keys = original.members.map(\.key)
        for mask in 0..<(1 << keys.count) {
            let removed = Set(keys.indices.filter { mask & (1 << $0) != 0 }.map { keys[$0] })
            var editor = JSONObjectEditor()
            for key in removed { editor.remove(key) }
            let output = raw.withUnsafeBytes { editor.apply(to: $0, scan: original) }
            let rescanned = try JSONObjectScan(output)
            let kept = original.members.filter { !removed.contains($0.key) }
            #expect(rescanned.members.map(\.key) == kept.map(\.key), "removing \(removed.sorted())")
            for (before, after) in zip(kept, rescanned.members) {
                #expect(Array(raw[before.valueRange]) == Array(output[after.valueRange]))
            }
        }
    }

    // MARK: Mixed edits

    @Test func removingEverythingThenInsertingLeavesNoStrayComma() throws {
        let result = try apply(#"{"a":1,"b":2}"#) {
            $0.remove("a")
            $0.remove("b")
            $0.set("c", rawValue: bytes("3"))
        }
        #expect(result == #"{"c":3}"#)
    }

    @Test func removingTheFirstMemberWhileInserting() throws {
        #expect(try apply(#"{"a":1,"b":2}"#) { $0.remove("a"); $0.set("c", rawValue: bytes("3")) } == #"{"c":3,"b":2}"#)
        #expect(try apply(#"{ "a":1,"b":2}"#) { $0.remove("a"); $0.set("c", rawValue: bytes("3")) } == #"{"c":3, "b":2}"#)
    }

    @Test func insertingAndRemovingTogether() throws {
        let json = #"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#
        let result = try apply(json) {
            $0.set("model", string: "up")
            $0.set("stream", rawValue: bytes("false"))
            $0.remove("stream_options")
            $0.set("user", string: "u")
        }
        #expect(result == #"{"user":"u","model":"up","stream":false,"messages":[]}"#)
    }

    @Test func setAfterRemoveWinsAndRemoveAfterSetWins() throws {
        let json = #"{"a":1,"b":2}"#
        #expect(try apply(json) { $0.remove("a"); $0.set("a", rawValue: bytes("9")) } == #"{"a":9,"b":2}"#)
        #expect(try apply(json) { $0.set("a", rawValue: bytes("9")); $0.remove("a") } == #"{"b":2}"#)
    }

    @Test func editsOnlyTouchTopLevelMembers() throws {
        let json = #"{"outer":{"model":"inner"},"model":"top"}"#
        #expect(try apply(json) { $0.set("model", string: "new") } == #"{"outer":{"model":"inner"},"model":"new"}"#)
    }

    @Test func bytesAroundTheObjectArePreserved() throws {
        let json = "\n  {\"a\":1,\"b\":2}  \n"
        #expect(try apply(json) { $0.remove("a") } == "\n  {\"b\":2}  \n")
        #expect(try apply(json) { $0.set("z", rawValue: bytes("0")) } == "\n  {\"z\":0,\"a\":1,\"b\":2}  \n")
    }

    @Test func isEmptyTracksPendingEdits() {
        var editor = JSONObjectEditor()
        #expect(editor.isEmpty)
        editor.remove("a")
        #expect(!editor.isEmpty)
        editor = JSONObjectEditor()
        editor.set("a", string: "b")
        #expect(!editor.isEmpty)
    }

    @Test func jsonTextQuotesAndEscapes() {
        #expect(JSONText.quotedString("plain") == #""plain""#)
        #expect(JSONText.quotedString("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSONText.quotedString("\n\r\t") == #""\n\r\t""#)
        #expect(JSONText.quotedString("\u{00}\u{1f}\u{08}") == #""\u0000\u001f\u0008""#)
        #expect(JSONText.quotedString("/ \u{7f} \u{e9} \u{1F600}") == "\"/ \u{7f} \u{e9} \u{1F600}\"")
        // What JSONText writes, the scanner reads back.
        let tricky = "q\"\\\n\u{0}\u{1F600}/"
        let quoted = JSONText.quoted(tricky)
        #expect(quoted.withUnsafeBytes { JSONObjectScan.decodeString($0, in: 0..<$0.count) } == tricky)
    }
}
