import Foundation
import Logging
import Synchronization
import Testing

@testable import notifyd

@Suite("--log-format json: one JSON object per line with time, level, label, message and metadata")
struct JSONLogHandlerTests {
    @Test("a line parses as JSON and has the fields; quotes, newlines and control characters are escaped")
    func lineParses() throws {
        let lines = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "notifyd") { line in lines.withLock { $0.append(line) } }
        handler.logLevel = .debug
        handler[metadataKey: "notify.peer"] = "127.0.0.1"
        var logger = Logger(label: "notifyd", factory: { _ in handler })
        logger.logLevel = .debug
        logger.debug("rpc \"call\"\n\u{1}", metadata: [
            "notify.rpc.status": "OK", "list": .array(["a", "b"]), "nested": .dictionary(["k": "v"]),
        ])
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false, "one line")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "debug")
        #expect(object["label"] as? String == "notifyd")
        #expect(object["message"] as? String == "rpc \"call\"\n\u{1}")
        let time = try #require(object["time"] as? String)
        #expect(time.count == 24 && time.hasSuffix("Z"), "RFC 3339 UTC with milliseconds: \(time)")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let parsed = try #require(formatter.date(from: time))
        #expect(abs(parsed.timeIntervalSinceNow) < 60)
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["notify.rpc.status"] as? String == "OK")
        #expect(metadata["notify.peer"] as? String == "127.0.0.1")
        #expect(metadata["list"] as? [String] == ["a", "b"])
        #expect((metadata["nested"] as? [String: String])?["k"] == "v")
    }

    @Test("times are UTC: the epoch and a date before it")
    func rfc3339() {
        #expect(JSONLogHandler.rfc3339(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(JSONLogHandler.rfc3339(Date(timeIntervalSince1970: 1_796_000_123.4567)) == "2026-11-30T00:55:23.456Z")
        #expect(JSONLogHandler.rfc3339(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
    }
}
