import Foundation
import NIOCore

/// Token counts of one request, as reported by the upstream or estimated.
public struct TokenUsage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
    /// True when the upstream reported nothing and the counts were estimated from characters.
    public var estimated: Bool

    public init(promptTokens: Int, completionTokens: Int, totalTokens: Int? = nil, estimated: Bool = false) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens ?? promptTokens + completionTokens
        self.estimated = estimated
    }

    /// Reads an OpenAI `usage` object (`prompt_tokens`, `completion_tokens`, `total_tokens`).
    public init?(usageObject bytes: UnsafeRawBufferPointer) {
        struct Payload: Decodable {
            var prompt_tokens: Int?
            var completion_tokens: Int?
            var total_tokens: Int?
        }
        guard let payload = try? JSONDecoder().decode(Payload.self, from: Data(bytes)),
            payload.prompt_tokens != nil || payload.completion_tokens != nil || payload.total_tokens != nil
        else { return nil }
        self.init(
            promptTokens: payload.prompt_tokens ?? 0,
            completionTokens: payload.completion_tokens ?? 0,
            totalTokens: payload.total_tokens
        )
    }

    /// The `usage` member of a JSON object (a whole response or one stream chunk), if it is a usable object.
    public init?(inResponse bytes: UnsafeRawBufferPointer) {
        guard let scan = try? JSONObjectScan.scanObject(bytes, in: 0..<bytes.count),
            let member = scan.member("usage"), member.kind == .object
        else { return nil }
        self.init(usageObject: UnsafeRawBufferPointer(rebasing: bytes[member.valueRange]))
    }

    public var jsonObject: [String: Any] {
        ["prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": totalTokens]
    }
}

/// What the relay needs to know about one OpenAI stream chunk, found with byte searches so that ordinary content
/// chunks are never parsed.
public struct ChunkInfo: Sendable, Equatable {
    public var isDone = false
    /// A `{"error": {…}}` or `{"error": "…"}` event (an upstream failing inside its stream).
    public var isError = false
    public var hasFinishReason = false
    public var usage: TokenUsage?
    /// The extra chunk `stream_options.include_usage` adds: `choices` empty, `usage` set.
    public var isUsageOnly = false
    /// `"usage": null`, which `include_usage` adds to every other chunk.
    public var hasNullUsage = false
    /// Bytes of generated text in the chunk (`content`, `text`, tool-call `arguments`), for estimating tokens when
    /// the upstream never reports usage.
    public var generatedBytes = 0

    public init(data: ByteBuffer) {
        if SSEEvent.isDone(data: data) {
            isDone = true
            return
        }
        data.withUnsafeReadableBytes { bytes in
            let mentionsUsage = bytes.firstRange(of: #""usage""#) != nil
            let mentionsError = bytes.firstRange(of: #""error""#) != nil
            hasFinishReason = Self.hasNonNullValue(bytes, key: #""finish_reason""#)
            generatedBytes = Self.stringValueBytes(bytes, key: #""content""#) + Self.stringValueBytes(bytes, key: #""text""#)
                + Self.stringValueBytes(bytes, key: #""arguments""#)
            guard mentionsUsage || mentionsError,
                let scan = try? JSONObjectScan.scanObject(bytes, in: 0..<bytes.count)
            else { return }
            let choices = scan.member("choices")
            if mentionsError, let error = scan.member("error"), error.kind == .object || error.kind == .string, choices == nil {
                isError = true
            }
            if mentionsUsage, let usageMember = scan.member("usage"), usageMember.kind == .null {
                hasNullUsage = true
            }
            if mentionsUsage, let usageMember = scan.member("usage"), usageMember.kind == .object {
                usage = TokenUsage(usageObject: UnsafeRawBufferPointer(rebasing: bytes[usageMember.valueRange]))
                if let choices, choices.kind == .array {
                    isUsageOnly = Self.isEmptyArray(bytes, choices.valueRange)
                } else {
                    isUsageOnly = choices == nil
                }
            }
        }
    }

    /// The chunk without its top-level `"usage": null` member (for clients that did not ask for usage).
    public static func removingNullUsage(_ data: ByteBuffer) -> [UInt8]? {
        data.withUnsafeReadableBytes { bytes in
            guard let scan = try? JSONObjectScan.scanObject(bytes, in: 0..<bytes.count),
                scan.member("usage")?.kind == .null
            else { return nil }
            var editor = JSONObjectEditor()
            editor.remove("usage")
            return editor.apply(to: bytes, scan: scan)
        }
    }

    /// Whether some `"key": value` with a non-null value occurs (at any depth).
    static func hasNonNullValue(_ bytes: UnsafeRawBufferPointer, key: String) -> Bool {
        var searchFrom = 0
        while let range = bytes.firstRange(of: key, from: searchFrom) {
            var index = range.upperBound
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
            if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
                index += 1
                while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
                if index < bytes.count, bytes[index] != UInt8(ascii: "n") { return true }
            }
            searchFrom = range.upperBound
        }
        return false
    }

    /// Total length of the string values of `key` (at any depth), counting each escape sequence as one byte.
    static func stringValueBytes(_ bytes: UnsafeRawBufferPointer, key: String) -> Int {
        var total = 0
        var searchFrom = 0
        while let range = bytes.firstRange(of: key, from: searchFrom) {
            var index = range.upperBound
            searchFrom = range.upperBound
            while index < bytes.count, bytes[index] == 0x20 { index += 1 }
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { continue }
            index += 1
            while index < bytes.count, bytes[index] == 0x20 { index += 1 }
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { continue }
            index += 1
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                total += 1
            }
            searchFrom = index
        }
        return total
    }

    static func isEmptyArray(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        bytes[range].allSatisfy { $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]") || $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
    }
}

extension UnsafeRawBufferPointer {
    /// The first occurrence of `pattern`'s UTF-8 bytes at or after `start`.
    func firstRange(of pattern: String, from start: Int = 0) -> Range<Int>? {
        let needle = Array(pattern.utf8)
        guard let first = needle.first, needle.count <= count else { return nil }
        var index = start
        let last = count - needle.count
        while index <= last {
            if self[index] == first {
                var matched = true
                for offset in 1..<needle.count where self[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return index..<(index + needle.count) }
            }
            index += 1
        }
        return nil
    }
}
