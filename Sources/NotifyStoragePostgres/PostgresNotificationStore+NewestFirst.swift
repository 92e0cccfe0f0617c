public import NotifyDomain
public import NotifyStorage
import PostgresNIO

extension PostgresNotificationStore {
    /// A page newest first (``NotificationLog/feedPageNewestFirst(user:before:limit:maxBytes:now:filter:)``):
    /// the oldest-first page's selection and row scan (``feedRowQuery(where:user:cursor:limit:now:filter:)``,
    /// ``EntryRows``), read backwards along the feed's primary key.
    public func feedPageNewestFirst(
        user: Int64, before: UInt64?, limit: Int, maxBytes: Int, now: Timestamp, filter: FeedFilter
    ) async throws(StorageError) -> FeedPage {
        // 0 and nil both mean "from the head"; past Int64 is past every sequence.
        let cursor: Int64 = before.flatMap { $0 == 0 ? nil : Int64(clamping: $0) } ?? .max
        guard limit > 0 else { return FeedPage(entries: [], caughtUp: false, nextAfter: UInt64(cursor)) }
        let query = Self.feedRowQuery(
            where: "f.seq < $6 ORDER BY f.seq DESC", user: user, cursor: cursor, limit: limit, now: now, filter: filter)
        let logger = logger
        var page = try await withConnection("reading a feed newest first") { connection in
            try await Self.notificationPage(
                connection, logger, query, user: user, cursor: cursor, limit: limit, maxBytes: maxBytes
            ).page
        }
        // Retention's signal belongs to a cursor moving forward; a read from
        // the head that met no row says "nothing below" with 1, not its cursor.
        page.sweptThrough = nil
        if page.nextAfter == UInt64(Int64.max) { page.nextAfter = 1 }
        return page
    }
}
