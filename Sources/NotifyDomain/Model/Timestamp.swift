#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An instant: integer microseconds since 1970-01-01T00:00:00Z (UTC, no leap
/// seconds), the precision the store keeps (PostgreSQL's too).
///
/// notify's one representation of time, end to end: the store's INTEGER
/// columns, the domain's values, the validators' clock. Never a `Double`: a
/// `Date` (a `Double` of seconds since 2001) cannot hold most microseconds
/// exactly, so one instant used to print as `...39.2079999Z` in one view and
/// `...39.208Z` in another.
///
/// Text is RFC 3339 in UTC with **exactly three fraction digits**
/// (``rfc3339``, `2019-10-28T22:05:36.250Z`): the protocol's and the
/// gateway's one output precision for every time field. Times the service
/// makes or accepts (a notification's creation and expiration) are kept at
/// whole milliseconds (``truncatedToMilliseconds``), so what is printed is
/// exactly what is stored, and every view of one instant prints the same string.
/// (Data written by earlier releases holds finer times: they print rounded to
/// the nearest millisecond, as those releases' RPC answers printed them.)
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z; negative before it.
    public let microsecondsSince1970: Int64

    public init(microsecondsSince1970: Int64) {
        self.microsecondsSince1970 = microsecondsSince1970
    }

    /// Whole seconds since 1970, saturating far outside any real date.
    public init(secondsSince1970 seconds: Int64) {
        microsecondsSince1970 = seconds.multipliedReportingOverflow(by: 1_000_000).overflow
            ? (seconds < 0 ? .min : .max) : seconds * 1_000_000
    }

    /// The system's wall clock (`CLOCK_REALTIME`), read as integers.
    public static func now() -> Timestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Timestamp(microsecondsSince1970: Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1_000)
    }

    /// The instant at the start of its millisecond: the precision of every
    /// time the service makes or accepts, and of every time it prints.
    public var truncatedToMilliseconds: Timestamp {
        let (milliseconds, _) = Self.floorDivide(microsecondsSince1970, 1_000)
        return Timestamp(microsecondsSince1970: milliseconds * 1_000)
    }

    /// Milliseconds since 1970, rounded down (a UUIDv7's time field).
    public var millisecondsSince1970: Int64 { Self.floorDivide(microsecondsSince1970, 1_000).quotient }

    /// This instant moved by `seconds`, saturating rather than trapping.
    public func adding(seconds: Int64) -> Timestamp {
        adding(microseconds: seconds.multipliedReportingOverflow(by: 1_000_000).overflow
            ? (seconds < 0 ? .min : .max) : seconds * 1_000_000)
    }

    /// This instant moved by `microseconds`, saturating rather than trapping.
    public func adding(microseconds: Int64) -> Timestamp {
        let (sum, overflow) = microsecondsSince1970.addingReportingOverflow(microseconds)
        return Timestamp(microsecondsSince1970: overflow ? (microseconds < 0 ? .min : .max) : sum)
    }

    /// Microseconds from `earlier` to this instant, saturating.
    public func microseconds(since earlier: Timestamp) -> Int64 {
        let (difference, overflow) = microsecondsSince1970.subtractingReportingOverflow(earlier.microsecondsSince1970)
        return overflow ? (earlier.microsecondsSince1970 < 0 ? .max : .min) : difference
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microsecondsSince1970 < rhs.microsecondsSince1970
    }

    public var description: String { rfc3339 }

    // MARK: RFC 3339

    /// Parses `yyyy-MM-ddTHH:mm:ss[.f+](Z|±hh:mm)`.
    ///
    /// "T" and "Z" may be lower case (RFC 3339 §5.6). The offset is applied,
    /// so the result is the UTC instant. A leap second (`:60`) is refused.
    /// Fraction digits past the sixth (Graph writes seven, .NET's 100 ns
    /// ticks) are dropped, never rounded: rounding `.9999999` up would move
    /// the instant into the next second.
    ///
    /// - Parameters:
    ///   - text: The timestamp, with nothing before or after it.
    ///   - maximumFractionDigits: Longer fractions are refused (Graph's
    ///     contract: 7); nil accepts any length (the wire's times).
    /// - Returns: nil when `text` is not such a timestamp or names a day that
    ///   does not exist (such as February 30).
    public init?(rfc3339 text: String, maximumFractionDigits: Int? = nil) {
        guard let fields = ParsedTimestamp(text) else { return nil }
        if let maximumFractionDigits, fields.fractionDigitCount > maximumFractionDigits { return nil }
        // Four-digit years and a ±23:59 offset keep this far inside Int64.
        microsecondsSince1970 = Int64(fields.secondsSince1970) * 1_000_000 + Int64(fields.microseconds)
    }

    /// The instant as RFC 3339 text in UTC with exactly three fraction digits
    /// (`2019-10-28T22:05:36.250Z`): the one output form of every time notify
    /// prints (RPC messages, the gateway's answers and events, `notifyctl`).
    ///
    /// Exact for the whole milliseconds the service keeps; a finer instant
    /// (written by an earlier release) is rounded to the nearest millisecond,
    /// half up, as that release's RPC answers printed it. Instants outside
    /// years 0000–9999 are clamped to that range so that the text always has a
    /// four-digit year, which is all the parser reads.
    public var rfc3339: String {
        let (shifted, overflow) = microsecondsSince1970.addingReportingOverflow(500)
        let nearest = overflow ? Int64.max / 1_000 : Self.floorDivide(shifted, 1_000).quotient
        let milliseconds = min(
            max(nearest, Self.fourDigitYearMilliseconds.lowerBound), Self.fourDigitYearMilliseconds.upperBound)
        let (seconds, millisecond) = Self.floorDivide(milliseconds, 1_000)
        let (days, secondOfDay) = Self.floorDivide(seconds, 86_400)
        let (year, month, day) = Self.civilFromDays(Int(days))
        return Self.fixedWidth(
            year: year, month: month, day: day, secondOfDay: Int(secondOfDay), millisecond: Int(millisecond))
    }

    /// Milliseconds since 1970 of 0000-01-01T00:00:00.000Z and
    /// 9999-12-31T23:59:59.999Z.
    private static let fourDigitYearMilliseconds: ClosedRange<Int64> = -62_167_219_200_000...253_402_300_799_999

    /// `yyyy-MM-ddTHH:mm:ss.mmmZ` for a four-digit year, written in one piece:
    /// joining padded parts was 4 % of a SendNotification call (its answer
    /// carries two instants).
    private static func fixedWidth(year: Int, month: Int, day: Int, secondOfDay: Int, millisecond: Int) -> String {
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
            text[19] = UInt8(ascii: ".")
            put(millisecond, width: 3, at: 20)
            text[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    /// Quotient rounded down and a remainder that is never negative.
    fileprivate static func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
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
    fileprivate static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
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
    /// Whole seconds since 1970, offset applied.
    let secondsSince1970: Int
    /// The first 6 fraction digits, in microseconds; later ones are dropped.
    let microseconds: Int
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

        var microseconds = 0
        var count = 0
        if scanner.expect(UInt8(ascii: ".")) {
            while let digit = scanner.digit() {
                // Digits past the 6th are counted but not kept, so a long
                // fraction cannot overflow.
                if count < 6 { microseconds = microseconds * 10 + digit }
                count += 1
            }
            guard count > 0 else { return nil }
            for _ in min(count, 6)..<6 { microseconds *= 10 }
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
            (1...12).contains(month), (1...Timestamp.daysIn(month: month, year: year)).contains(day),
            hour <= 23, minute <= 59, second <= 59
        else { return nil }

        let days = Timestamp.daysFromCivil(year: year, month: month, day: day)
        secondsSince1970 = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetSeconds
        self.microseconds = microseconds
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
