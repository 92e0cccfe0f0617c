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
        let statement = ForwardPage(user: user, cursor: cursor, limit: limit, now: now, filter: filter)
        let logger = logger
        // One statement, hence one snapshot, for the feed's head, its events
        // and its entries: read apart, an event committed between two reads
        // could be passed by a cursor moved past a later entry. One statement
        // also costs a live reader's wake-up one round trip instead of five
        // (a transaction of three reads): at 500 wake-ups a second those
        // round trips took both cores of the machine that was measured.
        return try await withConnection("reading a feed") { connection in
            var head: (swept: Int64, last: Int64)?
            var events = EventRows(user: user, after: cursor, limit: limit, maxBytes: maxBytes)
            var entries = EntryRows(user: user, cursor: cursor, limit: limit, maxBytes: maxBytes)
            // The three parts may come in any order; each part in its own.
            for try await (part, seq, createdAt, kind, text, id, read, actionState, readUpTo, view, removedReason)
                in try await connection.execute(statement, logger: logger)
            {
                switch part {
                case 0: head = (seq, createdAt)
                case 1:
                    try events.read(
                        seq, createdAt: createdAt, kind: kind ?? "", ids: text, readUpTo: readUpTo, view: view,
                        actionState: actionState, removedReason: removedReason)
                default:
                    try entries.read(
                        seq, id: id ?? "", createdAt: createdAt, kind: kind ?? "", content: text, read: read ?? false,
                        actionState: actionState)
                }
            }
            let swept = head?.swept ?? 0
            var notifications = entries.page(sweptThrough: cursor < swept ? UInt64(swept) : nil)
            if notifications.page.entries.isEmpty && notifications.page.caughtUp {
                let last = head?.last ?? -1
                notifications.page.end = last < 0 ? .noSuchUser : .head(UInt64(last))
            }
            return notifications.page.merging(
                events: events.scan.events, eventsThrough: events.scan.through, eventsComplete: !events.stopped,
                entrySizes: notifications.sizes, after: after, limit: limit, maxBytes: maxBytes)
        }
    }

    /// ``feedPage(user:after:limit:maxBytes:now:filter:)``'s statement: the
    /// head (part 0, one row: `swept_through`, and `last_seq` or -1 when the
    /// user does not exist), the events (part 1) and the entries (part 2)
    /// after the cursor, each part at most the page's scan in rows. Every row
    /// has the same columns: part, seq, created_at, kind, the content or the
    /// event's ids (NULL when not admitted), the notification's id, read,
    /// action state, and the event's read_up_to, view and removed reason.
    ///
    /// Prepared once per connection: planning it anew took nine tenths of
    /// its time in the server (about 1.3 ms of 1.4 per live reader's wake-up,
    /// measured with `log_min_duration_statement = 0`).
    struct ForwardPage: PostgresPreparedStatement {
        static let name = "notify_forward_page"
        static let sql = """
            SELECT 0::int4, COALESCE((SELECT swept_through FROM feed_heads WHERE user_id = $5), 0),
                COALESCE((\(feedEndSQL(user: "$5"))), -1),
                NULL::text, NULL::text, NULL::text, NULL::bool, NULL::text, NULL::int8, NULL::text, NULL::text
            UNION ALL (
                SELECT 1, seq, created_at, kind,
                    CASE WHEN $8::text IS NULL OR audience IS NULL OR $8::text = ANY(audience)
                        OR ($9::text IS NOT NULL AND $9::text = ANY(audience))
                    THEN ids END,
                    NULL, NULL, action_state, read_up_to, view, removed_reason
                FROM feed_events WHERE user_id = $5 AND seq > $6 ORDER BY seq LIMIT $7)
            UNION ALL (
                SELECT 2, seq, created_at, kind, content, id, read, action_state, NULL, NULL, NULL
                FROM (\(feedRowSQL(where: "f.seq > $6 ORDER BY f.seq"))) AS e)
            """
        typealias Row = (Int32, Int64, Int64, String?, String?, String?, Bool?, String?, Int64?, String?, String?)

        let bindings: PostgresBindings

        init(user: Int64, cursor: Int64, limit: Int, now: Timestamp, filter: FeedFilter) {
            var bindings = feedRowBindings(user: user, cursor: cursor, limit: limit, now: now, filter: filter)
            let keys = eventKeys(for: filter)
            bindings.append(keys?.0)
            bindings.append(keys?.1)
            self.bindings = bindings
        }

        func makeBindings() -> PostgresBindings { bindings }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// A page's query of feed rows: `order` is the cursor's condition and
    /// the order (`$6` the cursor), after the user's rows. One selection
    /// serves both reading orders (``ForwardPage`` and
    /// ``feedPageNewestFirst(user:before:limit:maxBytes:now:filter:)``), so
    /// their filter and row scan (``EntryRows``) are written once.
    static func feedRowQuery(
        where order: String, user: Int64, cursor: Int64, limit: Int, now: Timestamp, filter: FeedFilter
    ) -> PostgresQuery {
        PostgresQuery(
            unsafeSQL: feedRowSQL(where: order),
            binds: feedRowBindings(user: user, cursor: cursor, limit: limit, now: now, filter: filter))
    }

    /// ``feedRowQuery(where:user:cursor:limit:now:filter:)``'s text.
    static func feedRowSQL(where order: String) -> String {
        """
        SELECT f.seq, n.id, n.created_at, n.kind,
            CASE WHEN n.expires_at <= $1
                OR ($2::text IS NOT NULL AND n.kind <> $2::text)
                OR ($3::text IS NOT NULL AND n.kind = 'graph' AND (
                    n.app IS DISTINCT FROM $3::text OR NOT ($4::text = ANY(n.platforms))))
            THEN NULL ELSE n.content END AS content, f.read, f.action_state
        FROM feed f JOIN notifications n ON n.serial = f.notification
        WHERE f.user_id = $5 AND \(order)
        LIMIT $7
        """
    }

    /// ``feedRowQuery(where:user:cursor:limit:now:filter:)``'s bindings, $1 to $7.
    static func feedRowBindings(user: Int64, cursor: Int64, limit: Int, now: Timestamp, filter: FeedFilter) -> PostgresBindings {
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
        return bindings
    }

    /// The notifications of a newest-first page
    /// (``feedPageNewestFirst(user:before:limit:maxBytes:now:filter:)``).
    /// - Returns: the page, and each entry's size (``FeedPage/size(ofContent:id:)``) in order.
    static func notificationPage(
        _ connection: PostgresConnection, _ logger: Logger, _ query: PostgresQuery, user: Int64, cursor: Int64, limit: Int,
        maxBytes: Int
    ) async throws -> (page: FeedPage, sizes: [Int]) {
        var entries = EntryRows(user: user, cursor: cursor, limit: limit, maxBytes: maxBytes)
        let rows = try await connection.query(query, logger: logger)
        for try await (sequence, id, createdAt, kind, content, read, actionState) in rows.decode(
            (Int64, String, Int64, String, String?, Bool, String?).self)
        {
            try entries.read(
                sequence, id: id, createdAt: createdAt, kind: kind, content: content, read: read, actionState: actionState)
            if entries.stopped { break }
        }
        var result = entries.page(sweptThrough: nil)
        guard result.page.entries.isEmpty && result.page.caughtUp else { return result }
        // Empty: where the feed ends.
        var bindings = PostgresBindings()
        bindings.append(user)
        let head = try await connection.query(
            PostgresQuery(unsafeSQL: feedEndSQL(user: "$1"), binds: bindings), logger: logger
        ).collect().first?.decode(Int64.self)
        result.page.end = head.map { .head(UInt64(max(0, $0))) } ?? .noSuchUser
        return result
    }

    /// Where `user`'s feed ends (its last sequence, 0 for none yet); no row
    /// when the user does not exist. `user` is the parameter that holds the id.
    static func feedEndSQL(user: String) -> String {
        "SELECT COALESCE(h.last_seq, 0) FROM users u LEFT JOIN feed_heads h ON h.user_id = u.id WHERE u.id = \(user)"
    }

    /// A page's notifications, taken row by row in the page's order: each
    /// measured before it is decoded, so a page never holds more than its
    /// budget. An expired row, or one the filter does not admit, comes
    /// without its content (the CASE answers NULL) and is passed over, at
    /// most ``FeedPage/maxPassedOver`` of them. Once stopped, later rows are ignored.
    struct EntryRows {
        let user: Int64
        let limit: Int
        let maxBytes: Int
        private(set) var entries: [NotifyDomain.Notification] = []
        private(set) var sizes: [Int] = []
        private var bytes = 0
        private var passed = 0
        /// The last sequence taken or passed over.
        private var next: Int64
        /// The page ends before a row it could not take: not caught up.
        private(set) var stopped = false

        init(user: Int64, cursor: Int64, limit: Int, maxBytes: Int) {
            (self.user, self.limit, self.maxBytes, self.next) = (user, limit, maxBytes, cursor)
        }

        mutating func read(
            _ sequence: Int64, id: String, createdAt: Int64, kind: String, content: String?, read: Bool, actionState: String?
        ) throws {
            guard !stopped else { return }
            // NULL content: expired, or not admitted by the filter.
            guard let content else {
                guard passed < FeedPage.maxPassedOver else { return stopped = true }
                passed += 1
                next = sequence
                return
            }
            guard entries.count < limit else { return stopped = true }
            let size = FeedPage.size(ofContent: content.utf8.count, id: id.utf8.count)
            if !entries.isEmpty && bytes + size > maxBytes { return stopped = true }
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

        /// The page so far: caught up unless it stopped.
        func page(sweptThrough: UInt64?) -> (page: FeedPage, sizes: [Int]) {
            (FeedPage(entries: entries, caughtUp: !stopped, nextAfter: UInt64(max(0, next)), sweptThrough: sweptThrough), sizes)
        }
    }
}
