import Foundation
import Logging
public import NotifyDomain
public import NotifyStorage
import PostgresNIO

extension PostgresNotificationStore {
    /// One page of `user`'s feed: the SQLite store's read, in PostgreSQL.
    ///
    /// Rows stream from the server and are decoded one at a time, each
    /// measured before it is decoded, so a page never holds more than its
    /// budget and the row it stops at. An expired row, or one `filter` does
    /// not admit, comes without its content (the CASE answers NULL) and is
    /// passed over, at most ``FeedPage/maxPassedOver`` of them.
    public func feedPage(
        user: Int64, after: UInt64, limit: Int, maxBytes: Int, now: Timestamp, filter: FeedFilter
    ) async throws(StorageError) -> FeedPage {
        guard limit > 0 else { return FeedPage(entries: [], caughtUp: false, nextAfter: after) }
        let cursor = Int64(clamping: after)
        let query = Self.feedRowQuery(
            where: "f.seq > $6 ORDER BY f.seq", user: user, cursor: cursor, limit: limit, now: now, filter: filter)
        let logger = logger
        // One snapshot for the events, the entries and the feed's end: read
        // apart, an event committed between the two reads could be passed
        // by a cursor moved past a later entry.
        return try await withConnection("reading a feed") { connection in
            try await Self.transaction(connection, logger, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") {
                let events = try await Self.events(
                    connection, logger, user: user, after: cursor, limit: limit, maxBytes: maxBytes, filter: filter)
                let notifications = try await Self.notificationPage(
                    connection, logger, query, user: user, cursor: cursor, limit: limit, maxBytes: maxBytes)
                return notifications.page.merging(
                    events: events.events, eventsThrough: events.through, eventsComplete: events.complete,
                    entrySizes: notifications.sizes, after: after, limit: limit, maxBytes: maxBytes)
            }
        }
    }

    /// A page's query of feed rows: `order` is the cursor's condition and
    /// the order (`$6` the cursor), after the user's rows. One selection
    /// serves both reading orders (``feedPageNewestFirst(user:before:limit:maxBytes:now:filter:)``),
    /// so their filter and row decoding (``notificationPage``) are written once.
    static func feedRowQuery(
        where order: String, user: Int64, cursor: Int64, limit: Int, now: Timestamp, filter: FeedFilter
    ) -> PostgresQuery {
        let kind: String? =
            switch filter.source {
            case .notify?: PostgresContent.customKind
            case .graph?: PostgresContent.graphKind
            case nil: nil
            }
        let scan = limit.addingReportingOverflow(FeedPage.maxPassedOver + 1)
        var bindings = PostgresBindings()
        bindings.append(now.microsecondsSince1970)
        bindings.append(kind)
        bindings.append(filter.endpoint?.app)
        bindings.append(filter.endpoint?.platform.rawValue)
        bindings.append(user)
        bindings.append(cursor)
        bindings.append(Int64(scan.overflow ? Int.max : scan.partialValue))
        return PostgresQuery(
            unsafeSQL: """
                SELECT f.seq, n.id, n.created_at, n.kind,
                    CASE WHEN n.expires_at <= $1
                        OR ($2::text IS NOT NULL AND n.kind <> $2::text)
                        OR ($3::text IS NOT NULL AND n.kind = 'graph' AND (
                            n.app IS DISTINCT FROM $3::text OR NOT ($4::text = ANY(n.platforms))))
                    THEN NULL ELSE n.content END, f.read, f.action_state
                FROM feed f JOIN notifications n ON n.serial = f.notification
                WHERE f.user_id = $5 AND \(order)
                LIMIT $7
                """,
            binds: bindings)
    }

    /// The notifications of a page (``feedPage(user:after:limit:maxBytes:now:filter:)``), before its events.
    /// - Returns: the page, and each entry's size (``FeedPage/size(ofContent:id:)``) in
    ///   order: the merge with the events keeps both to one budget.
    static func notificationPage(
        _ connection: PostgresConnection, _ logger: Logger, _ query: PostgresQuery, user: Int64, cursor: Int64, limit: Int,
        maxBytes: Int
    ) async throws -> (page: FeedPage, sizes: [Int]) {
        var sizes: [Int] = []
        let swept = try await connection.query(
            "SELECT swept_through FROM feed_heads WHERE user_id = \(user)", logger: logger
        ).collect().first?.decode(Int64.self) ?? 0
        let sweptThrough = cursor < swept ? UInt64(swept) : nil
        var entries: [NotifyDomain.Notification] = []
        var bytes = 0
        var passed = 0
        var next = cursor
        func page(caughtUp: Bool) -> (page: FeedPage, sizes: [Int]) {
            (FeedPage(entries: entries, caughtUp: caughtUp, nextAfter: UInt64(max(0, next)), sweptThrough: sweptThrough), sizes)
        }
        let rows = try await connection.query(query, logger: logger)
        for try await (sequence, id, createdAt, kind, content, read, actionState) in rows.decode(
            (Int64, String, Int64, String, String?, Bool, String?).self)
        {
            // NULL content: expired, or not admitted by the filter.
            guard let content else {
                guard passed < FeedPage.maxPassedOver else { return page(caughtUp: false) }
                passed += 1
                next = sequence
                continue
            }
            guard entries.count < limit else { return page(caughtUp: false) }
            let size = FeedPage.size(ofContent: content.utf8.count, id: id.utf8.count)
            if !entries.isEmpty && bytes + size > maxBytes { return page(caughtUp: false) }
            bytes += size
            sizes.append(size)
            // NULL, the default, is no interaction (as the SQLite store stores it).
            var state = ActionState.noInteraction
            if let actionState {
                guard let parsed = ActionState(rawValue: actionState) else {
                    throw StorageError(code: .corrupt, message: "a feed entry has an unknown action state")
                }
                state = parsed
            }
            entries.append(
                NotifyDomain.Notification(
                    id: id, sequence: UInt64(max(0, sequence)), user: user,
                    createdAt: Timestamp(microsecondsSince1970: createdAt),
                    content: try PostgresContent.decode(kind: kind, json: content),
                    read: read, actionState: state))
            next = sequence
        }
        guard entries.isEmpty else { return page(caughtUp: true) }
        // Empty: where the feed ends.
        let head = try await connection.query(
            "SELECT COALESCE(h.last_seq, 0) FROM users u LEFT JOIN feed_heads h ON h.user_id = u.id WHERE u.id = \(user)",
            logger: logger
        ).collect().first?.decode(Int64.self)
        var empty = page(caughtUp: true)
        empty.page.end = head.map { .head(UInt64(max(0, $0))) } ?? .noSuchUser
        return empty
    }
}
