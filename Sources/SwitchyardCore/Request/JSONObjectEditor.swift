import NIOCore

/// Edits top-level members of a scanned JSON object by splicing bytes, leaving every other byte untouched.
public struct JSONObjectEditor {
    private var sets: [(key: String, rawValue: [UInt8])] = []
    private var removals: Set<String> = []

    public init() {}

    public var isEmpty: Bool { sets.isEmpty && removals.isEmpty }

    /// Sets `key` to the already-encoded JSON `rawValue`, replacing every existing member with that key or adding
    /// it at the start of the object.
    public mutating func set(_ key: String, rawValue: [UInt8]) {
        removals.remove(key)
        sets.removeAll { $0.key == key }
        sets.append((key, rawValue))
    }

    public mutating func set(_ key: String, string: String) {
        set(key, rawValue: JSONText.quoted(string))
    }

    public mutating func remove(_ key: String) {
        sets.removeAll { $0.key == key }
        removals.insert(key)
    }

    /// A native request body for a provider of the client's own API: `model` and `stream` set where they differ
    /// from what the client sent, every other byte unchanged.
    public static func nativeBody(
        _ body: ByteBuffer, scan: JSONObjectScan, model: (client: String, upstream: String),
        stream: (client: Bool, upstream: Bool)
    ) -> ByteBuffer {
        var editor = JSONObjectEditor()
        if model.upstream != model.client { editor.set("model", string: model.upstream) }
        if stream.upstream != stream.client {
            editor.set("stream", rawValue: Array((stream.upstream ? "true" : "false").utf8))
        }
        if editor.isEmpty { return body }
        return body.withUnsafeReadableBytes { ByteBuffer(bytes: editor.apply(to: $0, scan: scan)) }
    }

    /// Applies the edits to `bytes`, whose top-level object was described by `scan`.
    public func apply(to bytes: UnsafeRawBufferPointer, scan: JSONObjectScan) -> [UInt8] {
        var splices: [(range: Range<Int>, replacement: [UInt8])] = []
        let members = scan.members

        // Removals: each run of consecutive removed members goes with the comma that separated it.
        var index = 0
        var removedCount = 0
        while index < members.count {
            guard removals.contains(members[index].key) else {
                index += 1
                continue
            }
            let runStart = index
            while index < members.count, removals.contains(members[index].key) { index += 1 }
            let runEnd = index - 1
            removedCount += index - runStart
            if index < members.count {
                splices.append((members[runStart].keyStart..<members[index].keyStart, []))
            } else if runStart > 0 {
                splices.append((members[runStart - 1].valueEnd..<members[runEnd].valueEnd, []))
            } else {
                splices.append((members[runStart].keyStart..<members[runEnd].valueEnd, []))
            }
        }

        var insertion: [UInt8] = []
        for (key, rawValue) in sets {
            let existing = members.filter { $0.key == key }
            if existing.isEmpty {
                if !insertion.isEmpty { insertion.append(UInt8(ascii: ",")) }
                insertion += JSONText.quoted(key)
                insertion.append(UInt8(ascii: ":"))
                insertion += rawValue
            } else {
                for member in existing {
                    splices.append((member.valueRange, rawValue))
                }
            }
        }
        if !insertion.isEmpty {
            if members.count - removedCount > 0 { insertion.append(UInt8(ascii: ",")) }
            splices.append((scan.objectStart + 1..<scan.objectStart + 1, insertion))
        }

        // An insertion at the object's start sorts before a removal that begins at the same offset.
        splices.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + insertion.count + 64)
        var position = 0
        for splice in splices {
            output.append(contentsOf: bytes[position..<splice.range.lowerBound])
            output.append(contentsOf: splice.replacement)
            position = splice.range.upperBound
        }
        output.append(contentsOf: bytes[position..<bytes.count])
        return output
    }
}

/// Small helpers for writing JSON text by hand where building a value tree would be wasteful.
public enum JSONText {
    /// The JSON string literal for `string`, quotes included.
    public static func quoted(_ string: String) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(string.utf8.count + 2)
        appendQuoted(string, to: &output)
        return output
    }

    /// Appends the JSON string literal for `string`, quotes included.
    public static func appendQuoted(_ string: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        appendEscaped(string, to: &output)
        output.append(UInt8(ascii: "\""))
    }

    public static func appendEscaped(_ string: String, to output: inout [UInt8]) {
        // Most strings need no escaping: copy their bytes in one go.
        var string = string
        let copied = string.withUTF8 { bytes -> Bool in
            for byte in bytes where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                return false
            }
            output.append(contentsOf: bytes)
            return true
        }
        if copied { return }
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): output += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: output += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: output += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: output += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                output += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")]
                output += [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            default: output.append(byte)
            }
        }
    }

    /// The JSON string literal for `string`, as a Swift `String`.
    public static func quotedString(_ string: String) -> String {
        String(decoding: quoted(string), as: UTF8.self)
    }
}
