public import NotifyDomain
public import NotifyStorage
import GRDB

extension SQLiteNotificationStore {
    /// A page newest first (``NotificationLog/feedPageNewestFirst(user:before:limit:maxBytes:now:filter:)``).
    ///
    /// The same selection and row decoding as the oldest-first page
    /// (``feedRowSelection``, ``feedRowSize(_:statement:)``, ``feedNotification(_:statement:user:)``), read
    /// backwards along the feed's primary key `(user, seq)`: the cost is the
    /// page and the rows passed over, whatever the feed's length.
    public func feedPageNewestFirst(
        user: Int64, before: UInt64?, limit: Int, maxBytes: Int, now: Timestamp, filter: FeedFilter
    ) async throws(StorageError) -> FeedPage {
        // 0 and nil both mean "from the head"; past Int64 is past every sequence.
        let cursor: Int64 = before.flatMap { $0 == 0 ? nil : Int64(clamping: $0) } ?? .max
        guard limit > 0 else { return FeedPage(entries: [], caughtUp: false, nextAfter: UInt64(cursor)) }
        let now = now.storedMicroseconds
        return try await engine.read("reading a feed newest first") { db in
            try Self.newestFirstPage(db, user: user, cursor: cursor, limit: limit, maxBytes: maxBytes, now: now, filter: filter)
        }
    }

    /// Rows before the cursor, highest first.
    private static let newestFirstSQL = """
        \(feedRowSelection)
        WHERE f.user = :user AND f.seq < :cursor
        ORDER BY f.seq DESC
        LIMIT :scan
        """

    private static func newestFirstPage(
        _ db: Database, user: Int64, cursor: Int64, limit: Int, maxBytes: Int, now: Int64, filter: FeedFilter
    ) throws -> FeedPage {
        var none: [Int]?
        let rows = try feedRows(
            db, sql: newestFirstSQL, user: user, cursor: cursor, limit: limit, maxBytes: maxBytes, now: now,
            filter: filter, sizes: &none)
        // A read from the head that met no row at all says so with 1
        // (nothing is below it), not with its own cursor.
        var page = FeedPage(
            entries: rows.entries, caughtUp: rows.caughtUp, nextAfter: UInt64(max(0, rows.next == .max ? 1 : rows.next)))
        if rows.caughtUp && rows.entries.isEmpty { page.end = try feedEnd(db, user: user) }
        return page
    }
}
