public import Foundation

/// RFC 3339 timestamps as the messages carry them: UTC, milliseconds,
/// `2019-10-28T22:05:36.250Z`.
///
/// Dates on the wire have millisecond precision. Decoding gives the `Date`
/// nearest the instant, computed from `Date`'s own reference date with one
/// rounding: `Date(timeIntervalSinceReferenceDate: Double(ms − 978_307_200_000) / 1000)`
/// for `ms` milliseconds since 1970. Encoding rounds to the nearest
/// millisecond. So a date made that way (as a store keeping milliseconds
/// should) survives a round trip exactly; finer precision does not.
///
/// Written with integer calendar arithmetic rather than a formatter: it is
/// exact, allocation-light, and the same on every platform.
public enum RFC3339 {
    /// The earliest and latest instants four-digit years can write.
    private static let millisecondRange: ClosedRange<Int64> = -62_167_219_200_000...253_402_300_799_999

    /// Formats `date` in UTC with milliseconds.
    ///
    /// Dates outside years 0000–9999 are clamped to that range.
    /// - Parameter date: The instant.
    /// - Returns: Text such as `2019-10-28T22:05:36.250Z`.
    public static func string(from date: Date) -> String {
        let exact = (date.timeIntervalSinceReferenceDate * 1000).rounded() + Double(referenceDateMilliseconds)
        let milliseconds: Int64
        if exact.isNaN {
            milliseconds = 0
        } else if exact <= Double(millisecondRange.lowerBound) {
            milliseconds = millisecondRange.lowerBound
        } else if exact >= Double(millisecondRange.upperBound) {
            milliseconds = millisecondRange.upperBound
        } else {
            milliseconds = Int64(exact)
        }
        let (days, millisecondOfDay) = floorDivide(milliseconds, 86_400_000)
        let (year, month, day) = civil(fromDays: days)
        let hour = millisecondOfDay / 3_600_000
        let minute = millisecondOfDay / 60_000 % 60
        let second = millisecondOfDay / 1000 % 60
        let millisecond = millisecondOfDay % 1000
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(millisecond, 3))Z"
    }

    /// Parses an RFC 3339 date-time: `T` or `t` between date and time, an
    /// optional fraction (digits past milliseconds are dropped), and `Z` or a
    /// `±hh:mm` offset. Leap seconds (`:60`) are not accepted.
    /// - Parameter text: The timestamp.
    /// - Returns: The instant, or nil when `text` is not such a timestamp.
    public static func date(from text: String) -> Date? {
        var scanner = Scanner(Array(text.utf8))
        guard let year = scanner.number(4), scanner.skip("-"),
            let month = scanner.number(2), scanner.skip("-"),
            let day = scanner.number(2), scanner.skip("T") || scanner.skip("t"),
            let hour = scanner.number(2), scanner.skip(":"),
            let minute = scanner.number(2), scanner.skip(":"),
            let second = scanner.number(2)
        else { return nil }
        var millisecond: Int64 = 0
        if scanner.skip(".") {
            var digits = 0
            while let digit = scanner.number(1) {
                if digits < 3 { millisecond = millisecond * 10 + digit }
                digits += 1
            }
            guard digits > 0 else { return nil }
            for _ in min(digits, 3)..<3 { millisecond *= 10 }
        }
        var offsetMinutes: Int64 = 0
        if scanner.skip("Z") || scanner.skip("z") {
            offsetMinutes = 0
        } else {
            let sign: Int64
            if scanner.skip("+") { sign = 1 } else if scanner.skip("-") { sign = -1 } else { return nil }
            guard let offsetHour = scanner.number(2), scanner.skip(":"), let offsetMinute = scanner.number(2),
                offsetHour < 24, offsetMinute < 60
            else { return nil }
            offsetMinutes = sign * (offsetHour * 60 + offsetMinute)
        }
        guard scanner.isAtEnd, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let days = days(fromYear: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        return date(millisecondsSince1970: seconds * 1000 + millisecond)
    }

    /// 2001-01-01T00:00:00Z, `Date`'s reference date, in milliseconds since 1970.
    private static let referenceDateMilliseconds: Int64 = 978_307_200_000

    /// The `Date` nearest `milliseconds` since 1970: one rounding, relative
    /// to the reference date `Date` stores.
    public static func date(millisecondsSince1970 milliseconds: Int64) -> Date {
        let (sinceReference, overflow) = milliseconds.subtractingReportingOverflow(referenceDateMilliseconds)
        // Only Int64.min's neighbourhood overflows, far outside any real date.
        let interval = overflow ? Double(milliseconds) - Double(referenceDateMilliseconds) : Double(sinceReference)
        return Date(timeIntervalSinceReferenceDate: interval / 1000)
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var isAtEnd: Bool { index == bytes.count }

        mutating func skip(_ character: Unicode.Scalar) -> Bool {
            guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
            index += 1
            return true
        }

        /// Exactly `count` ASCII digits.
        mutating func number(_ count: Int) -> Int64? {
            guard bytes.count - index >= count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<index + count] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            index += count
            return value
        }
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let remainder = value % divisor
        return remainder < 0 ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
    }

    private static func isLeap(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
    /// `days_from_civil`).
    private static func days(fromYear year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of ``days(fromYear:month:day:)``.
    private static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
