// JSONEdit fuzzes the JSON object scanner and the field editor. Invariants: the scanner agrees with Foundation's
// parser on which documents are JSON objects (apart from its nesting cap of 256, the trailing commas Foundation lets
// through, and what RFC 8259 allows but Foundation refuses: surrogate escapes and numbers beyond Double); the same
// document scans the same from an array and from a ByteBuffer that does not start at index 0; members lie in order
// inside the object and each value range holds one value of the reported kind; and after a plan of sets and
// removals read from the input, the editor's output is again a JSON object whose members are exactly the original
// ones minus the removed keys, with the set keys holding their new values (new keys first), every untouched member
// byte-identical and in order, and the bytes around the object unchanged.
import Foundation
import NIOCore
@testable import SwitchyardCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONEdit(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let plan = input.byte()
    let pick = Int(input.byte())
    let stringLength = Int(input.byte() % 32)
    let stringBytes = (0..<stringLength).map { _ in input.byte() }
    let document = input.rest()

    let scan = try? JSONObjectScan(document)
    let foundationReads = checkAgainstFoundation(document, scanned: scan != nil)
    guard let scan else { return 0 }
    checkMembers(scan, document)

    var shifted = ByteBuffer(bytes: [0x20, 0x7B] + document)
    shifted.moveReaderIndex(forwardBy: 2)
    let fromBuffer = try? JSONObjectScan(shifted)
    check(
        fromBuffer?.members == scan.members && fromBuffer?.objectStart == scan.objectStart
            && fromBuffer?.objectEnd == scan.objectEnd,
        "a ByteBuffer scan differs from the array scan")

    // The plan: each bit one edit, applied in this order; the model below records what each key should end up as.
    var editor = JSONObjectEditor()
    var expected: [String: [UInt8]?] = [:]  // nil: removed
    var setOrder: [String] = []
    func set(_ key: String, _ raw: [UInt8]) {
        editor.set(key, rawValue: raw)
        expected[key] = .some(raw)
        setOrder.removeAll { $0 == key }
        setOrder.append(key)
    }
    func remove(_ key: String) {
        editor.remove(key)
        expected[key] = .some(nil)
        setOrder.removeAll { $0 == key }
    }
    let existingKey = scan.members.isEmpty ? "model" : scan.members[pick % scan.members.count].key
    let text = String(decoding: stringBytes, as: UTF8.self)
    if plan & 1 != 0 {
        editor.set("model", string: text)
        expected["model"] = .some(JSONText.quoted(text))
        setOrder.removeAll { $0 == "model" }
        setOrder.append("model")
    }
    if plan & 2 != 0 { set("stream", Array((plan & 32 != 0 ? "true" : "false").utf8)) }
    if plan & 4 != 0 { remove("stream_options") }
    if plan & 8 != 0 { remove(existingKey) }
    if plan & 16 != 0 { set(existingKey, Array(#"{"include_usage":true}"#.utf8)) }
    if plan & 64 != 0 { set(text, Array("[]".utf8)) }
    if plan & 128 != 0 { remove(text) }

    let output = document.withUnsafeBytes { editor.apply(to: $0, scan: scan) }
    guard let edited = try? JSONObjectScan(output) else {
        check(false, "edited output is not a JSON object: \(preview(output))")
        return 0
    }
    if foundationReads { check(foundationObject(output) != nil, "Foundation refuses the edit of a document it read") }

    var wanted: [(String, [UInt8])] = []
    for key in setOrder where !scan.members.contains(where: { $0.key == key }) {
        wanted.append((key, expected[key]!!))
    }
    for member in scan.members {
        switch expected[member.key] {
        case .some(.none): continue
        case .some(.some(let raw)): wanted.append((member.key, raw))
        case .none: wanted.append((member.key, Array(document[member.valueRange])))
        }
    }
    let got = edited.members.map { ($0.key, Array(output[$0.valueRange])) }
    check(
        got.count == wanted.count && zip(got, wanted).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 },
        "edited members \(got.map(\.0)) differ from the expected \(wanted.map(\.0))")
    check(output[..<edited.objectStart] == document[..<scan.objectStart], "bytes before the object changed")
    check(output[edited.objectEnd...] == document[scan.objectEnd...], "bytes after the object changed")
    if plan & 1 != 0, expected["model"] == .some(JSONText.quoted(text)), let model = edited.member("model") {
        let decoded = output.withUnsafeBytes { JSONObjectScan.decodeString($0, in: model.valueRange) }
        check(decoded == text, "the quoted model does not decode to the string set")
    }
    return 0
}

/// The scanner accepts exactly the objects Foundation's parser accepts, allowing for their documented differences;
/// returns whether Foundation read the document.
private func checkAgainstFoundation(_ document: [UInt8], scanned: Bool) -> Bool {
    let foundation = foundationObject(document) != nil
    if scanned && !foundation {
        check(hasSurrogateEscape(document) || hasNumberBeyondDouble(document), "scanned, but Foundation refuses \(preview(document))")
    }
    // Foundation also reads UTF-16 and UTF-32 (told by NULs or a BOM) and would see an object where UTF-8 has none.
    if foundation && !scanned && !document.contains(0) && !document.starts(with: [0xEF, 0xBB, 0xBF]) {
        check(
            nestingDepth(document) > JSONObjectScan.maximumDepth || hasTrailingComma(document),
            "Foundation reads an object the scanner refuses: \(preview(document))")
    }
    return foundation
}

/// Checks each member's place and kind; values are re-read on their own.
private func checkMembers(_ scan: JSONObjectScan, _ document: [UInt8]) {
    check(document[scan.objectStart] == UInt8(ascii: "{") && document[scan.objectEnd - 1] == UInt8(ascii: "}"), "object bounds")
    var previousEnd = scan.objectStart + 1
    document.withUnsafeBytes { bytes in
        for member in scan.members {
            check(previousEnd <= member.keyStart && member.keyStart < member.valueStart, "members out of order")
            check(member.valueStart < member.valueEnd && member.valueEnd < scan.objectEnd, "value outside the object")
            previousEnd = member.valueEnd
            let value = document[member.valueRange]
            switch member.kind {
            case .object:
                check((try? JSONObjectScan.scanObject(bytes, in: member.valueRange)) != nil, "an object member does not re-scan")
            case .array: check(value.first == UInt8(ascii: "[") && value.last == UInt8(ascii: "]"), "array bounds")
            case .string: check(JSONObjectScan.decodeString(bytes, in: member.valueRange) != nil, "a string member does not decode")
            case .number: check(Double(String(decoding: value, as: UTF8.self)) != nil, "a number member is not a number")
            case .true: check(value.elementsEqual("true".utf8), "true")
            case .false: check(value.elementsEqual("false".utf8), "false")
            case .null: check(value.elementsEqual("null".utf8), "null")
            }
        }
    }
}

/// Calls `body` with the index of every byte outside string literals.
private func forEachByteOutsideStrings(_ document: [UInt8], _ body: (Int) -> Void) {
    var inString = false
    var escaped = false
    for (index, byte) in document.enumerated() {
        if inString {
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inString = false
            }
        } else if byte == UInt8(ascii: "\"") {
            inString = true
        } else {
            body(index)
        }
    }
}

/// The deepest nesting of brackets outside strings.
private func nestingDepth(_ document: [UInt8]) -> Int {
    var depth = 0
    var deepest = 0
    forEachByteOutsideStrings(document) { index in
        switch document[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            depth += 1
            deepest = max(deepest, depth)
        case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
        default: break
        }
    }
    return deepest
}

/// Whether a `,` is followed (after whitespace) by `}` or `]`: Foundation lets such trailing commas through.
private func hasTrailingComma(_ document: [UInt8]) -> Bool {
    var lastSignificant: UInt8 = 0
    var found = false
    forEachByteOutsideStrings(document) { index in
        let byte = document[index]
        if [0x20, 0x09, 0x0A, 0x0D].contains(byte) { return }
        if lastSignificant == UInt8(ascii: ","), byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { found = true }
        lastSignificant = byte
    }
    return found
}

/// Whether the text holds a `\uD800`…`\uDFFF` escape (a surrogate, lone or paired).
private func hasSurrogateEscape(_ document: [UInt8]) -> Bool {
    let surrogateDigits = Set("89abcdefABCDEF".utf8)
    return document.indices.dropLast(3).contains { index in
        document[index] == UInt8(ascii: "\\") && document[index + 1] == UInt8(ascii: "u")
            && (document[index + 2] | 0x20) == UInt8(ascii: "d") && surrogateDigits.contains(document[index + 3])
    }
}

/// Whether a number token's magnitude overflows a Double (Foundation refuses those; the grammar does not).
private func hasNumberBeyondDouble(_ document: [UInt8]) -> Bool {
    let numberBytes = Set("+-.0123456789eE".utf8)
    var tokenEnd = 0
    var found = false
    forEachByteOutsideStrings(document) { index in
        guard index >= tokenEnd, document[index] == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(document[index])
        else { return }
        tokenEnd = index
        while tokenEnd < document.count, numberBytes.contains(document[tokenEnd]) { tokenEnd += 1 }
        if let value = Double(String(decoding: document[index..<tokenEnd], as: UTF8.self)), !value.isFinite { found = true }
    }
    return found
}
