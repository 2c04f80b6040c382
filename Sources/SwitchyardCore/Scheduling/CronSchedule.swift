import Foundation

/// A standard 5-field cron expression: minute, hour, day of month, month, day of week.
///
/// Fields take `*`, numbers, names (`jan`…`dec`, `sun`…`sat`), lists (`1,15`), ranges (`1-5`) and steps (`*/15`,
/// `0-30/10`, `5/15`). Day of week 0 and 7 are both Sunday. As in Vixie cron, when both day fields are restricted a
/// day matches if *either* matches; a field that starts with `*` counts as unrestricted. `@hourly`, `@daily`,
/// `@midnight`, `@weekly`, `@monthly`, `@yearly` and `@annually` are accepted as shorthands.
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    public let expression: String
    let minutes: UInt64
    let hours: UInt64
    let daysOfMonth: UInt64
    let months: UInt64
    /// Bits 0…6, Sunday = 0 (a 7 in the expression is folded into 0).
    let daysOfWeek: UInt64
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    public var description: String { expression }

    public static let daily = try! CronSchedule("0 0 * * *")

    public init(_ expression: String) throws(CronError) {
        let trimmed = expression.trimmingCharacters(in: .whitespaces)
        let expanded: String
        switch trimmed.lowercased() {
        case "@hourly": expanded = "0 * * * *"
        case "@daily", "@midnight": expanded = "0 0 * * *"
        case "@weekly": expanded = "0 0 * * 0"
        case "@monthly": expanded = "0 0 1 * *"
        case "@yearly", "@annually": expanded = "0 0 1 1 *"
        default: expanded = trimmed
        }
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw CronError("expected 5 fields (minute hour day-of-month month day-of-week), got \(fields.count)")
        }
        self.expression = trimmed
        minutes = try Self.parseField(fields[0], name: "minute", range: 0...59, names: [:])
        hours = try Self.parseField(fields[1], name: "hour", range: 0...23, names: [:])
        daysOfMonth = try Self.parseField(fields[2], name: "day-of-month", range: 1...31, names: [:])
        months = try Self.parseField(fields[3], name: "month", range: 1...12, names: Self.monthNames)
        var weekdays = try Self.parseField(fields[4], name: "day-of-week", range: 0...7, names: Self.dayNames)
        if weekdays & (1 << 7) != 0 { weekdays = (weekdays | 1) & ~(1 << 7) }
        daysOfWeek = weekdays
        dayOfMonthRestricted = !fields[2].hasPrefix("*")
        dayOfWeekRestricted = !fields[4].hasPrefix("*")
        guard (try? nextDate(after: Date(timeIntervalSince1970: 0), in: TimeZone(identifier: "UTC")!)) != nil else {
            throw CronError("'\(trimmed)' never matches a real date")
        }
    }

    private static let monthNames: [String: Int] = [
        "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
        "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
    ]
    private static let dayNames: [String: Int] = [
        "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
    ]

    private static func parseField(
        _ field: String, name: String, range: ClosedRange<Int>, names: [String: Int]
    ) throws(CronError) -> UInt64 {
        func value(_ token: Substring) throws(CronError) -> Int {
            if let number = Int(token) {
                guard range.contains(number) else {
                    throw CronError("\(name) value \(number) is outside \(range.lowerBound)-\(range.upperBound)")
                }
                return number
            }
            if let number = names[token.lowercased()] { return number }
            throw CronError("invalid \(name) value '\(token)'")
        }
        var bits: UInt64 = 0
        for item in field.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, !parts[0].isEmpty else { throw CronError("invalid \(name) field '\(field)'") }
            var step = 1
            if parts.count == 2 {
                guard let parsed = Int(parts[1]), parsed > 0 else {
                    throw CronError("invalid step '\(parts[1])' in \(name) field")
                }
                step = parsed
            }
            var low: Int
            var high: Int
            if parts[0] == "*" {
                low = range.lowerBound
                high = range.upperBound
            } else if let dash = parts[0].firstIndex(of: "-") {
                low = try value(parts[0][..<dash])
                high = try value(parts[0][parts[0].index(after: dash)...])
                guard low <= high else { throw CronError("\(name) range \(low)-\(high) is backwards") }
            } else {
                low = try value(parts[0])
                // "5/15" means from 5 to the end in steps of 15.
                high = parts.count == 2 ? range.upperBound : low
            }
            for number in stride(from: low, through: high, by: step) { bits |= 1 << UInt64(number) }
        }
        return bits
    }

    /// The first time strictly after `date` that matches, evaluated in `timeZone`.
    ///
    /// Wall-clock times are walked in order. A time skipped by a daylight-saving jump fires at the moment the
    /// clock jumps to (e.g. 02:30 fires at 03:30 local); a time that occurs twice fires once, the first time.
    public func nextDate(after date: Date, in timeZone: TimeZone) throws(CronError) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let start = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        var year = start.year!
        var month = start.month!
        var day = start.day!
        var firstDay = true
        // Five years cover every satisfiable expression (Feb 29 recurs at least every 8 years, but a Feb-29
        // schedule that ORs in a weekday recurs much sooner; a pure "29 2" recurs within 4).
        for _ in 0..<(366 * 8) {
            if matchesDay(year: year, month: month, day: day) {
                for hour in 0..<24 where hours & (1 << UInt64(hour)) != 0 {
                    if firstDay && hour < start.hour! { continue }
                    for minute in 0..<60 where minutes & (1 << UInt64(minute)) != 0 {
                        var components = DateComponents()
                        components.year = year
                        components.month = month
                        components.day = day
                        components.hour = hour
                        components.minute = minute
                        guard let candidate = calendar.date(from: components) else { continue }
                        if candidate > date { return candidate }
                    }
                }
            }
            firstDay = false
            day += 1
            if day > Self.daysIn(month: month, year: year) {
                day = 1
                month += 1
                if month > 12 {
                    month = 1
                    year += 1
                }
            }
        }
        throw CronError("'\(expression)' never matches a real date")
    }

    private func matchesDay(year: Int, month: Int, day: Int) -> Bool {
        guard months & (1 << UInt64(month)) != 0 else { return false }
        let domMatch = daysOfMonth & (1 << UInt64(day)) != 0
        let dowMatch = daysOfWeek & (1 << UInt64(Self.weekday(year: year, month: month, day: day))) != 0
        if dayOfMonthRestricted && dayOfWeekRestricted { return domMatch || dowMatch }
        return domMatch && dowMatch
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Day of week for a Gregorian date, Sunday = 0 (Sakamoto's method).
    static func weekday(year: Int, month: Int, day: Int) -> Int {
        let offsets = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4]
        let y = month < 3 ? year - 1 : year
        return (y + y / 4 - y / 100 + y / 400 + offsets[month - 1] + day) % 7
    }
}

public struct CronError: Error, Equatable, CustomStringConvertible {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
