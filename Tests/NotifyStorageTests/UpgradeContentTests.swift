import Foundation
import GRDB
import NotifyDomain
import NotifyStorage
import Testing

@testable import NotifyStorageSQLite

/// The upgrade fixture's notifications (Tests/Fixtures/upgrade-v1, written by
/// an older release as JSON text; NotifyGatewayTests' `UpgradeTests` checks
/// what clients see of it) survive `v7-typed-content` member by member: each
/// JSON member lands in its column unchanged, no member is left behind, and
/// the store reads back what the old format meant.
@Suite("The upgrade fixture's content moves to typed columns member by member")
struct UpgradeContentTests {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/upgrade-v1/data/notify.sqlite")

    /// Each content column, and the JSON member it comes from.
    static let customColumns: [(column: String, member: [String])] = [
        ("type", ["type"]), ("issuer", ["issuer"]), ("title", ["title"]), ("description", ["description"]),
        ("embed_type", ["embed", "embedType"]), ("embed_id", ["embed", "embedID"]), ("embed_url", ["embed", "url"]),
        ("embed_metadata", ["embed", "metadataJSON"]),
    ]
    static let graphColumns: [(column: String, member: [String])] = [
        ("expires_at", ["expiration"]), ("target_host_name", ["targetHostName"]),
        ("app_notification_id", ["appNotificationID"]), ("group_name", ["groupName"]), ("raw_content", ["rawContent"]),
        ("visual_body", ["visualBody"]), ("priority", ["priority"]), ("display_ttl", ["displayTimeToLive"]),
        ("fallback_policy", ["fallbackPolicyJSON"]),
        // Below, by their own rules: visual_title (hasVisualContent, visualTitle), platforms.
    ]

    /// The member at `path` as the database value a column holds: NULL when absent.
    static func member(_ object: [String: Any], _ path: [String]) -> DatabaseValue {
        var value: Any? = object
        for key in path { value = (value as? [String: Any])?[key] }
        switch value {
        case let text as String: return text.databaseValue
        case let number as NSNumber: return number.int64Value.databaseValue
        default: return .null
        }
    }

    @Test("each JSON member is in its column, nothing else is, and the store reads what the JSON meant")
    func movesEveryMember() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        try FileManager.default.copyItem(atPath: Self.fixture.path, toPath: database.path)

        // Before: the rows as the older release wrote them.
        let before = try DatabaseQueue(path: database.path)
        let old = try await before.read { db in
            try Row.fetchAll(db, sql: "SELECT serial, id, created_at, kind, content FROM notifications ORDER BY serial")
        }
        try before.close()
        #expect(old.count == 16)

        // The store migrates as it opens.
        let store = try database.open(SQLiteStoreConfiguration(retention: nil, sweepInterval: .zero))
        let after = try DatabaseQueue(path: database.path)
        let new = try await after.read { db in try Row.fetchAll(db, sql: "SELECT * FROM notifications ORDER BY serial") }
        try after.close()
        #expect(new.count == old.count)

        for (oldRow, newRow) in zip(old, new) {
            let id: String = oldRow["id"]
            #expect(newRow["serial"] == oldRow["serial"] as Int64, "\(id)")
            #expect(newRow["id"] == id)
            #expect(newRow["created_at"] == oldRow["created_at"] as Int64, "\(id)")
            let kind: String = oldRow["kind"]
            #expect(newRow["kind"] == kind, "\(id)")
            let json: String = oldRow["content"]
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])

            let (mine, others) = kind == "custom"
                ? (Self.customColumns, Self.graphColumns) : (Self.graphColumns, Self.customColumns)
            for (column, path) in mine {
                #expect(newRow[column] as DatabaseValue == Self.member(object, path), "\(id).\(column)")
            }
            for (column, _) in others {
                #expect((newRow[column] as DatabaseValue).isNull, "\(id).\(column)")
            }
            if kind == "graph" {
                let visual = (object["hasVisualContent"] as? Bool) == true
                let title: String? = visual ? (object["visualTitle"] as? String ?? "") : nil
                #expect(newRow["visual_title"] == title, "\(id).visual_title")
                let platforms = try #require(object["platforms"] as? [String])
                #expect(newRow["platforms"] == platforms.joined(separator: ","), "\(id).platforms")
            } else {
                #expect((newRow["visual_title"] as DatabaseValue).isNull && (newRow["platforms"] as DatabaseValue).isNull)
            }
            // Every member of the JSON has a column.
            var members = Set(object.keys)
            if let embed = object["embed"] as? [String: Any] {
                members.remove("embed")
                members.formUnion(embed.keys.map { "embed.\($0)" })
            }
            let mapped = Set((Self.customColumns + Self.graphColumns).map { $0.member.joined(separator: ".") })
                .union(["hasVisualContent", "visualTitle", "platforms"])
            #expect(members.subtracting(mapped).isEmpty, "\(id): \(members.subtracting(mapped))")
            // The table holds nothing else: the content column is gone.
            #expect(Set(newRow.columnNames) == Set(["serial", "id", "created_at", "kind", "platforms", "visual_title"]
                + (Self.customColumns + Self.graphColumns).map(\.column)))
        }

        // The store reads each entry as the old format meant it (the format's
        // independent definition, StoredContentOracle), expired ones too at an earlier now.
        try await store.withRunning { store in
            let fixtureTime = Timestamp(microsecondsSince1970: 1_796_571_280_000_000)
            var read = 0
            for row in old {
                let id: String = row["id"]
                let expected = try StoredContentOracle.decode(kind: row["kind"], json: row["content"])
                for user in Int64(1)...5 {
                    guard let entry = try await store.feedEntry(user: user, id: id, now: fixtureTime) else { continue }
                    #expect(entry.content == expected, "\(id)")
                    read += 1
                }
            }
            #expect(read >= old.count)
        }
    }
}
