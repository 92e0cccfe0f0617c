import Foundation
import GRDB
internal import GRDBSQLite
import NotifyDomain
import NotifyJSON
import NotifyStorageSQLite

/// The two ways of keeping a notification's content in SQLite that the
/// content-storage benchmark compares, each with its own file, table and
/// statements, driven the same way.
///
/// - ``canonicalJSON``: what the store does (`notifications.content`, one JSON
///   text written by ``CanonicalContent``, a copy of the store's
///   `StoredContent` that the benchmark checks byte for byte against the
///   store before it times anything).
/// - ``typedColumns``: one column per member of Notify's and
///   SendNotification's content, NULL where it is optional; the embed's
///   metadata and the fallback policy stay JSON text (free-form objects), and
///   the platforms one ordered text list (their order is what the answer
///   shows).
///
/// Both bind with SQLite's C API, as the store's `HotStatement` does, and
/// read rows through GRDB's cursor, as the store's feed read does: the
/// difference measured is the content's layout, not the access path.
enum ContentLayout: String, CaseIterable, Sendable {
    case canonicalJSON = "canonical JSON"
    case typedColumns = "typed columns"

    /// The store's schema for what both layouts share (serial, id, time, kind,
    /// the feed), and the content's columns as each layout has them.
    var schema: String {
        let content: String
        switch self {
        case .canonicalJSON:
            content = "content TEXT NOT NULL"
        case .typedColumns:
            content = """
                type TEXT, issuer INTEGER, title TEXT, description TEXT,
                embed_type TEXT, embed_id TEXT, embed_url TEXT, embed_metadata TEXT,
                target_host_name TEXT, app_notification_id TEXT, group_name TEXT, expiration INTEGER,
                raw_content TEXT, visual_title TEXT, visual_body TEXT,
                platforms TEXT, priority TEXT, display_ttl INTEGER, fallback_policy TEXT
                """
        }
        return """
            CREATE TABLE notifications (
                serial INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL,
                kind TEXT NOT NULL,
                \(content)
            );
            CREATE TABLE feed (
                user INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                notification INTEGER NOT NULL,
                PRIMARY KEY (user, seq)
            ) WITHOUT ROWID;
            """
    }

