import Foundation
import GRDB
import NotifyDomain
import NotifyStorage
import Testing

@testable import NotifyStorageSQLite

/// Notification content in typed columns: stored and read back exactly, and
/// moved from the previous releases' JSON text by `v7-typed-content` with
/// nothing lost.
@Suite("Notification content in typed columns")
struct ContentColumnsTests {
    /// Every ASCII control character, quotes, backslashes, slashes and non-ASCII text.
    static let awkward = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
        + #" "quoted" back\slash /slash/ ünïcode 日本 🎉"# + "\u{7F} \u{2028} \u{FEFF}"

    static let contents: [NotificationContent] = [
        Sample.custom(),
        Sample.custom(title: nil),
        Sample.graph,
        .custom(CustomNotification(type: awkward, embed: nil, title: "", description: nil, issuer: -1)),
        .custom(
            CustomNotification(
                type: "t", embed: Embed(embedType: awkward, embedID: "", url: nil, metadataJSON: nil), title: awkward,
                description: awkward, issuer: Int64.max)),
        .custom(
            CustomNotification(
                type: "t", embed: Embed(embedType: "", embedID: "e", url: "", metadataJSON: "{}"), title: nil,
                description: "", issuer: Int64.min)),
        .graph(
            GraphNotification(
                targetHostName: nil, appNotificationID: nil, groupName: nil,
                expiration: Timestamp(microsecondsSince1970: -12_000_001),
                payload: Payload(rawContent: nil, visualContent: nil), platforms: [], priority: .none,
                displayTimeToLive: Int64.min, fallbackPolicyJSON: nil)),
        .graph(
            GraphNotification(
                targetHostName: awkward, appNotificationID: awkward, groupName: awkward, expiration: Timestamp.now(),
                payload: Payload(rawContent: awkward, visualContent: VisualContent(title: awkward, body: awkward)),
                platforms: [.windows, .webPush, .windows], priority: .low, displayTimeToLive: 0,
                fallbackPolicyJSON: awkward)),
        .graph(
            GraphNotification(
                targetHostName: "", appNotificationID: "", groupName: "", expiration: Timestamp(microsecondsSince1970: 0),
                payload: Payload(rawContent: "", visualContent: VisualContent(title: "", body: "")),
                platforms: [.android, .ios, .webPush, .windows], priority: .high, displayTimeToLive: Int64.max,
                fallbackPolicyJSON: "")),
    ]

    /// Every content row of the file, by id, read through ``ContentColumns``.
    static func storedContents(_ path: String) throws -> [String: NotificationContent] {
        let queue = try DatabaseQueue(path: path)
        return try queue.read { db in
            let statement = try db.makeStatement(
                sql: "SELECT n.id, \(ContentColumns.selection("n")) FROM notifications n")
            let rows = try Row.fetchCursor(statement)
            var contents: [String: NotificationContent] = [:]
            while let row = try rows.next() {
                contents[row[0]] = try ContentColumns.read(statement, from: 1)
            }
            return contents
        }
    }

    @Test("each shape of content is stored in its columns and read back exactly", arguments: contents)
    func roundTrip(content: NotificationContent) async throws {
        try await withStore(SQLiteStoreConfiguration(retention: nil)) { store, _ in
            try await store.putUser(User(id: 1))
            let appended = try await store.append(
                NewNotification(id: "n", createdAt: Sample.created, content: content, recipients: .users([1]), idempotencyKey: nil))
            #expect(appended.first?.content == content)
            let entry = try await store.feedEntry(user: 1, id: "n", now: Timestamp(microsecondsSince1970: .min))
            #expect(entry?.content == content)
            let page = try await store.feedPage(
                user: 1, after: 0, limit: 10, maxBytes: .max, now: Timestamp(microsecondsSince1970: .min), filter: .all)
            #expect(page.entries.map(\.content) == [content])
        }
    }

