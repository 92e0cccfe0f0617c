import Foundation
import NotifyDomain
import Testing

@Suite("RFC 3339 timestamps, Graph's form and the wire's milliseconds")
struct TimestampsTests {
    /// 2019-10-30T23:59:00Z, the instant of Graph's example.
    static let graphExample: TimeInterval = 1_572_479_940

    @Test(
        "Parses Z and numeric offsets, 0 to 7 fraction digits, into UTC",
        arguments: [
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59Z", -1),
            ("2000-02-29T00:00:00Z", 951_782_400),
            ("2019-10-30T23:59:00Z", graphExample),
            ("2019-10-30T23:59:00.000Z", graphExample),
            ("2019-10-30T23:59:00.0000000Z", graphExample),
            ("2019-10-30t23:59:00z", graphExample),
            ("2019-10-31T01:59:00+02:00", graphExample),
            ("2019-10-30T18:29:00-05:30", graphExample),
            ("2019-10-31T00:59:00.0000000+01:00", graphExample),
            ("2019-10-30T23:59:00-00:00", graphExample),
            ("2019-10-30T23:59:00.5Z", graphExample + 0.5),
            ("2019-10-28T22:05:36.25Z", 1_572_300_336.25),
            ("2019-10-28T23:05:36.25+01:00", 1_572_300_336.25),
        ] as [(String, TimeInterval)])
    func parses(text: String, expected: TimeInterval) throws {
        let date = try #require(Timestamps.parseRFC3339(text))
        #expect(date == Date(timeIntervalSince1970: expected))
    }

    @Test("Keeps 7 fraction digits to within Date's precision")
    func sevenDigits() throws {
        let date = try #require(Timestamps.parseRFC3339("2019-10-30T23:59:00.1234567Z"))
        #expect(abs(date.timeIntervalSince1970 - (Self.graphExample + 0.1234567)) < 2e-7)
        // Near the reference date Date's step is far below 100 ns: exact.
        let early = try #require(Timestamps.parseRFC3339("2001-01-01T00:00:00.0000001Z"))
        #expect(Timestamps.formatRFC3339(early) == "2001-01-01T00:00:00.0000001Z")
    }

    @Test(
        "Refuses anything that is not a complete RFC 3339 date-time",
        arguments: [
            "", "2019-10-30", "2019-10-30T23:59:00", "2019-10-30T23:59Z", "2019-10-30 23:59:00Z",
            "19-10-30T23:59:00Z", "2019-1-30T23:59:00Z", "2019-10-30T23:59:00.Z",
            "2019-10-30T23:59:00.12345678Z",  // 8 digits: more than Graph's 7
            "2019-13-01T00:00:00Z", "2019-00-01T00:00:00Z", "2019-02-29T00:00:00Z", "2019-04-31T00:00:00Z",
            "2019-10-00T00:00:00Z", "2019-10-30T24:00:00Z", "2019-10-30T23:60:00Z",
            "2019-10-30T23:59:60Z",  // leap second: Date cannot hold it
            "2019-10-30T23:59:00+0200", "2019-10-30T23:59:00+02", "2019-10-30T23:59:00+24:00",
            "2019-10-30T23:59:00+02:60", "2019-10-30T23:59:00+02:00Z", "2019-10-30T23:59:00Z ",
            " 2019-10-30T23:59:00Z", "2019-10-30T23:59:00UTC", "2019-10-30T23:59:00GMT+1",
            "２０19-10-30T23:59:00Z", "1572479940",
        ])
    func refuses(text: String) {
        #expect(Timestamps.parseRFC3339(text) == nil)
    }

