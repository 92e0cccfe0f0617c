import Foundation
import GRDB
internal import GRDBSQLite
import NotifyDomain
import NotifyJSON
import NotifyStorage
import NotifyStorageSQLite

/// The two ways of keeping a notification's content in SQLite that the
/// content-storage benchmark compares, each with its own file, table and
/// statements, driven the same way.
///
/// - ``canonicalJSON``: the layout before `v7-typed-content`
///   (`notifications.content`, one JSON text), written and read by
///   ``PreviousContentJSON``, the store's code of then, kept here so the
///   comparison stays possible.
/// - ``typedColumns``: the store's layout now: its columns, and its own
///   ``ContentColumns`` binding and reading them (package access).
///
/// Both bind with SQLite's C API, as the store's `HotStatement` does, and
/// read rows through GRDB's cursor, as the store's feed read does: the
/// difference measured is the content's layout, not the access path.
enum ContentLayout: String, CaseIterable, Sendable {
    case canonicalJSON = "canonical JSON"
    case typedColumns = "typed columns"

    /// The store's schema for what both layouts share (serial, id, time, kind,
    /// expiry, the feed), and the content's columns as each layout has them
    /// (for the typed one, v7's).
    var schema: String {
        let content: String
        switch self {
        case .canonicalJSON:
            content = "content TEXT NOT NULL"
        case .typedColumns:
            content = """
                type TEXT, issuer INTEGER, title TEXT, description TEXT,
                embed_type TEXT, embed_id TEXT, embed_url TEXT, embed_metadata TEXT,
                target_host_name TEXT, app_notification_id TEXT, group_name TEXT,
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
                expires_at INTEGER,
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

    /// The store's feed read (`SQLiteNotificationStore.feedPage`) with this
    /// layout's content columns.
    var pageSQL: String {
        let content: String
        switch self {
        case .canonicalJSON:
            content = "n.kind, n.content"
        case .typedColumns:
            content = ContentColumns.selection("n")
        }
        return """
            SELECT f.seq, n.id, n.created_at, \(content)
            FROM feed f JOIN notifications n ON n.serial = f.notification
            WHERE f.user = ? AND f.seq > ?
            ORDER BY f.seq
            LIMIT ?
            """
    }

    /// The statements one append runs, from the connection's cache.
    struct Statements {
        /// JSON: the one insert. Typed: Notify's insert.
        let insert: HotStatement
        /// Typed: SendNotification's insert (JSON: the same as ``insert``).
        let insertGraph: HotStatement
        let feed: Statement
    }

    func statements(_ db: Database) throws -> Statements {
        let feed = try db.cachedStatement(sql: "INSERT INTO feed (user, seq, notification) VALUES (?, ?, ?)")
        switch self {
        case .canonicalJSON:
            let insert = HotStatement(statement: try db.cachedStatement(
                sql: "INSERT INTO notifications (id, created_at, kind, content, expires_at) VALUES (?, ?, ?, ?, ?)"))
            return Statements(insert: insert, insertGraph: insert, feed: feed)
        case .typedColumns:
            return Statements(
                insert: HotStatement(statement: try db.cachedStatement(sql: ContentColumns.insertCustomSQL)),
                insertGraph: HotStatement(statement: try db.cachedStatement(sql: ContentColumns.insertGraphSQL)),
                feed: feed)
        }
    }

    /// One append: encode, insert the notification, insert its feed row.
    /// Runs inside the batch's transaction, as the store's writer does.
    func append(
        _ db: Database, _ statements: Statements, id: String, createdAt: Int64,
        content: NotificationContent, user: Int64, seq: Int64
    ) throws {
        switch self {
        case .canonicalJSON:
            let (kind, json) = PreviousContentJSON.encode(content)
            let insert = statements.insert
            insert.bind(id, at: 1)
            insert.bind(createdAt, at: 2)
            insert.bind(kind, at: 3)
            insert.bind(json, at: 4)
            if case .graph(let graph) = content {
                insert.bind(graph.expiration.microsecondsSince1970, at: 5)
            } else {
                insert.bind(nil, at: 5)
            }
            try insert.execute(db)
        case .typedColumns:
            // As the store: the platform list is made before the writer thread.
            let platforms: String? = if case .graph(let graph) = content { ContentColumns.platformList(graph.platforms) } else { nil }
            try ContentColumns.bindInsert(
                content, id: id, createdAt: createdAt, platforms: platforms,
                custom: statements.insert, graph: statements.insertGraph
            ).execute(db)
        }
        let feedStatement = statements.feed.sqliteStatement
        sqlite3_bind_int64(feedStatement, 1, user)
        sqlite3_bind_int64(feedStatement, 2, seq)
        sqlite3_bind_int64(feedStatement, 3, db.lastInsertedRowID)
        try step(db, statements.feed)
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
                content = try PreviousContentJSON.decode(kind: row[3], json: row[4])
            case .typedColumns:
                content = try ContentColumns.read(statement, from: 3)
            }
            entries.append(NotifyDomain.Notification(
                id: row[1], sequence: UInt64(max(0, sequence)), user: user,
                createdAt: Timestamp(microsecondsSince1970: row[2]), content: content))
        }
        return entries
    }

    private func step(_ db: Database, _ statement: Statement) throws {
        let handle = statement.sqliteStatement
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "step failed", sql: statement.sql)
        }
    }

}

struct ContentBenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = "content storage: \(description)" }
}


/// `notifications.content` as the store wrote and read it before
/// `v7-typed-content` (its `StoredContent`, as it was): one canonical JSON
/// text (compact, keys sorted, nil members omitted, times as integer
/// microseconds) through NotifyJSON. Kept here only so the benchmark can
/// time the layout the store left against the one it uses.
enum PreviousContentJSON {
    /// The stored JSON, through NotifyJSON's writer, keys in sorted order:
    /// byte for byte what JSONEncoder with `.sortedKeys` and
    /// `.withoutEscapingSlashes` writes for the same members (the tests' oracle),
    /// at a fraction of its cost, since every append pays it.
    static func encode(_ content: NotificationContent) -> (kind: String, json: String) {
        var writer = JSONWriter(capacity: 512)
        writer.beginObject()
        switch content {
        case .custom(let custom):
            writer.member("description", omittingNil: custom.description)
            if let embed = custom.embed {
                writer.key("embed")
                writer.beginObject()
                writer.member("embedID", embed.embedID)
                writer.member("embedType", embed.embedType)
                writer.member("metadataJSON", omittingNil: embed.metadataJSON)
                writer.member("url", omittingNil: embed.url)
                writer.endObject()
            }
            writer.member("issuer", custom.issuer)
            writer.member("title", omittingNil: custom.title)
            writer.member("type", custom.type)
            writer.endObject()
            return (ContentColumns.customKind, writer.text)
        case .graph(let graph):
            writer.member("appNotificationID", omittingNil: graph.appNotificationID)
            writer.member("displayTimeToLive", graph.displayTimeToLive)
            writer.member("expiration", graph.expiration.microsecondsSince1970)
            writer.member("fallbackPolicyJSON", omittingNil: graph.fallbackPolicyJSON)
            writer.member("groupName", omittingNil: graph.groupName)
            writer.member("hasVisualContent", graph.payload.visualContent != nil)
            writer.member("platforms", strings: graph.platforms.lazy.map(\.rawValue))
            writer.member("priority", graph.priority.rawValue)
            writer.member("rawContent", omittingNil: graph.payload.rawContent)
            writer.member("targetHostName", omittingNil: graph.targetHostName)
            writer.member("visualBody", omittingNil: graph.payload.visualContent?.body)
            writer.member("visualTitle", omittingNil: graph.payload.visualContent?.title)
            writer.endObject()
            return (ContentColumns.graphKind, writer.text)
        }
    }

    /// Reads the stored JSON with NotifyJSON's reader (the gateway's).
    /// Every entry a feed returns pays it, every live reader once per entry:
    /// through JSONDecoder it was over half of a Watch's read of new entries.
    /// Tests hold it to a JSONDecoder oracle.
    static func decode(kind: String, json: String) throws(StorageError) -> NotificationContent {
        let parsed = JSONValue.parse(text: json)
        guard case .object(let object)? = parsed else { throw unreadable("not a JSON object") }
        let fields = Fields(object: object)
        switch kind {
        case ContentColumns.customKind:
            var embed: NotifyDomain.Embed?
            if let value = object["embed"] {
                guard case .object(let nested) = value else { throw unreadable("embed is not an object") }
                let embedFields = Fields(object: nested)
                embed = NotifyDomain.Embed(
                    embedType: try embedFields.string("embedType"), embedID: try embedFields.string("embedID"),
                    url: try embedFields.optionalString("url"), metadataJSON: try embedFields.optionalString("metadataJSON"))
            }
            return .custom(
                CustomNotification(
                    type: try fields.string("type"), embed: embed, title: try fields.optionalString("title"),
                    description: try fields.optionalString("description"), issuer: try fields.integer("issuer")))
        case ContentColumns.graphKind:
            var platforms: [Platform] = []
            for name in try fields.strings("platforms") {
                guard let platform = Platform(rawValue: name) else {
                    throw StorageError(code: .corrupt, message: "a stored notification has an unknown platform")
                }
                platforms.append(platform)
            }
            guard let priority = Priority(rawValue: try fields.string("priority")) else {
                throw StorageError(code: .corrupt, message: "a stored notification has an unknown priority")
            }
            let visual = try fields.boolean("hasVisualContent")
                ? VisualContent(title: try fields.optionalString("visualTitle") ?? "", body: try fields.optionalString("visualBody"))
                : nil
            return .graph(
                GraphNotification(
                    targetHostName: try fields.optionalString("targetHostName"),
                    appNotificationID: try fields.optionalString("appNotificationID"),
                    groupName: try fields.optionalString("groupName"),
                    expiration: Timestamp(microsecondsSince1970: try fields.integer("expiration")),
                    payload: Payload(rawContent: try fields.optionalString("rawContent"), visualContent: visual),
                    platforms: platforms, priority: priority, displayTimeToLive: try fields.integer("displayTimeToLive"),
                    fallbackPolicyJSON: try fields.optionalString("fallbackPolicyJSON")))
        default:
            throw StorageError(code: .corrupt, message: "a stored notification has an unknown kind")
        }
    }

    private static func unreadable(_ cause: String) -> StorageError {
        StorageError(code: .corrupt, message: "a stored notification is unreadable", cause: cause)
    }

    /// The members of one stored object, typed as the mirror structs declare them.
    private struct Fields {
        let object: [String: JSONValue]

        func optionalString(_ key: String) throws(StorageError) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let value)?: return value
            default: throw unreadable("\(key) is not a string")
            }
        }

        func string(_ key: String) throws(StorageError) -> String {
            guard let value = try optionalString(key) else { throw unreadable("\(key) is missing") }
            return value
        }

        func integer(_ key: String) throws(StorageError) -> Int64 {
            guard case .integer(let value)? = object[key] else { throw unreadable("\(key) is not an integer") }
            return value
        }

        func boolean(_ key: String) throws(StorageError) -> Bool {
            guard case .bool(let value)? = object[key] else { throw unreadable("\(key) is not a boolean") }
            return value
        }

        func strings(_ key: String) throws(StorageError) -> [String] {
            guard case .array(let values)? = object[key] else { throw unreadable("\(key) is not an array") }
            var strings: [String] = []
            strings.reserveCapacity(values.count)
            for value in values {
                guard case .string(let string) = value else { throw unreadable("\(key) holds a non-string") }
                strings.append(string)
            }
            return strings
        }
    }
}
