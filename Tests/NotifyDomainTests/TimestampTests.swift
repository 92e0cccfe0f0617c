import NotifyDomain
import Testing

@Suite("Timestamp: integer microseconds, RFC 3339 in and three fraction digits out")
struct TimestampTests {
    /// 2019-10-30T23:59:00Z, the instant of Graph's example, in microseconds.
    static let graphExample: Int64 = 1_572_479_940_000_000

    @Test(
        "Parses Z and numeric offsets, 0 to 7 fraction digits, into UTC microseconds",
        arguments: [
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59Z", -1_000_000),
            ("2000-02-29T00:00:00Z", 951_782_400_000_000),
            ("2019-10-30T23:59:00Z", graphExample),
            ("2019-10-30T23:59:00.000Z", graphExample),
            ("2019-10-30T23:59:00.0000000Z", graphExample),
            ("2019-10-30t23:59:00z", graphExample),
            ("2019-10-31T01:59:00+02:00", graphExample),
            ("2019-10-30T18:29:00-05:30", graphExample),
            ("2019-10-31T00:59:00.0000000+01:00", graphExample),
            ("2019-10-30T23:59:00-00:00", graphExample),
            ("2019-10-30T23:59:00.5Z", graphExample + 500_000),
            ("2019-10-28T22:05:36.25Z", 1_572_300_336_250_000),
            ("2019-10-28T23:05:36.25+01:00", 1_572_300_336_250_000),
            // Past the sixth digit: dropped, never rounded.
            ("2019-10-30T23:59:00.1234567Z", graphExample + 123_456),
            ("2019-10-30T23:59:00.9999999Z", graphExample + 999_999),
        ] as [(String, Int64)])
    func parses(text: String, expected: Int64) throws {
        let time = try #require(Timestamp(rfc3339: text, maximumFractionDigits: 7))
        #expect(time.microsecondsSince1970 == expected)
    }

    @Test(
        "Refuses anything that is not a complete RFC 3339 date-time",
        arguments: [
            "", "2019-10-30", "2019-10-30T23:59:00", "2019-10-30T23:59Z", "2019-10-30 23:59:00Z",
            "19-10-30T23:59:00Z", "2019-1-30T23:59:00Z", "2019-10-30T23:59:00.Z",
            "2019-13-01T00:00:00Z", "2019-00-01T00:00:00Z", "2019-02-29T00:00:00Z", "2019-04-31T00:00:00Z",
            "2019-10-00T00:00:00Z", "2019-10-30T24:00:00Z", "2019-10-30T23:60:00Z",
            "2019-10-30T23:59:60Z",  // a leap second
            "2019-10-30T23:59:00+0200", "2019-10-30T23:59:00+02", "2019-10-30T23:59:00+24:00",
            "2019-10-30T23:59:00+02:60", "2019-10-30T23:59:00+02:00Z", "2019-10-30T23:59:00Z ",
            " 2019-10-30T23:59:00Z", "2019-10-30T23:59:00UTC", "2019-10-30T23:59:00GMT+1",
            "２０19-10-30T23:59:00Z", "1572479940",
        ])
    func refuses(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
        #expect(Timestamp(rfc3339: text, maximumFractionDigits: 7) == nil)
    }

    @Test("An eighth fraction digit is refused where Graph's 7 are the limit, and dropped elsewhere")
    func eighthDigit() {
        let text = "2019-10-30T23:59:00.12345678Z"
        #expect(Timestamp(rfc3339: text, maximumFractionDigits: 7) == nil)
        #expect(Timestamp(rfc3339: text)?.microsecondsSince1970 == Self.graphExample + 123_456)
    }

    @Test(
        "Prints UTC with exactly three fraction digits, rounded to the nearest millisecond, four-digit years clamped",
        arguments: [
            (Int64(1_572_300_336_250_000), "2019-10-28T22:05:36.250Z"),
            (1_572_300_336_250_499, "2019-10-28T22:05:36.250Z"),
            (1_572_300_336_250_500, "2019-10-28T22:05:36.251Z"),
            (1_572_300_336_999_500, "2019-10-28T22:05:37.000Z"),
            (1_572_300_336_000_000, "2019-10-28T22:05:36.000Z"),
            (0, "1970-01-01T00:00:00.000Z"),
            (-1, "1970-01-01T00:00:00.000Z"),
            (-501, "1969-12-31T23:59:59.999Z"),
            (-500_000, "1969-12-31T23:59:59.500Z"),
            (951_782_400_000_000, "2000-02-29T00:00:00.000Z"),
            (253_402_300_799_999_999, "9999-12-31T23:59:59.999Z"),
            (253_402_300_800_000_000, "9999-12-31T23:59:59.999Z"),
            (-62_167_219_200_000_000, "0000-01-01T00:00:00.000Z"),
            (-62_167_219_200_000_001, "0000-01-01T00:00:00.000Z"),
            (Int64.max, "9999-12-31T23:59:59.999Z"),
            (Int64.min, "0000-01-01T00:00:00.000Z"),
        ] as [(Int64, String)])
    func prints(microseconds: Int64, text: String) {
        #expect(Timestamp(microsecondsSince1970: microseconds).rfc3339 == text)
    }

    @Test("A time sent with .2079999 is kept and printed as .207")
    func oneInstantOneString() throws {
        let sent = try #require(Timestamp(rfc3339: "2026-12-27T15:34:40.2079999Z", maximumFractionDigits: 7))
        // Kept at whole milliseconds, as the service keeps it: .207, printed exactly.
        #expect(sent.truncatedToMilliseconds.rfc3339 == "2026-12-27T15:34:40.207Z")
        #expect(Timestamp(rfc3339: sent.truncatedToMilliseconds.rfc3339) == sent.truncatedToMilliseconds)
    }

    @Test("Whole milliseconds round-trip exactly through the text, years 0000 to 9999")
    func roundTrip() {
        // A fixed linear congruential sequence: varied instants, the same every run.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let range = UInt64(253_402_300_799_999 + 62_167_219_200_000 + 1)
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let milliseconds = Int64((state >> 11) % range) - 62_167_219_200_000
            let time = Timestamp(microsecondsSince1970: milliseconds * 1_000)
            #expect(Timestamp(rfc3339: time.rfc3339) == time, "\(milliseconds) \(time.rfc3339)")
        }
    }

    @Test("Arithmetic saturates instead of trapping, and truncation rounds toward the past")
    func arithmetic() {
        let time = Timestamp(microsecondsSince1970: 1_500)
        #expect(time.truncatedToMilliseconds.microsecondsSince1970 == 1_000)
        #expect(Timestamp(microsecondsSince1970: -1).truncatedToMilliseconds.microsecondsSince1970 == -1_000)
        #expect(Timestamp(microsecondsSince1970: .max).adding(seconds: 1).microsecondsSince1970 == .max)
        #expect(Timestamp(microsecondsSince1970: .min).adding(seconds: -1).microsecondsSince1970 == .min)
        #expect(Timestamp(secondsSince1970: .max).microsecondsSince1970 == .max)
        #expect(time.adding(seconds: 2).microseconds(since: time) == 2_000_000)
        #expect(Timestamp(microsecondsSince1970: .max).microseconds(since: Timestamp(microsecondsSince1970: .min)) == .max)
        let now = Timestamp.now()
        #expect(now > Timestamp(secondsSince1970: 1_765_000_000))
    }
}
