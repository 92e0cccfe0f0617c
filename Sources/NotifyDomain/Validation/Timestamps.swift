public import Foundation

/// RFC 3339 timestamps in the two forms notify uses: Graph's, in JSON
/// bodies, and the messages' fixed milliseconds, on the wire.
///
/// Parsed by hand rather than with `ISO8601DateFormatter`, which rejects the
/// 7 fraction digits Graph writes ("2019-10-30T23:59:00.0000000Z") and whose
/// fraction handling differs between platforms. Everything is computed in UTC
/// from the calendar fields with integer arithmetic, so no time zone database
/// or locale is involved and the result is the same on every platform.
///
/// Both forms build a `Date` the same way: the instant as an exact fraction
/// of seconds since Foundation's reference date (which `Date` stores),
/// divided once. So a date on a whole millisecond, as
/// ``date(millisecondsSince1970:)`` makes it, is exactly the `Date` that
/// either parser returns for its text, and it survives
/// ``formatRFC3339Milliseconds(_:)`` then ``parseRFC3339Milliseconds(_:)``.
public enum Timestamps {
    /// Parses `yyyy-MM-ddTHH:mm:ss[.f{1,7}](Z|±hh:mm)`, as Graph writes it.
    ///
    /// "T" and "Z" may be lower case (RFC 3339 §5.6). The offset is applied,
    /// so the result is the UTC instant. A leap second (`:60`) is refused:
    /// `Date` cannot represent it and no client sends one in practice. More
    /// than 7 fraction digits are refused: Graph never writes them and
    /// `Date` could not keep them.
    ///
    /// - Parameter text: The timestamp, with nothing before or after it.
    /// - Returns: The instant, or nil when `text` is not such a timestamp or
    ///   names a day that does not exist (such as February 30).
    public static func parseRFC3339(_ text: String) -> Date? {
        guard let fields = ParsedTimestamp(text), fields.fractionDigitCount <= ParsedTimestamp.ticksDigits else {
            return nil
        }
        return date(fields.secondsSince1970, fraction: fields.ticks, digits: ParsedTimestamp.ticksDigits)
    }

    /// Parses an RFC 3339 date-time as the messages carry it, keeping
    /// milliseconds.
    ///
    /// The same grammar as ``parseRFC3339(_:)``, except that the fraction
    /// may have any number of digits: those past the third are dropped, not
    /// rounded, so the result always sits on a whole millisecond, the wire's
    /// precision.
    ///
    /// - Parameter text: The timestamp, with nothing before or after it.
    /// - Returns: The instant, or nil when `text` is not such a timestamp.
    public static func parseRFC3339Milliseconds(_ text: String) -> Date? {
        guard let fields = ParsedTimestamp(text) else { return nil }
        let milliseconds = fields.ticks / 10_000
        return date(fields.secondsSince1970, fraction: milliseconds, digits: 3)
    }

    /// The `Date` nearest `milliseconds` since 1970.
    ///
    /// This is the instant the parsers return for a timestamp on that
    /// millisecond, so a store keeping milliseconds should rebuild its dates
    /// with it for them to compare equal with decoded ones.
    public static func date(millisecondsSince1970 milliseconds: Int64) -> Date {
        let reference = Int64(referenceDateSince1970) * 1_000
        let (sinceReference, overflow) = milliseconds.subtractingReportingOverflow(reference)
        // Only Int64.min's neighbourhood overflows, far outside any real date.
        let interval = overflow ? Double(milliseconds) - Double(reference) : Double(sinceReference)
        return Date(timeIntervalSinceReferenceDate: interval / 1_000)
    }

