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

    /// One row of `feed_heads`: the counter the writer keeps.
    public func unseenCount(user: Int64, view: FeedView) async throws(StorageError) -> UInt64? {
        try await engine.read("counting unseen entries") { db -> UInt64? in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT COALESCE(h.unseen_notify, 0), COALESCE(h.unseen_graph, 0)
                        FROM users u LEFT JOIN feed_heads h ON h.user = u.id WHERE u.id = ?
                        """,
                    arguments: [user])
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

    /// The events of `user`'s feed after `after`, oldest first, at most
    /// `limit`, and whether none follows them.
    static func events(_ db: Database, user: Int64, after: Int64, limit: Int) throws -> ([FeedEvent], Bool) {
        let statement = try db.cachedStatement(
            sql: """
                SELECT user, seq, created_at, kind, ids, read_up_to, view, action_state, removed_reason
                FROM feed_events WHERE user = ? AND seq > ? ORDER BY seq LIMIT ?
                """)
        let rows = try EventRow.fetchAll(statement, arguments: [user, after, limit < Int.max ? limit + 1 : limit])
        var events: [FeedEvent] = []
        events.reserveCapacity(min(rows.count, limit))
        for row in rows.prefix(limit) { events.append(try row.event()) }
        return (events, rows.count <= limit)
    }
}
