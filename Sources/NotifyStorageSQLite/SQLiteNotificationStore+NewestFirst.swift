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
        let statement = try db.cachedStatement(sql: newestFirstSQL)
        let arguments = feedRowArguments(user: user, cursor: cursor, limit: limit, now: now, filter: filter)
        var entries: [NotifyDomain.Notification] = []
        entries.reserveCapacity(min(limit, 1024))
        var bytes = 0
        var passed = 0
        var next = cursor
        func page(caughtUp: Bool) -> FeedPage {
            FeedPage(entries: entries, caughtUp: caughtUp, nextAfter: UInt64(max(0, next)))
        }
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try rows.next() {
            let sequence: Int64 = row[0]
            // Expired, or not admitted by the filter.
            guard let size = feedRowSize(row, statement: statement) else {
                guard passed < FeedPage.maxPassedOver else { return page(caughtUp: false) }
                passed += 1
                next = sequence
                continue
            }
            guard entries.count < limit else { return page(caughtUp: false) }
            if !entries.isEmpty && bytes + size > maxBytes { return page(caughtUp: false) }
            bytes += size
            entries.append(try feedNotification(row, statement: statement, user: user))
            next = sequence
        }
        // Nothing older is left. A read from the head that met no row at
        // all says so with 1 (nothing is below it), not with its own cursor.
        if next == .max { next = 1 }
        guard entries.isEmpty else { return page(caughtUp: true) }
        let head = try Int64.fetchOne(
            db,
            sql: "SELECT COALESCE(h.last_seq, 0) FROM users u LEFT JOIN feed_heads h ON h.user = u.id WHERE u.id = ?",
            arguments: [user])
        var empty = page(caughtUp: true)
        empty.end = head.map { .head(UInt64(max(0, $0))) } ?? .noSuchUser
        return empty
    }
}