    /// Formats an instant the way Graph writes it: UTC, "Z", and only as many
    /// fraction digits as needed, at most 7 ("2019-10-28T22:05:36.25Z",
    /// "2019-10-28T22:05:36Z").
    ///
    /// The instant is rounded to the nearest 100 nanoseconds, the unit
    /// ``parseRFC3339(_:)`` reads. `Date` is a `Double` of seconds since 2001,
    /// so from 2018 on its step is about 119 ns and a 7th fraction digit may
    /// come back one off.
    ///
    /// - Parameter date: The instant.
    /// - Returns: The timestamp, or an empty string when `date` is not finite.
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
        var text = dateAndTime(secondsSince1970: seconds)
        var fraction = Int(ticks)
        if fraction > 0 {
            var digits = ParsedTimestamp.ticksDigits
            while fraction % 10 == 0 {
                fraction /= 10
                digits -= 1
            }
            text += "." + pad(fraction, digits)
        }
        return text + "Z"
    }

    /// Formats an instant as the messages carry it: UTC, "Z", and always
    /// three fraction digits ("2019-10-28T22:05:36.250Z").
    ///
    /// The instant is rounded to the nearest millisecond, so a date from
    /// ``date(millisecondsSince1970:)`` is written exactly. Dates outside
    /// years 0000–9999 are clamped to that range so that the text always has
    /// four-digit years, which is all the parsers read; NaN writes 1970.
    ///
    /// - Parameter date: The instant.
    /// - Returns: Text such as `2019-10-28T22:05:36.250Z`.
    public static func formatRFC3339Milliseconds(_ date: Date) -> String {
        let exact = (date.timeIntervalSinceReferenceDate * 1_000).rounded() + Double(referenceDateSince1970 * 1_000)
        let milliseconds: Int
        if exact.isNaN {
            milliseconds = 0
        } else if exact <= Double(fourDigitYearMilliseconds.lowerBound) {
            milliseconds = fourDigitYearMilliseconds.lowerBound
        } else if exact >= Double(fourDigitYearMilliseconds.upperBound) {
            milliseconds = fourDigitYearMilliseconds.upperBound
        } else {
            milliseconds = Int(exact)
        }
        let (seconds, millisecond) = floorDivide(milliseconds, 1_000)
        // Clamped to four-digit years above, so the text has a fixed width.
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civilFromDays(days)
        return fixedWidth(year: year, month: month, day: day, secondOfDay: secondOfDay, millisecond: millisecond)
    }

    /// Seconds from 1970-01-01 to Foundation's reference date, 2001-01-01.
    private static let referenceDateSince1970 = 978_307_200

    /// Milliseconds since 1970 of 0000-01-01T00:00:00.000Z and
    /// 9999-12-31T23:59:59.999Z.
    private static let fourDigitYearMilliseconds = -62_167_219_200_000...253_402_300_799_999

    /// The `Date` of `secondsSince1970 + fraction / 10^digits`, rounded once.
    ///
    /// The whole instant is one integer count of `10^-digits` seconds since
    /// the reference date, divided by `10^digits`: IEEE division rounds its
    /// exact quotient, so two texts naming the same instant (".25", ".250")
    /// give the same `Date`. The count is exact as a `Double` up to 2^53 units,
    /// that is any year for milliseconds and 1972–2029 for 100 ns; past that
    /// it rounds once more, within `Date`'s own step.
    private static func date(_ secondsSince1970: Int, fraction: Int, digits: Int) -> Date {
        var fraction = fraction
        var digits = digits
        while digits > 0, fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        var scale = 1
        for _ in 0..<digits { scale *= 10 }
        // Cannot overflow: four-digit years keep |seconds| under 2.6e11, and
        // scale is at most 10^7.
        let units = (secondsSince1970 - referenceDateSince1970) * scale + fraction
        return Date(timeIntervalSinceReferenceDate: Double(units) / Double(scale))
    }

    /// `yyyy-MM-ddTHH:mm:ss` in UTC.
    private static func dateAndTime(secondsSince1970 seconds: Int) -> String {
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civilFromDays(days)
        guard (0...9999).contains(year) else {
            return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3_600, 2) + ":"
                + pad(secondOfDay % 3_600 / 60, 2) + ":" + pad(secondOfDay % 60, 2)
        }
        return fixedWidth(year: year, month: month, day: day, secondOfDay: secondOfDay, millisecond: nil)
    }

    /// `yyyy-MM-ddTHH:mm:ss`, then `.mmmZ` when `millisecond` is given, for
    /// a four-digit year: written in one piece, since joining padded parts
    /// was 4 % of a SendNotification call (its answer carries two instants).
    private static func fixedWidth(year: Int, month: Int, day: Int, secondOfDay: Int, millisecond: Int?) -> String {
        String(unsafeUninitializedCapacity: 24) { text in
            func put(_ value: Int, width: Int, at offset: Int) {
                var value = value
                for index in (offset..<offset + width).reversed() {
                    text[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(year, width: 4, at: 0)
            text[4] = UInt8(ascii: "-")
            put(month, width: 2, at: 5)
            text[7] = UInt8(ascii: "-")
            put(day, width: 2, at: 8)
            text[10] = UInt8(ascii: "T")
            put(secondOfDay / 3_600, width: 2, at: 11)
            text[13] = UInt8(ascii: ":")
            put(secondOfDay % 3_600 / 60, width: 2, at: 14)
            text[16] = UInt8(ascii: ":")
            put(secondOfDay % 60, width: 2, at: 17)
            guard let millisecond else { return 19 }
            text[19] = UInt8(ascii: ".")
            put(millisecond, width: 3, at: 20)
            text[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value.magnitude)
        let padded = String(repeating: "0", count: max(0, width - digits.count)) + digits
        return value < 0 ? "-" + padded : padded
    }

    /// Quotient rounded down and a remainder that is never negative.
    private static func floorDivide(_ value: Int, _ divisor: Int) -> (quotient: Int, remainder: Int) {
        let remainder = value % divisor
        return remainder < 0 ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
    }

    fileprivate static func isLeap(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    fileprivate static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar
    /// (Howard Hinnant's `days_from_civil`).
    fileprivate static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
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

/// The fields of `yyyy-MM-ddTHH:mm:ss[.f+](Z|±hh:mm)`, checked and reduced
/// to an instant; each parser then decides how much fraction to keep.
private struct ParsedTimestamp {
    /// Fraction digits in 100 ns, the finest unit either parser keeps.
    static let ticksDigits = 7

    /// Whole seconds since 1970, offset applied.
    let secondsSince1970: Int
    /// The first 7 fraction digits, in 100 ns.
    let ticks: Int
    /// How many fraction digits the text had, kept or not.
    let fractionDigitCount: Int

    init?(_ text: String) {
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

        var ticks = 0
        var count = 0
        if scanner.expect(UInt8(ascii: ".")) {
            while let digit = scanner.digit() {
                // Digits past the 7th are counted but not kept, so a long
                // fraction cannot overflow.
                if count < Self.ticksDigits { ticks = ticks * 10 + digit }
                count += 1
            }
            guard count > 0 else { return nil }
            for _ in min(count, Self.ticksDigits)..<Self.ticksDigits { ticks *= 10 }
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
            (1...12).contains(month), (1...Timestamps.daysIn(month: month, year: year)).contains(day),
            hour <= 23, minute <= 59, second <= 59
        else { return nil }

        let days = Timestamps.daysFromCivil(year: year, month: month, day: day)
        secondsSince1970 = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetSeconds
        self.ticks = ticks
        fractionDigitCount = count
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
