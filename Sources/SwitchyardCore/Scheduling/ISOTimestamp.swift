import Foundation

/// ISO-8601 date and time written by hand into bytes: `ISO8601DateFormatter` and `String(format:)` cost tens to
/// hundreds of thousands of instructions each, and the gateway writes a timestamp into every log line and every
/// saved usage file.
public enum ISOTimestamp {
    /// Appends `2026-11-22T03:12:00`, the UTC date and time `seconds` after 1970 (shift `seconds` by a zone's
    /// offset for that zone's wall-clock time).
    public static func appendDateTime(seconds: Int, to bytes: inout [UInt8]) {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        appendDigits(Int(parts.tm_year) + 1900, count: 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendDigits(Int(parts.tm_mon) + 1, count: 2, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendDigits(Int(parts.tm_mday), count: 2, to: &bytes)
        bytes.append(UInt8(ascii: "T"))
        appendDigits(Int(parts.tm_hour), count: 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        appendDigits(Int(parts.tm_min), count: 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        appendDigits(Int(parts.tm_sec), count: 2, to: &bytes)
    }

    /// Appends the last `count` decimal digits of a non-negative `value`, zero-padded.
    public static func appendDigits(_ value: Int, count: Int, to bytes: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<max(count, 1) { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }
}