    var insertSQL: String {
        switch self {
        case .canonicalJSON:
            return "INSERT INTO notifications (id, created_at, kind, content) VALUES (?, ?, ?, ?)"
        case .typedColumns:
            return """
                INSERT INTO notifications (id, created_at, kind,
                    type, issuer, title, description, embed_type, embed_id, embed_url, embed_metadata,
                    target_host_name, app_notification_id, group_name, expiration, raw_content, visual_title,
                    visual_body, platforms, priority, display_ttl, fallback_policy)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        }
    }

    /// The store's feed read (`SQLiteNotificationStore.feedPage`) with this
    /// layout's content columns.
    var pageSQL: String {
        let content: String
        switch self {
        case .canonicalJSON:
            content = "n.content"
        case .typedColumns:
            content = """
                n.type, n.issuer, n.title, n.description, n.embed_type, n.embed_id, n.embed_url, n.embed_metadata,
                n.target_host_name, n.app_notification_id, n.group_name, n.expiration, n.raw_content, n.visual_title,
                n.visual_body, n.platforms, n.priority, n.display_ttl, n.fallback_policy
                """
        }
        return """
            SELECT f.seq, n.serial, n.id, n.created_at, n.kind, \(content)
            FROM feed f JOIN notifications n ON n.serial = f.notification
            WHERE f.user = ? AND f.seq > ?
            ORDER BY f.seq
            LIMIT ?
            """
    }

    /// One append: encode, insert the notification, insert its feed row.
    /// Runs inside the batch's transaction, as the store's writer does.
    func append(
        _ db: Database, insert: Statement, feed: Statement, id: String, createdAt: Int64,
        content: NotificationContent, user: Int64, seq: Int64
    ) throws {
        let statement = insert.sqliteStatement
        bind(statement, 1, id)
        sqlite3_bind_int64(statement, 2, createdAt)
        switch self {
        case .canonicalJSON:
            let (kind, json) = StoredContent.encode(content)
            bind(statement, 3, kind)
            bind(statement, 4, json)
        case .typedColumns:
            switch content {
            case .custom(let custom):
                bind(statement, 3, StoredContent.customKind)
                bind(statement, 4, custom.type)
                sqlite3_bind_int64(statement, 5, custom.issuer)
                bind(statement, 6, custom.title)
                bind(statement, 7, custom.description)
                bind(statement, 8, custom.embed?.embedType)
                bind(statement, 9, custom.embed?.embedID)
                bind(statement, 10, custom.embed?.url)
                bind(statement, 11, custom.embed?.metadataJSON)
                for index in CInt(12)...22 { sqlite3_bind_null(statement, index) }
            case .graph(let graph):
                bind(statement, 3, StoredContent.graphKind)
                for index in CInt(4)...11 { sqlite3_bind_null(statement, index) }
                bind(statement, 12, graph.targetHostName)
                bind(statement, 13, graph.appNotificationID)
                bind(statement, 14, graph.groupName)
                sqlite3_bind_int64(statement, 15, graph.expiration.microsecondsSince1970)
                bind(statement, 16, graph.payload.rawContent)
                bind(statement, 17, graph.payload.visualContent?.title)
                bind(statement, 18, graph.payload.visualContent?.body)
                bind(statement, 19, Self.platformList(graph.platforms))
                bind(statement, 20, graph.priority.rawValue)
                sqlite3_bind_int64(statement, 21, graph.displayTimeToLive)
                bind(statement, 22, graph.fallbackPolicyJSON)
            }
        }
        try step(db, insert)
        let feedStatement = feed.sqliteStatement
        sqlite3_bind_int64(feedStatement, 1, user)
        sqlite3_bind_int64(feedStatement, 2, seq)
        sqlite3_bind_int64(feedStatement, 3, db.lastInsertedRowID)
        try step(db, feed)
    }

    /// A page of `user`'s feed after `after`, decoded, as the store reads one.
    func page(_ db: Database, user: Int64, after: Int64, limit: Int) throws -> [NotifyDomain.Notification] {
        let statement = try db.cachedStatement(sql: pageSQL)
        var entries: [NotifyDomain.Notification] = []
        entries.reserveCapacity(limit)
        let rows = try Row.fetchCursor(statement, arguments: [user, after, limit])
        while let row = try rows.next() {
            let sequence: Int64 = row[0]
            let content: NotificationContent
            switch self {
            case .canonicalJSON:
                content = try StoredContent.decode(kind: row[4], json: row[5])
            case .typedColumns:
                content = try Self.decodeColumns(row)
            }
            entries.append(NotifyDomain.Notification(
                id: row[2], sequence: UInt64(max(0, sequence)), user: user,
                createdAt: Timestamp(microsecondsSince1970: row[3]), content: content))
        }
        return entries
    }

    /// The content from its columns (5 onwards in ``pageSQL``).
    private static func decodeColumns(_ row: Row) throws(ContentBenchError) -> NotificationContent {
        let kind: String = row[4]
        switch kind {
        case StoredContent.customKind:
            guard let type: String = row[5], let issuer: Int64 = row[6] else { throw ContentBenchError("type or issuer is NULL") }
            var embed: NotifyDomain.Embed?
            if let embedType: String = row[9] {
                guard let embedID: String = row[10] else { throw ContentBenchError("embed_id is NULL") }
                embed = Embed(embedType: embedType, embedID: embedID, url: row[11], metadataJSON: row[12])
            }
            return .custom(CustomNotification(type: type, embed: embed, title: row[7], description: row[8], issuer: issuer))
        case StoredContent.graphKind:
            guard let expiration: Int64 = row[16], let list: String = row[20], let priorityName: String = row[21],
                let priority = Priority(rawValue: priorityName), let ttl: Int64 = row[22]
            else { throw ContentBenchError("a required graph column is NULL or unknown") }
            var platforms: [Platform] = []
            for name in list.split(separator: ",") {
                guard let platform = Platform(rawValue: String(name)) else { throw ContentBenchError("unknown platform") }
                platforms.append(platform)
            }
            let visual = (row[18] as String?).map { VisualContent(title: $0, body: row[19]) }
            return .graph(GraphNotification(
                targetHostName: row[13], appNotificationID: row[14], groupName: row[15],
                expiration: Timestamp(microsecondsSince1970: expiration),
                payload: Payload(rawContent: row[17], visualContent: visual), platforms: platforms, priority: priority,
                displayTimeToLive: ttl, fallbackPolicyJSON: row[23]))
        default:
            throw ContentBenchError("unknown kind")
        }
    }

    /// The platforms in their order, comma-separated (no raw value holds a comma).
    static func platformList(_ platforms: [Platform]) -> String {
        var list = ""
        for platform in platforms {
            if !list.isEmpty { list += "," }
            list += platform.rawValue
        }
        return list
    }

    private func bind(_ statement: SQLiteStatement, _ index: CInt, _ text: String?) {
        guard var text else {
            sqlite3_bind_null(statement, index)
            return
        }
        text.withUTF8 { utf8 in
            let bytes = UnsafeRawPointer(utf8.baseAddress ?? Self.empty.utf8Start).assumingMemoryBound(to: CChar.self)
            _ = sqlite3_bind_text(statement, index, bytes, CInt(utf8.count), Self.transient)
        }
    }

    private func step(_ db: Database, _ statement: Statement) throws {
        let handle = statement.sqliteStatement
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "step failed", sql: statement.sql)
        }
    }

    private static let empty: StaticString = ""
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
}

struct ContentBenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = "content storage: \(description)" }
}

