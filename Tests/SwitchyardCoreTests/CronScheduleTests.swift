import Foundation
import Testing
@testable import SwitchyardCore

/// The 5-field cron schedules that reset provider quotas.
@Suite struct CronScheduleTests {
    let utc = TimeZone(identifier: "UTC")!
    let newYork = TimeZone(identifier: "America/New_York")!
    let berlin = TimeZone(identifier: "Europe/Berlin")!

    func bits(_ mask: UInt64) -> [Int] { (0..<64).filter { mask & (1 << UInt64($0)) != 0 } }

    func cron(_ expression: String) throws -> CronSchedule { try CronSchedule(expression) }

    func next(_ expression: String, after date: Date, in zone: TimeZone? = nil) throws -> Date {
        try CronSchedule(expression).nextDate(after: date, in: zone ?? utc)
    }

    /// The first `count` firings after `date`.
    func firings(_ expression: String, after date: Date, count: Int, in zone: TimeZone? = nil) throws -> [Date] {
        let schedule = try CronSchedule(expression)
        var result: [Date] = []
        var cursor = date
        for _ in 0..<count {
            cursor = try schedule.nextDate(after: cursor, in: zone ?? utc)
            result.append(cursor)
        }
        return result
    }

    func cronError(_ expression: String) -> CronError? {
        do {
            _ = try CronSchedule(expression)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Parsing

    @Test func listsRangesAndSteps() throws {
        #expect(bits(try cron("0,15,30,45 * * * *").minutes) == [0, 15, 30, 45])
        #expect(bits(try cron("1-5 * * * *").minutes) == [1, 2, 3, 4, 5])
        #expect(bits(try cron("*/15 * * * *").minutes) == [0, 15, 30, 45])
        #expect(bits(try cron("0-30/10 * * * *").minutes) == [0, 10, 20, 30])
        #expect(bits(try cron("5/15 * * * *").minutes) == [5, 20, 35, 50])
        #expect(bits(try cron("1,10-12,*/20 * * * *").minutes) == [0, 1, 10, 11, 12, 20, 40])
        #expect(bits(try cron("* */6 * * *").hours) == [0, 6, 12, 18])
        #expect(bits(try cron("* * */10 * *").daysOfMonth) == [1, 11, 21, 31])
        #expect(bits(try cron("* * * */3 *").months) == [1, 4, 7, 10])
        #expect(bits(try cron("* * * * *").minutes) == Array(0...59))
        #expect(bits(try cron("* * * * *").daysOfWeek) == Array(0...6))
        #expect(bits(try cron("59 23 31 12 6").minutes) == [59])
    }

    @Test func monthAndDayNamesInAnyCase() throws {
        let schedule = try cron("0 0 * jan,JUL mon-Fri")
        #expect(bits(schedule.months) == [1, 7])
        #expect(bits(schedule.daysOfWeek) == [1, 2, 3, 4, 5])
        #expect(bits(try cron("0 0 * Dec sun,sat").daysOfWeek) == [0, 6])
        #expect(bits(try cron("0 0 * feb-apr *").months) == [2, 3, 4])
    }

    @Test func sevenIsSunday() throws {
        #expect(bits(try cron("0 0 * * 7").daysOfWeek) == [0])
        #expect(bits(try cron("0 0 * * 0").daysOfWeek) == [0])
        #expect(bits(try cron("0 0 * * 5-7").daysOfWeek) == [0, 5, 6])
        #expect(bits(try cron("0 0 * * 0,7").daysOfWeek) == [0])
    }

    @Test func shorthands() throws {
        let pairs = [
            ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@weekly", "0 0 * * 0"),
            ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@DAILY", "0 0 * * *"),
        ]
        for (shorthand, expanded) in pairs {
            let short = try cron(shorthand)
            let long = try cron(expanded)
            #expect(short.expression == shorthand)
            #expect(short.minutes == long.minutes && short.hours == long.hours, "\(shorthand)")
            #expect(short.daysOfMonth == long.daysOfMonth && short.months == long.months, "\(shorthand)")
            #expect(short.daysOfWeek == long.daysOfWeek, "\(shorthand)")
            #expect(short.dayOfMonthRestricted == long.dayOfMonthRestricted, "\(shorthand)")
            #expect(short.dayOfWeekRestricted == long.dayOfWeekRestricted, "\(shorthand)")
        }
    }

    @Test func extraWhitespaceIsAllowed() throws {
        let schedule = try cron("  0   0\t* *  * ")
        #expect(schedule.expression == "0   0\t* *  *")
        #expect(schedule == (try cron("  0   0\t* *  * ")))
        #expect(bits(schedule.hours) == [0])
        #expect(schedule.description == schedule.expression)
    }

    @Test(arguments: [
        "", "0 0 * *", "0 0 * * * *", "@reboot", "@every 5m",
        "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *", "* * * 0 *", "* * * 13 *", "* * * * 8", "-1 * * * *",
        "*/0 * * * *", "*/x * * * *", "*/-5 * * * *", "1/ * * * *", "*/5/2 * * * *",
        "5-1 * * * *", "* * * dec-jan *", "* * * * fri-mon",
        "a * * * *", "* * * foo *", "* * * * funday", "1,,2 * * * *", ",1 * * * *", "1- * * * *", "-5 * * * *",
        "* * L * *", "* * * * 5#2", "? * * * *",
        "0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *",
    ])
    func invalidExpressionsAreRejected(expression: String) {
        #expect(cronError(expression) != nil, "'\(expression)' should be rejected")
    }

    @Test func rejectionMessagesSayWhatIsWrong() {
        #expect(cronError("0 0 * *")?.message == "expected 5 fields (minute hour day-of-month month day-of-week), got 4")
        #expect(cronError("60 * * * *")?.message == "minute value 60 is outside 0-59")
        #expect(cronError("* * * 13 *")?.message == "month value 13 is outside 1-12")
        #expect(cronError("*/0 * * * *")?.message == "invalid step '0' in minute field")
        #expect(cronError("5-1 * * * *")?.message == "minute range 5-1 is backwards")
        #expect(cronError("* * * * funday")?.message == "invalid day-of-week value 'funday'")
        #expect(cronError("0 0 31 2 *")?.message == "'0 0 31 2 *' never matches a real date")
    }

    @Test func february29IsAValidSchedule() throws {
        #expect(throws: Never.self) { try CronSchedule("0 0 29 2 *") }
    }

    // MARK: Next date in UTC

    @Test func hourly() throws {
        #expect(try next("0 * * * *", after: utcDate(2026, 5, 4, 10, 15)) == utcDate(2026, 5, 4, 11, 0))
        #expect(try next("0 * * * *", after: utcDate(2026, 5, 4, 11, 0)) == utcDate(2026, 5, 4, 12, 0), "strictly after")
        #expect(try next("0 * * * *", after: utcDate(2026, 5, 4, 10, 59, 59)) == utcDate(2026, 5, 4, 11, 0))
        #expect(try next("@hourly", after: utcDate(2026, 12, 31, 23, 30)) == utcDate(2027, 1, 1, 0, 0))
    }

    @Test func daily() throws {
        #expect(try next("0 0 * * *", after: utcDate(2026, 1, 31, 23, 59, 30)) == utcDate(2026, 2, 1))
        #expect(try next("0 0 * * *", after: utcDate(2026, 2, 1)) == utcDate(2026, 2, 2))
        #expect(try next("30 18 * * *", after: utcDate(2026, 2, 1, 18, 30, 1)) == utcDate(2026, 2, 2, 18, 30))
        #expect(
            try firings("0 0 * * *", after: utcDate(2026, 12, 30, 12), count: 3)
                == [utcDate(2026, 12, 31), utcDate(2027, 1, 1), utcDate(2027, 1, 2)])
    }

    @Test func everyThirtyMinutes() throws {
        #expect(try next("*/30 * * * *", after: utcDate(2026, 7, 1, 10, 0)) == utcDate(2026, 7, 1, 10, 30))
        #expect(try next("*/30 * * * *", after: utcDate(2026, 7, 1, 10, 29, 59)) == utcDate(2026, 7, 1, 10, 30))
        #expect(try next("*/30 * * * *", after: utcDate(2026, 7, 1, 10, 30)) == utcDate(2026, 7, 1, 11, 0))
        #expect(
            try firings("*/30 * * * *", after: utcDate(2026, 7, 1, 23, 10), count: 3)
                == [utcDate(2026, 7, 1, 23, 30), utcDate(2026, 7, 2, 0, 0), utcDate(2026, 7, 2, 0, 30)])
    }

