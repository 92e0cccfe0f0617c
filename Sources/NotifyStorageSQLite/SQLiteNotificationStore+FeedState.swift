public import NotifyDomain
public import NotifyStorage
import GRDB

extension SQLiteNotificationStore {
    /// Queues the change for the append writer: it is ordered and
    /// group-committed with the appends, and its event numbered from the
    /// same heads. `completion` runs on the writer's thread after the commit.
    /// - Failures: as ``append(_:completion:)``'s `busy` and `unavailable`.
    public func changeFeed(
        _ change: FeedChange, completion: @escaping @Sendable (Result<FeedChangeOutcome, StorageError>) -> Void
    ) {
        if let refusal = engine.writability.refusal() {
            completion(.failure(refusal))
            return
        }
        if let refusal = engine.queue.enqueue(.change(change, completion)) {
            completion(.failure(refusal))
        }
    }

    /// The unseen counts: one row of `users` and one of `feed_heads`, each
    /// by its primary key, whatever the feed's size.
    static let unseenCountSQL = """
        SELECT COALESCE(h.unseen_notify, 0), COALESCE(h.unseen_graph, 0)
        FROM users u LEFT JOIN feed_heads h ON h.user = u.id WHERE u.id = ?
        """

    /// One row of `feed_heads`: the counter the writer keeps.
    public func unseenCount(user: Int64, view: FeedView) async throws(StorageError) -> UInt64? {
        try await engine.read("counting unseen entries") { db -> UInt64? in
            guard
                let row = try Row.fetchOne(db.cachedStatement(sql: Self.unseenCountSQL), arguments: [user])
            else { return nil }
            return UInt64(max(0, StoreEngine.count(view, notify: row[0], graph: row[1])))
        }
    }

    public func feedEntry(user: Int64, id: String, now: Timestamp) async throws(StorageError) -> NotifyDomain.Notification? {
        let entry = try await engine.read("reading a feed entry") { db -> NotifyDomain.Notification? in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT f.seq, n.created_at, f.read, f.action_state, \(ContentColumns.selection("n"))
                    FROM notifications n JOIN feed f ON f.notification = n.serial
                    WHERE n.id = ? AND f.user = ?
                    """)
            let rows = try Row.fetchCursor(statement, arguments: [id, user])
            guard let row = try rows.next() else { return nil }
            let sequence: Int64 = row[0]
            return NotifyDomain.Notification(
                id: id, sequence: UInt64(max(0, sequence)), user: user, createdAt: Timestamp(storedMicroseconds: row[1]),
                content: try ContentColumns.read(statement, from: 4), read: row[2],
                actionState: try Self.actionState(row[3]))
        }
        if let entry, case .graph(let graph) = entry.content, graph.expiration <= now { return nil }
        return entry
    }

    /// The stored action state: NULL is the default.
    static func actionState(_ stored: String?) throws(StorageError) -> ActionState {
        guard let stored else { return .noInteraction }
        guard let state = ActionState(rawValue: stored) else {
            throw StorageError(code: .corrupt, message: "a feed entry has an unknown action state")
        }
        return state
    }

    /// A page's events, from `feed_events`' primary key: an event `filter`
    /// does not admit (``EventAudience/keys(for:)``) comes with NULL ids.
    static let eventsSQL = """
        SELECT user, seq, created_at, kind,
            CASE WHEN :key IS NULL OR audience IS NULL OR instr(audience, :key) > 0
                OR (:other IS NOT NULL AND instr(audience, :other) > 0)
            THEN ids END AS ids,
            read_up_to, view, action_state, removed_reason
        FROM feed_events WHERE user = :user AND seq > :after ORDER BY seq LIMIT :scan
        """

    /// The events of `user`'s feed after `after` that `filter` admits
    /// (``EventAudience``), oldest first: at most `limit` of them and, past
    /// the first, `maxBytes` (``FeedPage/size(ofEventIDs:)``), passing over
    /// at most ``FeedPage/maxPassedOver`` others, whose ids never leave SQLite.
    /// - Returns: the events; `through`, the last event sequence read
    ///   (returned or passed over; `after` when none); `complete`, whether no
    ///   event follows it.
    static func events(
        _ db: Database, user: Int64, after: Int64, limit: Int, maxBytes: Int, filter: FeedFilter
    ) throws -> (events: [FeedEvent], through: UInt64, complete: Bool) {
        let statement = try db.cachedStatement(sql: eventsSQL)
        let keys = EventAudience.keys(for: filter)
        let scan = limit.addingReportingOverflow(FeedPage.maxPassedOver + 1)
        let rows = try Row.fetchCursor(
            statement,
            arguments: [
                "key": keys?.0, "other": keys?.1, "user": user, "after": after,
                "scan": scan.overflow ? Int.max : scan.partialValue,
            ])
        var read = FeedPage.EventScan(after: UInt64(max(0, after)), limit: limit, maxBytes: maxBytes)
        while let row = try rows.next() {
            let sequence: Int64 = row["seq"]
            // NULL ids: not admitted.
            guard let _: String = row["ids"] else {
                guard read.passOver(UInt64(max(0, sequence))) else { return (read.events, read.through, false) }
                continue
            }
            guard read.hasRoom else { return (read.events, read.through, false) }
            guard read.take(try EventRow(row: row).event()) else { return (read.events, read.through, false) }
        }
        return (read.events, read.through, true)
    }
}
