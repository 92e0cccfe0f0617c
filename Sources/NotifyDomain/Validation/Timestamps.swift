public import Foundation

/// RFC 3339 timestamps as Graph reads and writes them.
///
/// Parsed by hand rather than with `ISO8601DateFormatter`, which rejects the
/// 7 fraction digits Graph writes ("2019-10-30T23:59:00.0000000Z") and whose
/// fraction handling differs between platforms. Everything is computed in UTC
/// from the calendar fields, so no time zone database or locale is involved.
public enum Timestamps {
    /// Parses `yyyy-MM-ddTHH:mm:ss[.f{1,7}](Z|±hh:mm)`.
    ///
    /// "T" and "Z" may be lower case (RFC 3339 §5.6). The offset is applied,
    /// so the result is the UTC instant. A leap second (`:60`) is refused:
    /// `Date` cannot represent it and no client sends one in practice.
    ///
    /// - Parameter text: The timestamp, with nothing before or after it.
    /// - Returns: The instant, or nil when `text` is not such a timestamp or
    ///   names a day that does not exist (such as February 30).
    public static func parseRFC3339(_ text: String) -> Date? {
        var scanner = DigitScanner(Array(text.utf8))
        guard
            let year = scanner.number(digits: 4), scanner.expect(UInt8(ascii: "-")),
            let month = scanner.number(digits: 2), scanner.expect(UInt8(ascii: "-")),
            let day = scanner.number(digits: 2),
            scanner.expect(UInt8(ascii: "T")) || scanner.expect(UInt8(ascii: "t")),
            let hour = scanner.number(digits: 2), scanner.expect(UInt8(ascii: ":")),
            let minute = scanner.number(digits: 2), scanner.expect(UInt8(ascii: ":")),
            let second = scanner.number(digits: 2)
        else { return nil }

        var ticks = 0  // 100-nanosecond units
        if scanner.expect(UInt8(ascii: ".")) {
            var count = 0
            while let digit = scanner.digit() {
                count += 1
                guard count <= Limits.fractionDigitsMax else { return nil }
                ticks = ticks * 10 + digit
            }
            guard count > 0 else { return nil }
            for _ in count..<7 { ticks *= 10 }
        }

        let offsetSeconds: Int
        if scanner.expect(UInt8(ascii: "Z")) || scanner.expect(UInt8(ascii: "z")) {
            offsetSeconds = 0
        } else {
            let sign: Int
            if scanner.expect(UInt8(ascii: "+")) {
                sign = 1
            } else if scanner.expect(UInt8(ascii: "-")) {
                sign = -1
            } else {
                return nil
            }
            guard
                let offsetHours = scanner.number(digits: 2), scanner.expect(UInt8(ascii: ":")),
                let offsetMinutes = scanner.number(digits: 2),
                offsetHours <= 23, offsetMinutes <= 59
            else { return nil }
            offsetSeconds = sign * (offsetHours * 3_600 + offsetMinutes * 60)
        }
        guard scanner.isAtEnd else { return nil }

        guard
            (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
            hour <= 23, minute <= 59, second <= 59
        else { return nil }

        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetSeconds
        // Relative to Foundation's reference date, which `Date` stores: going
        // through 1970 would round twice and lose about a tick more.
        return Date(
            timeIntervalSinceReferenceDate: Double(seconds - referenceDateSince1970) + Double(ticks) / 10_000_000)
    }

    /// Formats an instant the way Graph writes it: UTC, "Z", and only as many
    /// fraction digits as needed, at most 7 ("2019-10-28T22:05:36.25Z",
    /// "2019-10-28T22:05:36Z").
    ///
    /// The instant is rounded to the nearest 100 nanoseconds, the unit
    /// ``parseRFC3339(_:)`` reads. `Date` is a `Double` of seconds since 2001,
    /// so from 2018 on its step is about 119 ns and a 7th fraction digit may
    /// come back one off; up to 6 digits round-trip for dates before 2035.
    public static func formatRFC3339(_ date: Date) -> String {
        let interval = date.timeIntervalSinceReferenceDate
        guard interval.isFinite else { return "" }
        var whole = interval.rounded(.down)
        var ticks = ((interval - whole) * 10_000_000).rounded()
        if ticks >= 10_000_000 {
            whole += 1
            ticks = 0
        }
        // Clamped so that `Int(_:)` cannot trap on an absurd date; years
        // beyond ±292 billion are not meaningful here anyway.
        let seconds = Int(max(min(whole, 9.0e15), -9.0e15)) + referenceDateSince1970
        let days = seconds >= 0 ? seconds / 86_400 : -((-seconds + 86_399) / 86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civilFromDays(days)

        var text = pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
        text += "T" + pad(secondOfDay / 3_600, 2) + ":" + pad(secondOfDay % 3_600 / 60, 2) + ":" + pad(secondOfDay % 60, 2)
        var fraction = Int(ticks)
        if fraction > 0 {
            var digits = 7
            while fraction % 10 == 0 {
                fraction /= 10
                digits -= 1
            }
            text += "." + pad(fraction, digits)
        }
        return text + "Z"
    }

    /// Seconds from 1970-01-01 to Foundation's reference date, 2001-01-01.
    private static let referenceDateSince1970 = 978_307_200

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(abs(value))
        let padded = String(repeating: "0", count: max(0, width - digits.count)) + digits
        return value < 0 ? "-" + padded : padded
    }

    private static func isLeap(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar
    /// (Howard Hinnant's `days_from_civil`).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of ``daysFromCivil(year:month:day:)``.
    private static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Reads ASCII digits and separators from UTF-8 bytes, never past the end.
private struct DigitScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { index == bytes.count }

    mutating func expect(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    mutating func digit() -> Int? {
        guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { return nil }
        defer { index += 1 }
        return Int(bytes[index] - UInt8(ascii: "0"))
    }

    /// Exactly `digits` digits.
    mutating func number(digits: Int) -> Int? {
        var value = 0
        for _ in 0..<digits {
            guard let digit = digit() else { return nil }
            value = value * 10 + digit
        }
        return value
    }
}