    @Test("v7 moves the JSON content the previous releases wrote into typed columns, member by member")
    func migratesJSON() throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let queue = try DatabaseQueue(path: database.path)
        try Schema.migrator.migrate(queue, upTo: "v6-feed-state")
        var written: [String: NotificationContent] = [:]
        try queue.write { db in
            for (index, content) in Self.contents.enumerated() {
                let (kind, json) = try StoredContentOracle.encode(content)
                let expiresAt: Int64? = if case .graph(let graph) = content { graph.expiration.microsecondsSince1970 } else { nil }
                try db.execute(
                    sql: "INSERT INTO notifications (id, created_at, kind, content, expires_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: ["n\(index)", Sample.created.microsecondsSince1970 + Int64(index), kind, json, expiresAt])
                try db.execute(
                    sql: "INSERT INTO feed (user, seq, notification) VALUES (1, ?, ?)",
                    arguments: [index + 1, db.lastInsertedRowID])
                written["n\(index)"] = content
            }
        }
        let before = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT serial, id, created_at, kind, expires_at FROM notifications ORDER BY serial")
        }
        try Schema.migrator.migrate(queue)
        let after = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT serial, id, created_at, kind, expires_at FROM notifications ORDER BY serial")
        }
        try queue.close()
        #expect(after == before)
        let read = try Self.storedContents(database.path)
        #expect(read.count == written.count)
        for (id, content) in written {
            #expect(read[id] == content, "\(id)")
        }
    }

    @Test("a row the migration cannot move whole stops it: the file stays as it was", arguments: [
        ("custom", "not json"),
        ("custom", "[1]"),
        ("custom", #"{"issuer":1}"#),
        ("custom", #"{"type":"t","issuer":1,"embed":{"embedID":"e"}}"#),
        ("graph", #"{"expiration":0,"hasVisualContent":false,"platforms":["windows"],"priority":"None"}"#),
        ("graph", #"{"displayTimeToLive":1,"expiration":0,"hasVisualContent":false,"priority":"None"}"#),
        ("other", #"{"type":"t","issuer":1}"#),
    ])
    func refusesIncomplete(kind: String, json: String) throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let queue = try DatabaseQueue(path: database.path)
        try Schema.migrator.migrate(queue, upTo: "v6-feed-state")
        let (goodKind, good) = try StoredContentOracle.encode(Sample.custom())
        try queue.write { db in
            for (id, kind, json) in [("good", goodKind, good), ("bad", kind, json)] {
                try db.execute(
                    sql: "INSERT INTO notifications (id, created_at, kind, content) VALUES (?, 1, ?, ?)",
                    arguments: [id, kind, json])
            }
        }
        #expect(throws: (any Error).self) { try Schema.migrator.migrate(queue) }
        let (applied, contents) = try queue.read { db in
            (try Schema.migrator.appliedIdentifiers(db),
             try String.fetchAll(db, sql: "SELECT content FROM notifications ORDER BY serial"))
        }
        #expect(!applied.contains("v7-typed-content"))
        #expect(contents == [good, json])
    }

    @Test("a page's byte budget counts the typed columns' bytes")
    func byteBudget() async throws {
        try await withStore { store, _ in
            try await store.putUser(User(id: 1))
            let title = String(repeating: "é", count: 1_000)  // 2,000 bytes
            let content = NotificationContent.custom(
                CustomNotification(type: "t", embed: nil, title: title, description: nil, issuer: 7))
            for index in 1...3 {
                _ = try await store.append(NewNotification(
                    id: "b\(index)", createdAt: Sample.created, content: content, recipients: .users([1]), idempotencyKey: nil))
            }
            // "t" (1) + the issuer (8) + the title (2,000) + "custom" (6) = 2,015 bytes of content.
            let entry = FeedPage.size(ofContent: 2_015, id: 2)
            let two = try await store.feedPage(user: 1, after: 0, limit: 10, maxBytes: 2 * entry)
            #expect(two.entries.map(\.id) == ["b1", "b2"])
            let short = try await store.feedPage(user: 1, after: 0, limit: 10, maxBytes: 2 * entry - 1)
            #expect(short.entries.map(\.id) == ["b1"])
        }
    }
}
