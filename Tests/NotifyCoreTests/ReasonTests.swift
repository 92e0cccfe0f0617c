import Foundation
@testable import NotifyCore
import Testing

@Suite("Reason")
struct ReasonTests {
    @Test("every known reason round-trips through its wire string, and the strings are distinct")
    func roundTrip() {
        for kind in Reason.Kind.allCases {
            let reason = Reason(kind: kind)
            #expect(reason.rawValue == kind.rawValue)
            #expect(Reason(rawValue: kind.rawValue) == reason)
            #expect(Reason(rawValue: kind.rawValue).kind == kind)
        }
        #expect(Set(Reason.Kind.allCases.map(\.rawValue)).count == Reason.Kind.allCases.count)
        #expect(Reason.callerBlocked.rawValue == "CALLER_BLOCKED")
        #expect(Reason.internal.kind == .internal)
    }

    @Test("a reason this build does not know survives decoding: its string is kept, its kind is nil")
    func unknown() {
        let reason = Reason(rawValue: "QUOTA_OF_THE_FUTURE")
        #expect(reason.rawValue == "QUOTA_OF_THE_FUTURE")
        #expect(reason.description == "QUOTA_OF_THE_FUTURE")
        #expect(reason.kind == nil)
        #expect(reason.origin == nil)
        #expect(reason.isWire)
        #expect(reason == Reason(rawValue: "QUOTA_OF_THE_FUTURE"))
        #expect(reason != .callerBlocked)
        let error = RPCError(code: .resourceExhausted, message: "m", reason: reason)
        #expect(error.description == "RESOURCE_EXHAUSTED: m (QUOTA_OF_THE_FUTURE)")
    }

    @Test("client, in-process and gateway reasons are not wire reasons")
    func origins() {
        #expect(Reason.callerBlocked.isWire)
        #expect(Reason.deadlineExceeded.isWire)
        for reason in [Reason.consumerTooSlow, .streamingUnsupported, .notAStream, .connectionFailed, .clientClosed,
                       .connectTimeout, .backingOff, .undecodableResponse, .localAnswerUnencoded, .probeAccepted]
        {
            #expect(!reason.isWire, "\(reason)")
        }
    }

    @Test("a reason costs no more than an optional String")
    func size() {
        #expect(MemoryLayout<Reason>.size <= MemoryLayout<String?>.size + 1)
        #expect(MemoryLayout<Reason?>.size <= MemoryLayout<String?>.size + 1)
    }
}

@Suite("docs/PROTOCOL.md and Reason agree")
struct ReasonDocumentationTests {
    static let protocolPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/PROTOCOL.md").path

    /// The reasons in the first column of the table under `heading`.
    static func reasons(under heading: String) throws -> Set<String> {
        let text = try String(contentsOfFile: protocolPath, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.hasPrefix(heading) }, "no \(heading) in PROTOCOL.md")
        var reasons: Set<String> = []
        var inTable = false
        for line in lines[(start + 1)...] {
            if line.hasPrefix("|") {
                inTable = true
                let cell = line.split(separator: "|").first?.trimmingCharacters(in: .whitespaces) ?? ""
                if cell.hasPrefix("`") && cell.hasSuffix("`") { reasons.insert(String(cell.dropFirst().dropLast())) }
            } else if inTable || line.hasPrefix("#") {
                break
            }
        }
        return reasons
    }

    @Test("the wire table lists exactly the reasons a server sends")
    func wireTable() throws {
        let documented = try Self.reasons(under: "#### Reasons a server sends")
        let declared = Set(Reason.Kind.allCases.filter { $0.origin == .server }.map(\.rawValue))
        #expect(documented.subtracting(declared).sorted() == [], "documented as sent, not declared as wire reasons")
        #expect(declared.subtracting(documented).sorted() == [], "wire reasons missing from the table")
    }

    @Test("the local table lists exactly the reasons raised locally")
    func localTable() throws {
        let documented = try Self.reasons(under: "#### Reasons raised locally")
        let declared = Set(Reason.Kind.allCases.filter { $0.origin != .server }.map(\.rawValue))
        #expect(documented.subtracting(declared).sorted() == [])
        #expect(declared.subtracting(documented).sorted() == [])
    }
}
