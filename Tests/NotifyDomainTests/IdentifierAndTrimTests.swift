import Foundation
@testable import NotifyDomain
import Testing

@Suite("Ids and trimming without Foundation's slow paths")
struct IdentifierAndTrimTests {
    @Test("trimmed and isBlank agree with Foundation's whitespacesAndNewlines", arguments: [
        "", " ", "\t\n\r", "plain", "  both  ", "\u{00A0}nbsp\u{00A0}", "\u{3000}ideographic\u{2029}",
        "\u{0085}next line", "inner  space kept", "é\u{301} ", "🙂 ",
    ])
    func trimMatchesFoundation(text: String) {
        #expect(FieldChecks.trimmed(text) == text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(FieldChecks.isBlank(text) == text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }

    @Test("a zero-width space is not white space, as in Python's str.strip (Foundation trims it)")
    func zeroWidthSpaceKept() {
        #expect(FieldChecks.trimmed("\u{200B}x\u{200B}") == "\u{200B}x\u{200B}")
        #expect(!FieldChecks.isBlank("\u{200B}"))
    }

    @Test("random ids are version 4 UUIDs, each different")
    func randomIDs() throws {
        let ids = (0..<1000).map { _ in UUIDText.random() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { UUID(uuidString: $0)?.uuidString.lowercased() == $0 })
        for id in ids.prefix(50) {
            let uuid = try #require(UUID(uuidString: id))
            #expect(uuid.uuidString.lowercased() == id)
            let bytes = uuid.uuid
            #expect(bytes.6 >> 4 == 4)
            #expect(bytes.8 >> 6 == 0b10)
        }
    }

    @Test("time-ordered ids are version 7 UUIDs whose order follows their milliseconds")
    func timeOrderedIDs() throws {
        let start = Timestamp(secondsSince1970: 1_790_000_000)
        // 2 ms apart, so that rounding never puts two in one millisecond (whose order is random).
        let ids = (0..<200).map { UUIDText.timeOrdered(now: start.adding(microseconds: Int64($0) * 2_000)) }
        #expect(ids == ids.sorted())
        #expect(ids.allSatisfy { UUID(uuidString: $0)?.uuidString.lowercased() == $0 })
        for id in ids.prefix(20) {
            let uuid = try #require(UUID(uuidString: id))
            #expect(uuid.uuidString.lowercased() == id)
            let bytes = uuid.uuid
            #expect(bytes.6 >> 4 == 7)
            #expect(bytes.8 >> 6 == 0b10)
        }
        // The first 48 bits are the Unix milliseconds.
        let milliseconds = UInt64(start.millisecondsSince1970)
        #expect(ids[0].replacingOccurrences(of: "-", with: "").prefix(12) == String(milliseconds, radix: 16).leftPadded(to: 12))
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}

@Suite("ASCII.equalsIgnoringCase: protocol tokens without regard to case")
struct ASCIITests {
    @Test("letters fold, nothing else does, lengths must agree")
    func folding() {
        #expect(ASCII.equalsIgnoringCase("Content-LENGTH".utf8, "content-length".utf8))
        #expect(ASCII.equalsIgnoringCase("Bearer".utf8, "bearer".utf8))
        #expect(!ASCII.equalsIgnoringCase("content\rlength".utf8, "content-length".utf8))
        #expect(!ASCII.equalsIgnoringCase("@".utf8, "`".utf8))
        #expect(!ASCII.equalsIgnoringCase("host".utf8, "hosts".utf8))
    }
}
