import Foundation
import NotifyMessages
import Testing

@Suite("RFC 3339 timestamps on the wire")
struct MessagesRFC3339Tests {
    @Test("Formats UTC with milliseconds", arguments: [
        (Int64(1_572_300_336_250), "2019-10-28T22:05:36.250Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ])
    func format(milliseconds: Int64, text: String) {
        let date = RFC3339.date(millisecondsSince1970: milliseconds)
        #expect(RFC3339.string(from: date) == text)
        #expect(RFC3339.date(from: text) == date)
    }

    @Test("Rounds to the nearest millisecond and clamps to four-digit years")
    func roundingAndClamping() {
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: 0.0004)) == "1970-01-01T00:00:00.000Z")
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: 0.0006)) == "1970-01-01T00:00:00.001Z")
        #expect(RFC3339.string(from: .distantFuture) == "4001-01-01T00:00:00.000Z")
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: 1e15)) == "9999-12-31T23:59:59.999Z")
        #expect(RFC3339.string(from: Date(timeIntervalSince1970: -1e15)) == "0000-01-01T00:00:00.000Z")
    }

    @Test("Parses offsets, lower-case separators and longer fractions")
    func parseVariants() {
        let instant = RFC3339.date(millisecondsSince1970: 1_572_300_336_250)
        #expect(RFC3339.date(from: "2019-10-28t22:05:36.25z") == instant)
        #expect(RFC3339.date(from: "2019-10-29T00:05:36.2509999+02:00") == instant)
        #expect(RFC3339.date(from: "2019-10-28T21:35:36.250-00:30") == instant)
        #expect(RFC3339.date(from: "2019-10-28T22:05:36Z") == RFC3339.date(millisecondsSince1970: 1_572_300_336_000))
    }

    @Test("Refuses what is not an RFC 3339 date-time", arguments: [
        "", "2019-10-28", "2019-10-28T22:05:36", "2019-10-28 22:05:36Z", "2019-02-29T00:00:00Z",
        "2019-13-01T00:00:00Z", "2019-10-28T24:00:00Z", "2019-10-28T22:05:60Z", "2019-10-28T22:05:36.Z",
        "2019-10-28T22:05:36+0200", "2019-10-28T22:05:36Z ", "１９９９-10-28T22:05:36Z",
    ])
    func refuse(text: String) {
        #expect(RFC3339.date(from: text) == nil)
    }
}
