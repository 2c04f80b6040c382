// CronParser fuzzes cron expressions (the input as text, invalid UTF-8 repaired). Invariants: parsing either throws
// a CronError with a message or gives a schedule that keeps the trimmed expression; for a schedule, the next run
// after a few instants taken from the input, in UTC and in zones with DST gaps and 30-minute shifts, is strictly
// later and within the eight years the search covers; in UTC it falls on a whole minute whose minute, hour, month
// and day fields match, nothing matches between one minute before it and it (asking from a second before gives it
// again), and the runs increase.
import Foundation
@testable import SwitchyardCore

private let utc = TimeZone(identifier: "UTC")!
private let zones = [utc, TimeZone(identifier: "America/New_York")!, TimeZone(identifier: "Australia/Lord_Howe")!]
private var utcCalendar: Calendar = {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = utc
    return calendar
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCronParser(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let instantSeed = UInt64(input.byte()) << 8 | UInt64(input.byte())
    let expression = String(decoding: input.rest(), as: UTF8.self)
    let schedule: CronSchedule
    do {
        schedule = try CronSchedule(expression)
    } catch {
        check(!error.message.isEmpty, "a CronError without a message")
        return 0
    }
    check(schedule.expression == expression.trimmingCharacters(in: .whitespaces), "the schedule does not keep its expression")

    // Instants from 1970 to about 2100, some on the minute.
    let instants = [0.0, Double(instantSeed) * 60_000, Double(instantSeed) * 61_001.5]
    for zone in zones {
        for instant in instants {
            let after = Date(timeIntervalSince1970: instant)
            guard let next = try? schedule.nextDate(after: after, in: zone) else {
                check(false, "'\(expression)' parsed but has no run after \(after) in \(zone.identifier)")
                return 0
            }
            check(next > after && next.timeIntervalSince(after) <= 8 * 366 * 86_400, "run \(next) not within 8 years after \(after)")
            guard zone == utc else { continue }
            checkMatches(schedule, next, expression)
            check(next.timeIntervalSince1970.truncatingRemainder(dividingBy: 60) == 0, "a run off the minute")
            let again = try? schedule.nextDate(after: next.addingTimeInterval(-1), in: zone)
            check(again == next, "asking a second before the run \(next) gives \(String(describing: again))")
            let following = try? schedule.nextDate(after: next, in: zone)
            check(following.map { $0 > next } ?? false, "the run after \(next) is not later")
        }
    }
    return 0
}

/// The run's minute, hour and month are in the schedule, and its day matches as Vixie cron decides.
private func checkMatches(_ schedule: CronSchedule, _ run: Date, _ expression: String) {
    let parts = utcCalendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: run)
    let bit = { (set: UInt64, value: Int) in set & (1 << UInt64(value)) != 0 }
    check(bit(schedule.minutes, parts.minute!) && bit(schedule.hours, parts.hour!) && bit(schedule.months, parts.month!),
          "'\(expression)' ran at \(run), whose minute, hour or month is not in it")
    let dayOfMonth = bit(schedule.daysOfMonth, parts.day!)
    let dayOfWeek = bit(schedule.daysOfWeek, parts.weekday! - 1)
    let day = schedule.dayOfMonthRestricted && schedule.dayOfWeekRestricted ? dayOfMonth || dayOfWeek : dayOfMonth && dayOfWeek
    check(day, "'\(expression)' ran at \(run), a day it does not match")
}
