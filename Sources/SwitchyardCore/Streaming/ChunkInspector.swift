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

    /// The largest count one request may report; an upstream claiming more is not believed (the request is then
    /// counted by estimate), so no sum of counts can overflow.
    public static let maximumCount = 10_000_000_000

    /// Reads an OpenAI `usage` object (`prompt_tokens`, `completion_tokens`, `total_tokens`); nil when it has none
    /// of them as whole numbers, or when one of them is above `maximumCount`.
    public init?(usageObject bytes: UnsafeRawBufferPointer) {
        guard let scan = try? JSONObjectScan.scanObject(bytes, in: 0..<bytes.count) else { return nil }
        var unbelievable = false
        func count(_ key: String) -> Int? {
            guard let member = scan.member(key), member.kind == .number else { return nil }
            var value = 0
            for byte in bytes[member.valueRange] {
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                if value > Self.maximumCount {
                    unbelievable = true
                    return nil
                }
            }
            return value
        }
        let prompt = count("prompt_tokens")
        let completion = count("completion_tokens")
        let total = count("total_tokens")
        guard !unbelievable, prompt != nil || completion != nil || total != nil else { return nil }
        self.init(promptTokens: prompt ?? 0, completionTokens: completion ?? 0, totalTokens: total)
    }

    /// The `usage` member of a JSON object (a whole response or one stream chunk), if it is a usable object.
    public init?(inResponse bytes: UnsafeRawBufferPointer) {
        guard let scan = try? JSONObjectScan.scanObject(bytes, in: 0..<bytes.count) else { return nil }
        self.init(in: scan, of: bytes)
    }

    /// The `usage` member of an object already scanned.
    public init?(in scan: JSONObjectScan, of bytes: UnsafeRawBufferPointer) {
        guard let member = scan.member("usage"), member.kind == .object else { return nil }
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
    /// Whether the chunk carries part of the answer: text, reasoning, a refusal, a tool call, a finish reason or
    /// usage, or `[DONE]`. A role-only chunk or empty deltas do not, so a stream can still fail over after them.
    public var carriesAnswer: Bool {
        isDone || generatedBytes > 0 || hasFinishReason || usage != nil || mentionsOtherAnswerParts
    }
    private var mentionsOtherAnswerParts = false

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
            if generatedBytes == 0 && !hasFinishReason {
                // A tool call's first chunk names its function (arguments may come later); `"tool_calls": null`
                // in a role chunk carries nothing.
                mentionsOtherAnswerParts =
                    Self.stringValueBytes(bytes, key: #""name""#) > 0 || Self.stringValueBytes(bytes, key: #""reasoning_content""#) > 0
                    || Self.stringValueBytes(bytes, key: #""reasoning""#) > 0 || Self.stringValueBytes(bytes, key: #""refusal""#) > 0
            }
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

    /// Azure's prompt-filter chunk: `choices` empty and `prompt_filter_results` set, nothing for a client.
    public static func isPromptFilterOnly(_ data: ByteBuffer) -> Bool {
        data.withUnsafeReadableBytes { bytes in
            guard bytes.firstRange(of: #""prompt_filter_results""#) != nil,
                let scan = try? JSONObjectScan.scanObject(bytes, in: 0..<bytes.count),
                let choices = scan.member("choices")
            else { return false }
            return choices.kind == .array && isEmptyArray(bytes, choices.valueRange)
        }
    }

    /// Whether some `"key": value` with a non-null value occurs (at any depth).
    static func hasNonNullValue(_ bytes: UnsafeRawBufferPointer, key: StaticString) -> Bool {
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
    static func stringValueBytes(_ bytes: UnsafeRawBufferPointer, key: StaticString) -> Int {
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
    /// The first occurrence of `pattern`'s UTF-8 bytes at or after `start`. Candidates are found with `memchr` on the
    /// pattern's second byte (its first, a quote, is everywhere in JSON) and confirmed with `memcmp`.
    func firstRange(of pattern: StaticString, from start: Int = 0) -> Range<Int>? {
        let length = pattern.utf8CodeUnitCount
        guard length >= 2, let base = baseAddress, start + length <= count else { return nil }
        let needle = pattern.utf8Start
        var candidate = start + 1
        while candidate + length - 1 <= count,
            let found = memchr(base + candidate, Int32(needle[1]), count - candidate - (length - 2))
        {
            let offset = base.distance(to: UnsafeRawPointer(found)) - 1
            if memcmp(base + offset, needle, length) == 0 { return offset..<(offset + length) }
            candidate = offset + 2
        }
        return nil
    }
}