    @Test(
        "Formats like Graph: UTC, Z, trailing zero fraction digits trimmed",
        arguments: [
            (1_572_300_336.25, "2019-10-28T22:05:36.25Z"),
            (1_572_300_336, "2019-10-28T22:05:36Z"),
            (graphExample + 0.5, "2019-10-30T23:59:00.5Z"),
            (0, "1970-01-01T00:00:00Z"),
            (-0.5, "1969-12-31T23:59:59.5Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            // Years with other than four digits, beside the fixed-width path.
            (253_402_300_800, "10000-01-01T00:00:00Z"),
            (-62_167_219_201, "-0001-12-31T23:59:59Z"),
        ] as [(TimeInterval, String)])
    func formats(interval: TimeInterval, expected: String) {
        #expect(Timestamps.formatRFC3339(Date(timeIntervalSince1970: interval)) == expected)
    }

    @Test(
        "Formatting a parsed timestamp gives the same instant in Graph's form",
        arguments: [
            ("2019-10-30T23:59:00.0000000Z", "2019-10-30T23:59:00Z"),
            ("2019-10-31T01:59:00.250+02:00", "2019-10-30T23:59:00.25Z"),
            ("2024-02-29T12:00:00.123456Z", "2024-02-29T12:00:00.123456Z"),
            ("2019-12-31T23:59:59.999999-01:00", "2020-01-01T00:59:59.999999Z"),
        ])
    func roundTrips(text: String, expected: String) throws {
        let date = try #require(Timestamps.parseRFC3339(text))
        #expect(Timestamps.formatRFC3339(date) == expected)
    }

    // The wire's form: fixed milliseconds.

    @Test(
        "Formats the wire's form in UTC with milliseconds, and parses it back",
        arguments: [
            (Int64(1_572_300_336_250), "2019-10-28T22:05:36.250Z"),
            (0, "1970-01-01T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
        ] as [(Int64, String)])
    func formatsMilliseconds(milliseconds: Int64, text: String) {
        let date = Timestamps.date(millisecondsSince1970: milliseconds)
        #expect(Timestamps.formatRFC3339Milliseconds(date) == text)
        #expect(Timestamps.parseRFC3339Milliseconds(text) == date)
        // Graph's parser builds the same Date for a whole millisecond.
        #expect(Timestamps.parseRFC3339(text) == date)
    }

    @Test("Rounds the wire's form to the nearest millisecond and clamps it to four-digit years")
    func millisecondsRoundingAndClamping() {
        #expect(Timestamps.formatRFC3339Milliseconds(Date(timeIntervalSince1970: 0.0004)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamps.formatRFC3339Milliseconds(Date(timeIntervalSince1970: 0.0006)) == "1970-01-01T00:00:00.001Z")
        #expect(Timestamps.formatRFC3339Milliseconds(.distantFuture) == "4001-01-01T00:00:00.000Z")
        #expect(Timestamps.formatRFC3339Milliseconds(Date(timeIntervalSince1970: 1e15)) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamps.formatRFC3339Milliseconds(Date(timeIntervalSince1970: -1e15)) == "0000-01-01T00:00:00.000Z")
        #expect(
            Timestamps.formatRFC3339Milliseconds(Date(timeIntervalSinceReferenceDate: .infinity))
                == "9999-12-31T23:59:59.999Z")
        #expect(Timestamps.formatRFC3339Milliseconds(Date(timeIntervalSinceReferenceDate: .nan)) == "1970-01-01T00:00:00.000Z")
    }

    @Test("Parses the wire's form with offsets, lower-case separators, and fractions of any length cut to milliseconds")
    func millisecondsParseVariants() throws {
        let instant = Timestamps.date(millisecondsSince1970: 1_572_300_336_250)
        #expect(Timestamps.parseRFC3339Milliseconds("2019-10-28t22:05:36.25z") == instant)
        #expect(Timestamps.parseRFC3339Milliseconds("2019-10-29T00:05:36.2509999+02:00") == instant)
        #expect(Timestamps.parseRFC3339Milliseconds("2019-10-28T21:35:36.250-00:30") == instant)
        #expect(Timestamps.parseRFC3339Milliseconds("2019-10-28T22:05:36.25099999999Z") == instant)
        #expect(
            Timestamps.parseRFC3339Milliseconds("2019-10-28T22:05:36Z")
                == Timestamps.date(millisecondsSince1970: 1_572_300_336_000))
        // Graph's parser keeps the digits past the millisecond, and refuses an 8th.
        let finer = try #require(Timestamps.parseRFC3339("2019-10-29T00:05:36.2509999+02:00"))
        #expect(finer > instant)
        #expect(Timestamps.parseRFC3339("2019-10-28T22:05:36.25099999999Z") == nil)
    }

    @Test(
        "Refuses, in the wire's form too, what is not an RFC 3339 date-time",
        arguments: [
            "", "2019-10-28", "2019-10-28T22:05:36", "2019-10-28 22:05:36Z", "2019-02-29T00:00:00Z",
            "2019-13-01T00:00:00Z", "2019-10-28T24:00:00Z", "2019-10-28T22:05:60Z", "2019-10-28T22:05:36.Z",
            "2019-10-28T22:05:36+0200", "2019-10-28T22:05:36Z ", "１９９９-10-28T22:05:36Z",
        ])
    func millisecondsRefuses(text: String) {
        #expect(Timestamps.parseRFC3339Milliseconds(text) == nil)
        #expect(Timestamps.parseRFC3339(text) == nil)
    }

    @Test("Dates on whole milliseconds round-trip exactly through the wire's form, years 0000 to 9999")
    func millisecondsRoundTrip() {
        // A fixed linear congruential sequence: varied instants, the same every run.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let range = UInt64(253_402_300_799_999 + 62_167_219_200_000 + 1)
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let milliseconds = Int64((state >> 11) % range) - 62_167_219_200_000
            let date = Timestamps.date(millisecondsSince1970: milliseconds)
            let text = Timestamps.formatRFC3339Milliseconds(date)
            #expect(Timestamps.parseRFC3339Milliseconds(text) == date, "\(milliseconds) \(text)")
            #expect(Timestamps.parseRFC3339(text) == date, "\(milliseconds) \(text)")
        }
    }
}
