package import GRDB
internal import GRDBSQLite
package import NotifyDomain
package import NotifyStorage

/// A notification's content in `notifications`' typed columns (migration
/// `v7-typed-content`): one column per member of Notify's and
/// SendNotification's content, NULL where a member is absent or belongs to
/// the other kind, so that nil and an empty string stay distinct.
///
/// Typed columns rather than one JSON text: a feed page reads in 0.51–0.71×
/// the time and the file is 0.62–0.73× the size (docs/PERFORMANCE.md,
/// "Notification content"), and SQL tests a member (a filter, a group, an
/// application) without parsing JSON. The free-form members (the embed's
/// metadata, the fallback policy) stay the JSON text the caller sent; the
/// platforms are one text list in their order (the order and any repeat are
/// what the answer shows), comma-separated, which SQL tests with `instr`
/// (no platform's name holds a comma). A SendNotification's expiration is
/// `expires_at`, which the reads and the sweeper also filter on.
///
/// Values are bound and read through SQLite's C API with their lengths, so
/// a text is stored and read back byte for byte, whatever it holds.
/// Package access: `notify-bench` times this layout against the JSON text
/// it replaced.
package enum ContentColumns {
    /// `notifications.kind` of Notify's content.
    package static let customKind = "custom"
    /// `notifications.kind` of SendNotification's content.
    package static let graphKind = "graph"

    /// The columns ``read(_:from:)`` and ``byteCount(_:from:)`` read, in their order.
    private static let names = [
        "kind", "expires_at",
        "type", "issuer", "title", "description", "embed_type", "embed_id", "embed_url", "embed_metadata",
        "target_host_name", "app_notification_id", "group_name", "raw_content", "visual_title", "visual_body",
        "platforms", "priority", "display_ttl", "fallback_policy",
    ]

    /// The columns to select, in the order ``read(_:from:)`` reads them,
    /// each qualified by `alias` (a table name or alias).
    package static func selection(_ alias: String) -> String {
        names.map { "\(alias).\($0)" }.joined(separator: ", ")
    }

    /// The insert of Notify's content: id, created_at, then its members.
    package static let insertCustomSQL = """
        INSERT INTO notifications (id, created_at, kind,
            type, issuer, title, description, embed_type, embed_id, embed_url, embed_metadata)
        VALUES (?, ?, 'custom', ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// The insert of SendNotification's content: id, created_at, then its
    /// members, the expiration as `expires_at`.
    package static let insertGraphSQL = """
        INSERT INTO notifications (id, created_at, kind, expires_at,
            target_host_name, app_notification_id, group_name, raw_content, visual_title, visual_body,
            platforms, priority, display_ttl, fallback_policy)
        VALUES (?, ?, 'graph', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// The platforms as `notifications.platforms` holds them: their names in
    /// their order, comma-separated.
    package static func platformList(_ platforms: [Platform]) -> String {
        var list = ""
        for platform in platforms {
            if !list.isEmpty { list += "," }
            list += platform.rawValue
        }
        return list
    }

    /// Binds `content` (with `id` and `createdAt`) to the insert of its
    /// kind and returns it, ready to execute.
    /// - Parameter platforms: the graph content's ``platformList(_:)``,
    ///   computed before the writer thread.
    package static func bindInsert(
        _ content: NotificationContent, id: String, createdAt: Int64, platforms: String?,
        custom: HotStatement, graph: HotStatement
    ) -> HotStatement {
        switch content {
        case .custom(let notify):
            custom.bind(id, at: 1)
            custom.bind(createdAt, at: 2)
            custom.bind(notify.type, at: 3)
            custom.bind(notify.issuer, at: 4)
            custom.bind(optional: notify.title, at: 5)
            custom.bind(optional: notify.description, at: 6)
            custom.bind(optional: notify.embed?.embedType, at: 7)
            custom.bind(optional: notify.embed?.embedID, at: 8)
            custom.bind(optional: notify.embed?.url, at: 9)
            custom.bind(optional: notify.embed?.metadataJSON, at: 10)
            return custom
        case .graph(let send):
            graph.bind(id, at: 1)
            graph.bind(createdAt, at: 2)
            graph.bind(send.expiration.storedMicroseconds, at: 3)
            graph.bind(optional: send.targetHostName, at: 4)
            graph.bind(optional: send.appNotificationID, at: 5)
            graph.bind(optional: send.groupName, at: 6)
            graph.bind(optional: send.payload.rawContent, at: 7)
            graph.bind(optional: send.payload.visualContent?.title, at: 8)
            graph.bind(optional: send.payload.visualContent?.body, at: 9)
            graph.bind(platforms ?? platformList(send.platforms), at: 10)
            graph.bind(send.priority.rawValue, at: 11)
            graph.bind(send.displayTimeToLive, at: 12)
            graph.bind(optional: send.fallbackPolicyJSON, at: 13)
            return graph
        }
    }

    /// The content of the row `statement` stands on, whose columns from
    /// index `first` on are ``selection(_:)``'s.
    /// - Throws: ``StorageError/Code/corrupt`` when a required member is
    ///   NULL, or a kind, platform or priority is unknown.
    package static func read(_ statement: Statement, from first: CInt) throws(StorageError) -> NotificationContent {
        let row = statement.sqliteStatement
        guard let kind = text(row, first) else { throw unreadable("its kind is NULL") }
        switch kind {
        case customKind:
            guard let type = text(row, first + 2), let issuer = integer(row, first + 3) else {
                throw unreadable("type or issuer is NULL")
            }
            var embed: Embed?
            if let embedType = text(row, first + 6) {
                guard let embedID = text(row, first + 7) else { throw unreadable("embed_id is NULL") }
                embed = Embed(embedType: embedType, embedID: embedID, url: text(row, first + 8), metadataJSON: text(row, first + 9))
            }
            return .custom(CustomNotification(
                type: type, embed: embed, title: text(row, first + 4), description: text(row, first + 5), issuer: issuer))
        case graphKind:
            guard let expiration = integer(row, first + 1), let list = text(row, first + 16),
                let priorityName = text(row, first + 17), let ttl = integer(row, first + 18)
            else { throw unreadable("expires_at, platforms, priority or display_ttl is NULL") }
            var platforms: [Platform] = []
            for name in list.split(separator: ",", omittingEmptySubsequences: true) {
                guard let platform = Platform(rawValue: String(name)) else {
                    throw StorageError(code: .corrupt, message: "a stored notification has an unknown platform")
                }
                platforms.append(platform)
            }
            guard let priority = Priority(rawValue: priorityName) else {
                throw StorageError(code: .corrupt, message: "a stored notification has an unknown priority")
            }
            let visual = text(row, first + 14).map { VisualContent(title: $0, body: text(row, first + 15)) }
            return .graph(GraphNotification(
                targetHostName: text(row, first + 10), appNotificationID: text(row, first + 11),
                groupName: text(row, first + 12), expiration: Timestamp(storedMicroseconds: expiration),
                payload: Payload(rawContent: text(row, first + 13), visualContent: visual), platforms: platforms,
                priority: priority, displayTimeToLive: ttl, fallbackPolicyJSON: text(row, first + 19)))
        default:
            throw StorageError(code: .corrupt, message: "a stored notification has an unknown kind")
        }
    }

    /// The content's bytes in the row `statement` stands on (columns from
    /// `first` on as ``selection(_:)``'s), without reading them into Swift:
    /// each text's UTF-8 bytes, 8 for each integer, nothing for NULL. What a
    /// page's byte budget counts (``FeedPage/size(ofContent:id:)``).
    package static func byteCount(_ statement: Statement, from first: CInt) -> Int {
        let row = statement.sqliteStatement
        var bytes = 0
        for index in first..<(first + CInt(names.count)) {
            switch sqlite3_column_type(row, index) {
            case SQLITE_NULL: break
            case SQLITE_INTEGER, SQLITE_FLOAT: bytes += 8
            default: bytes += Int(sqlite3_column_bytes(row, index))
            }
        }
        return bytes
    }

    /// The text in column `index`, nil for NULL, read with its length (a
    /// text holding a NUL byte is read whole).
    private static func text(_ row: SQLiteStatement, _ index: CInt) -> String? {
        guard sqlite3_column_type(row, index) != SQLITE_NULL else { return nil }
        // sqlite3_column_text first, then _bytes: the length of the text it returned.
        guard let bytes = sqlite3_column_text(row, index) else { return "" }
        let count = Int(sqlite3_column_bytes(row, index))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    private static func integer(_ row: SQLiteStatement, _ index: CInt) -> Int64? {
        guard sqlite3_column_type(row, index) != SQLITE_NULL else { return nil }
        return sqlite3_column_int64(row, index)
    }

    private static func unreadable(_ cause: String) -> StorageError {
        StorageError(code: .corrupt, message: "a stored notification is unreadable", cause: cause)
    }
}
