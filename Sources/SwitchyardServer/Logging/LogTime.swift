import Foundation
import NIOConcurrencyHelpers
import SwitchyardCore

/// UTC timestamps with milliseconds, e.g. `2026-11-22T03:12:00.123Z`. The part up to the second is kept from the
/// last line: most lines fall in the same second as the one before.
enum LogTime {
    private static let lastSecond = NIOLockedValueBox<(second: Int, text: [UInt8])>((-1, []))

    static func appendNow(to bytes: inout [UInt8]) {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        append(seconds: time.tv_sec, milliseconds: Int(time.tv_nsec / 1_000_000), to: &bytes)
    }

    static func append(_ date: Date, to bytes: inout [UInt8]) {
        let interval = date.timeIntervalSince1970
        let seconds = interval.rounded(.down)
        append(seconds: Int(seconds), milliseconds: Int((interval - seconds) * 1000), to: &bytes)
    }

    private static func append(seconds: Int, milliseconds: Int, to bytes: inout [UInt8]) {
        bytes += lastSecond.withLockedValue { last in
            if last.second != seconds {
                last.second = seconds
                last.text.removeAll(keepingCapacity: true)
                ISOTimestamp.appendDateTime(seconds: seconds, to: &last.text)
            }
            return last.text
        }
        bytes.append(UInt8(ascii: "."))
        ISOTimestamp.appendDigits(milliseconds, count: 3, to: &bytes)
        bytes.append(UInt8(ascii: "Z"))
    }
}