    @Test func sundayZeroFiresOnASunday() throws {
        // The seed's APScheduler numbering made "0 0 * * 0" fire on Mondays.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        let start = utcDate(2026, 1, 14)  // a Wednesday
        let dates = try firings("0 0 * * 0", after: start, count: 60)
        #expect(dates.first == utcDate(2026, 1, 18))
        for date in dates {
            #expect(calendar.component(.weekday, from: date) == 1, "\(iso(date)) is not a Sunday")
            #expect(calendar.component(.hour, from: date) == 0 && calendar.component(.minute, from: date) == 0)
        }
        for (earlier, later) in zip(dates, dates.dropFirst()) {
            #expect(later.timeIntervalSince(earlier) == 7 * 86_400)
        }
        #expect(try firings("0 0 * * 7", after: start, count: 60) == dates)
        #expect(try firings("@weekly", after: start, count: 60) == dates)
        #expect(try next("0 0 * * sun", after: start) == utcDate(2026, 1, 18))
    }

    @Test func weekdayNumbersMatchTheCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        var date = utcDate(1999, 1, 1)
        for _ in 0..<(366 * 12) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: date)
            #expect(
                CronSchedule.weekday(year: parts.year!, month: parts.month!, day: parts.day!) == parts.weekday! - 1,
                "\(iso(date))")
            date.addTimeInterval(86_400 * 3 + 3_600)  // wanders through days and weekdays
        }
    }

    @Test func everyDayOfTheWeekFiresOnThatDay() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        for weekday in 0...6 {
            for date in try firings("15 3 * * \(weekday)", after: utcDate(2026, 2, 20), count: 10) {
                #expect(calendar.component(.weekday, from: date) == weekday + 1)
            }
        }
    }

    // MARK: Month ends and leap years

    @Test func the31stSkipsShortMonths() throws {
        #expect(
            try firings("0 0 31 * *", after: utcDate(2026, 1, 1), count: 7) == [
                utcDate(2026, 1, 31), utcDate(2026, 3, 31), utcDate(2026, 5, 31), utcDate(2026, 7, 31), utcDate(2026, 8, 31),
                utcDate(2026, 10, 31), utcDate(2026, 12, 31),
            ])
        #expect(try next("0 0 30 * *", after: utcDate(2026, 1, 30)) == utcDate(2026, 3, 30))
        #expect(try next("0 0 1 * *", after: utcDate(2026, 1, 31)) == utcDate(2026, 2, 1))
    }

    @Test func february29OnlyInLeapYears() throws {
        #expect(try next("0 0 29 2 *", after: utcDate(2026, 3, 1)) == utcDate(2028, 2, 29))
        #expect(try next("0 0 29 2 *", after: utcDate(2028, 2, 29)) == utcDate(2032, 2, 29))
        // 2100 is not a leap year (divisible by 100, not by 400); 2000 was.
        #expect(try next("0 0 29 2 *", after: utcDate(2097, 3, 1)) == utcDate(2104, 2, 29))
        #expect(try next("0 0 29 2 *", after: utcDate(1999, 1, 1)) == utcDate(2000, 2, 29))
        #expect(try next("0 0 28 2 *", after: utcDate(2026, 3, 1)) == utcDate(2027, 2, 28))
        #expect(CronSchedule.daysIn(month: 2, year: 2024) == 29)
        #expect(CronSchedule.daysIn(month: 2, year: 2100) == 28)
        #expect(CronSchedule.daysIn(month: 2, year: 2000) == 29)
        #expect(CronSchedule.daysIn(month: 4, year: 2026) == 30)
    }

    @Test func monthlyAndYearly() throws {
        #expect(
            try firings("@monthly", after: utcDate(2026, 11, 15), count: 3) == [utcDate(2026, 12, 1), utcDate(2027, 1, 1), utcDate(2027, 2, 1)])
        #expect(try firings("@yearly", after: utcDate(2026, 1, 1), count: 2) == [utcDate(2027, 1, 1), utcDate(2028, 1, 1)])
    }

    // MARK: Day-of-month and day-of-week

    @Test func bothDayFieldsRestrictedMeansEither() throws {
        // "0 0 1 * 1": the 1st of every month OR every Monday (Vixie cron).
        let dates = try firings("0 0 1 * 1", after: utcDate(2026, 1, 1), count: 6)
        #expect(
            dates == [
                utcDate(2026, 1, 5), utcDate(2026, 1, 12), utcDate(2026, 1, 19), utcDate(2026, 1, 26), utcDate(2026, 2, 1),
                utcDate(2026, 2, 2),
            ])
    }

    @Test func aStarInOneDayFieldMeansBoth() throws {
        // Only the other field restricts the day.
        #expect(
            try firings("0 0 * * 1", after: utcDate(2026, 1, 1), count: 3)
                == [utcDate(2026, 1, 5), utcDate(2026, 1, 12), utcDate(2026, 1, 19)])
        #expect(
            try firings("0 0 1 * *", after: utcDate(2026, 1, 1), count: 2) == [utcDate(2026, 2, 1), utcDate(2026, 3, 1)])
        // A field starting with "*" counts as unrestricted even with a step: odd days that are also Mondays.
        #expect(
            try firings("0 0 */2 * 1", after: utcDate(2026, 1, 1), count: 3)
                == [utcDate(2026, 1, 5), utcDate(2026, 1, 19), utcDate(2026, 2, 9)])
        let schedule = try cron("0 0 */2 * 1")
        #expect(!schedule.dayOfMonthRestricted)
        #expect(schedule.dayOfWeekRestricted)
    }

    @Test func monthRestrictionAppliesToBothDayFields() throws {
        // The 13th or any Friday, in June only.
        let dates = try firings("0 0 13 6 5", after: utcDate(2026, 1, 1), count: 5)
        #expect(dates == [utcDate(2026, 6, 5), utcDate(2026, 6, 12), utcDate(2026, 6, 13), utcDate(2026, 6, 19), utcDate(2026, 6, 26)])
    }

    // MARK: Time zones and daylight saving

    @Test func midnightInAZoneWithoutDST() throws {
        let shanghai = TimeZone(identifier: "Asia/Shanghai")!
        #expect(try next("0 0 * * *", after: utcDate(2026, 1, 1), in: shanghai) == utcDate(2026, 1, 1, 16, 0))
        #expect(try next("0 0 * * *", after: utcDate(2026, 1, 1, 16, 0), in: shanghai) == utcDate(2026, 1, 2, 16, 0))
    }

    @Test func newYorkSpringForwardFiresAtTheJump() throws {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist that day; it fires at 03:30 EDT.
        let midnight = date(in: newYork, 2026, 3, 8)
        #expect(midnight == utcDate(2026, 3, 8, 5, 0))
        let dates = try firings("30 2 * * *", after: midnight, count: 3, in: newYork)
        #expect(dates.map(iso) == ["2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"])
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = newYork
        #expect(calendar.dateComponents([.day, .hour, .minute], from: dates[0]) == DateComponents(day: 8, hour: 3, minute: 30))
        // The day before, 02:30 EST exists.
        #expect(iso(try next("30 2 * * *", after: date(in: newYork, 2026, 3, 7), in: newYork)) == "2026-03-07T07:30:00Z")
    }

    @Test func newYorkFallBackFiresOnce() throws {
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens twice; it fires the first time only.
        let midnight = date(in: newYork, 2026, 11, 1)
        #expect(midnight == utcDate(2026, 11, 1, 4, 0))
        let dates = try firings("30 1 * * *", after: midnight, count: 3, in: newYork)
        #expect(dates.map(iso) == ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "2026-11-03T06:30:00Z"])
        // Asking again during the repeated hour does not fire the second 01:30.
        #expect(iso(try next("30 1 * * *", after: utcDate(2026, 11, 1, 6, 0), in: newYork)) == "2026-11-02T06:30:00Z")
        #expect(iso(try next("30 1 * * *", after: utcDate(2026, 11, 1, 6, 29), in: newYork)) == "2026-11-02T06:30:00Z")
    }

    @Test func newYorkMidnightAcrossDSTChanges() throws {
        let dates = try firings("0 0 * * *", after: utcDate(2026, 3, 7, 12), count: 2, in: newYork)
        #expect(dates.map(iso) == ["2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"])
        let fall = try firings("0 0 * * *", after: utcDate(2026, 10, 31, 12), count: 2, in: newYork)
        #expect(fall.map(iso) == ["2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"])
    }

    @Test func berlinSpringForwardAndFallBack() throws {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST.
        let spring = try firings("30 2 * * *", after: date(in: berlin, 2026, 3, 29), count: 2, in: berlin)
        #expect(spring.map(iso) == ["2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"])
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice and fires once.
        let fall = try firings("30 2 * * *", after: date(in: berlin, 2026, 10, 25), count: 2, in: berlin)
        #expect(fall.map(iso) == ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"])
        #expect(iso(try next("30 2 * * *", after: utcDate(2026, 10, 25, 1, 0), in: berlin)) == "2026-10-26T01:30:00Z")
    }

    @Test func hourlyAcrossSpringForwardSkipsTheMissingHourOnly() throws {
        let dates = try firings("0 * * * *", after: date(in: newYork, 2026, 3, 8, 0, 30), count: 3, in: newYork)
        // 01:00 EST, then 03:00 EDT (02:00 does not exist; its firing is the jump itself), then 04:00 EDT.
        #expect(dates.map(iso) == ["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"])
    }

    @Test func theDailyScheduleIsMidnight() {
        #expect(CronSchedule.daily.expression == "0 0 * * *")
        #expect(bits(CronSchedule.daily.minutes) == [0])
        #expect(bits(CronSchedule.daily.hours) == [0])
    }
}
