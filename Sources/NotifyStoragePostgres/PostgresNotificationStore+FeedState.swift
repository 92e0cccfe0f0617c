import Foundation
import Logging
public import NotifyDomain
public import NotifyStorage
import PostgresNIO

/// One entry a change names, as the change reads it before writing.
private struct Target {
    var seq: Int64
    var id: String
    var graph: Bool
    var read: Bool
    var actionState: String?
}

private enum Refusal: Error {
    case notFound(String)
    case notPermitted(String)

    var outcome: FeedChangeOutcome {
        switch self {
        case .notFound(let id): .notFound(id: id)
        case .notPermitted(let id): .notPermitted(id: id)
        }
    }
}

extension PostgresNotificationStore {
    /// Queues the change for the writer: it is ordered and group-committed
    /// with the appends (in their transaction, after them, in a savepoint of
    /// its own), and its event numbered from the same heads. It first locks
    /// its user's feed head (`SELECT ... FOR UPDATE`), which orders it with
    /// every append and change of that feed on any instance, so two changes
    /// never count one read twice. `completion` runs after the commit.
    /// - Failures: as ``append(_:completion:)``'s `busy` and `unavailable`.
    public func changeFeed(
        _ change: FeedChange, completion: @escaping @Sendable (Result<FeedChangeOutcome, StorageError>) -> Void
    ) {
        if let refusal = queue.enqueue(.change(change, completion)) {
            completion(.failure(refusal))
        }
    }

    /// Applies `change` inside the writer's transaction.
    static func apply(_ change: FeedChange, _ connection: PostgresConnection, _ logger: Logger) async throws
        -> FeedChangeOutcome
    {
        try await applyChange(change, connection, logger)
    }

    private static func applyChange(_ change: FeedChange, _ connection: PostgresConnection, _ logger: Logger) async throws
        -> FeedChangeOutcome
    {
        let user = change.user
        guard try await !connection.query("SELECT 1 FROM users WHERE id = \(user)", logger: logger).collect().isEmpty else {
            return .noSuchUser
        }
        // The head, locked until COMMIT: without one the feed has no entry.
        let heads = try await connection.query(
            "SELECT last_seq FROM feed_heads WHERE user_id = \(user) FOR UPDATE", logger: logger
        ).collect()
        guard let headRow = heads.first else { return .unchanged(unseen: 0) }
        let head = try headRow.decode(Int64.self)
        let now = change.createdAt.microsecondsSince1970

        var targets: [Target] = []
        switch change.kind {
        case .markRead(let ids), .delete(let ids):
            switch try await find(connection, logger, user: user, ids: ids, scope: change.scope, view: change.view, now: now) {
            case .success(let found): targets = found
            case .failure(let refusal): return refusal.outcome
            }
        case .setActionState(let id, _):
            switch try await find(connection, logger, user: user, ids: [id], scope: change.scope, view: change.view, now: now) {
            case .success(let found): targets = found
            case .failure(let refusal): return refusal.outcome
            }
        case .deleteGroup(let group):
            var app: String?
            if case .application(let name) = change.scope { app = name }
            let rows = try await connection.query(
                """
                SELECT f.seq, n.id, f.read FROM feed f JOIN notifications n ON n.serial = f.notification
                WHERE f.user_id = \(user) AND n.kind = 'graph' AND n.content::jsonb ->> 'groupName' = \(group)
                    AND (\(app)::text IS NULL OR n.app = \(app)::text)
                ORDER BY f.seq
                """,
                logger: logger)
            for try await (seq, id, read) in rows.decode((Int64, String, Bool).self) {
                targets.append(Target(seq: seq, id: id, graph: true, read: read, actionState: nil))
            }
        case .markReadUpTo:
            break
        }

        var readNotify: Int64 = 0
        var readGraph: Int64 = 0
        var eventIDs: [String] = []
        var event = EventColumns()
        switch change.kind {
        case .markRead:
            let unread = targets.filter { !$0.read }
            if !unread.isEmpty {
                try await connection.query(
                    "UPDATE feed SET read = true WHERE user_id = \(user) AND seq = ANY(\(unread.map(\.seq)))", logger: logger)
            }
            for target in unread {
                if target.graph { readGraph += 1 } else { readNotify += 1 }
                eventIDs.append(target.id)
            }
            event.kind = "read"
        case .markReadUpTo(let upTo, let view):
            let through = min(Int64(clamping: upTo), head)
            let rows = try await connection.query(
                """
                UPDATE feed f SET read = true FROM notifications n
                WHERE f.user_id = \(user) AND f.seq <= \(through) AND NOT f.read AND n.serial = f.notification
                    AND (\(view == .all) OR n.kind = \(view == .graph ? PostgresContent.graphKind : PostgresContent.customKind))
                RETURNING n.kind
                """,
                logger: logger)
            for try await kind in rows.decode(String.self) {
                if kind == PostgresContent.graphKind { readGraph += 1 } else { readNotify += 1 }
            }
            guard readNotify + readGraph > 0 else {
                return .unchanged(unseen: try await unseen(connection, logger, user: user, view: change.view) ?? 0)
            }
            event.kind = "read"
            event.readUpTo = through
            event.view = view == .all ? nil : view.rawValue
        case .setActionState(_, let state):
            let stored = state == .noInteraction ? nil : state.rawValue
            for target in targets where target.actionState != stored {
                try await connection.query(
                    "UPDATE feed SET action_state = \(stored) WHERE user_id = \(user) AND seq = \(target.seq)", logger: logger)
                eventIDs.append(target.id)
            }
            event.kind = "actionState"
            event.actionState = state.rawValue
        case .delete, .deleteGroup:
            if !targets.isEmpty {
                try await connection.query(
                    "DELETE FROM feed WHERE user_id = \(user) AND seq = ANY(\(targets.map(\.seq)))", logger: logger)
            }
            for target in targets {
                if !target.read {
                    if target.graph { readGraph += 1 } else { readNotify += 1 }
                }
                eventIDs.append(target.id)
            }
            event.kind = "removed"
            event.removedReason = FeedEvent.RemovedReason.deleted.rawValue
        }
        if case .markReadUpTo = change.kind {
        } else if eventIDs.isEmpty {
            return .unchanged(unseen: try await unseen(connection, logger, user: user, view: change.view) ?? 0)
        }
        let rows = try await connection.query(
            """
            UPDATE feed_heads SET last_seq = last_seq + 1,
                unseen_notify = greatest(0, unseen_notify - \(readNotify)), unseen_graph = greatest(0, unseen_graph - \(readGraph))
            WHERE user_id = \(user) RETURNING last_seq, unseen_notify, unseen_graph
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else { throw StorageError(code: .corrupt, message: "a feed with entries has no head") }
        let (sequence, unseenNotify, unseenGraph) = try row.decode((Int64, Int64, Int64).self)
        // Who may see it: the keys of the entries it names (a read up to a sequence: everyone).
        var bindings = PostgresBindings()
        bindings.append(user)
        bindings.append(sequence)
        bindings.append(now)
        bindings.append(event.kind)
        bindings.append(eventIDs.joined(separator: ","))
        bindings.append(event.readUpTo)
        bindings.append(event.view)
        bindings.append(event.actionState)
        bindings.append(event.removedReason)
        bindings.append(event.readUpTo == nil ? eventIDs : [])
        try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO feed_events (user_id, seq, created_at, kind, ids, read_up_to, view, action_state,
                        removed_reason, audience)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                        CASE WHEN cardinality($10::text[]) = 0 THEN NULL ELSE \(PostgresSchema.eventAudienceSQL("$10::text[]")) END)
                    """,
                binds: bindings),
            logger: logger)
        return .changed(
            sequence: UInt64(sequence), unseen: UInt64(max(0, count(change.view, notify: unseenNotify, graph: unseenGraph))))
    }

    /// The columns of one `feed_events` row besides its user, sequence, time and ids.
    private struct EventColumns {
        var kind = ""
        var readUpTo: Int64?
        var view: String?
        var actionState: String?
        var removedReason: String?
    }

    /// The entries `ids` name in `user`'s feed, in the order named (each
    /// once), or the first id that is not there (expired ones are not, nor
    /// are those outside `view`: a view's change cannot reach another
    /// view's entries) or that `scope` does not cover.
    private static func find(
        _ connection: PostgresConnection, _ logger: Logger, user: Int64, ids: [String], scope: FeedStateScope,
        view: FeedView, now: Int64
    ) async throws -> Result<[Target], Refusal> {
        var seen = Set<String>()
        let unique = ids.filter { seen.insert($0).inserted }
        var found: [String: (Target, Int64?, String?)] = [:]
        let rows = try await connection.query(
            """
            SELECT f.seq, n.id, n.kind, f.read, f.action_state, n.expires_at, n.app
            FROM notifications n JOIN feed f ON f.notification = n.serial
            WHERE n.id = ANY(\(unique)) AND f.user_id = \(user)
            """,
            logger: logger)
        for try await (seq, id, kind, read, actionState, expiresAt, app) in rows.decode(
            (Int64, String, String, Bool, String?, Int64?, String?).self)
        {
            let target = Target(seq: seq, id: id, graph: kind == PostgresContent.graphKind, read: read, actionState: actionState)
            found[id] = (target, expiresAt, app)
        }
        var targets: [Target] = []
        for id in unique {
            guard let (target, expiresAt, app) = found[id] else { return .failure(.notFound(id)) }
            if let expiresAt, expiresAt <= now { return .failure(.notFound(id)) }
            guard view == .all || (view == .graph) == target.graph else { return .failure(.notFound(id)) }
            if case .application(let name) = scope {
                guard target.graph, app == name else { return .failure(.notPermitted(id)) }
            }
            targets.append(target)
        }
        return .success(targets)
    }

    /// `user`'s unseen count of `view`, from his head (0 without one); nil
    /// when there is no such user.
    static func unseen(_ connection: PostgresConnection, _ logger: Logger, user: Int64, view: FeedView) async throws
        -> UInt64?
    {
        let rows = try await connection.query(
            """
            SELECT COALESCE(h.unseen_notify, 0), COALESCE(h.unseen_graph, 0)
            FROM users u LEFT JOIN feed_heads h ON h.user_id = u.id WHERE u.id = \(user)
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else { return nil }
        let (notify, graph) = try row.decode((Int64, Int64).self)
        return UInt64(max(0, count(view, notify: notify, graph: graph)))
    }

    static func count(_ view: FeedView, notify: Int64, graph: Int64) -> Int64 {
        switch view {
        case .all: notify + graph
        case .notify: notify
        case .graph: graph
        }
    }

    /// One row of `feed_heads`: the counter appends and changes keep.
    public func unseenCount(user: Int64, view: FeedView) async throws(StorageError) -> UInt64? {
        let logger = logger
        return try await withConnection("counting unseen entries") { connection in
            try await Self.unseen(connection, logger, user: user, view: view)
        }
    }

    public func feedEntry(user: Int64, id: String, now: Timestamp) async throws(StorageError) -> NotifyDomain.Notification? {
        let logger = logger
        let entry = try await withConnection("reading a feed entry") { connection -> NotifyDomain.Notification? in
            let rows = try await connection.query(
                """
                SELECT f.seq, n.created_at, n.kind, n.content, f.read, f.action_state
                FROM notifications n JOIN feed f ON f.notification = n.serial
                WHERE n.id = \(id) AND f.user_id = \(user)
                """,
                logger: logger
            ).collect()
            guard let row = rows.first else { return nil }
            let (seq, createdAt, kind, content, read, actionState) = try row.decode(
                (Int64, Int64, String, String, Bool, String?).self)
            return NotifyDomain.Notification(
                id: id, sequence: UInt64(max(0, seq)), user: user, createdAt: Timestamp(microsecondsSince1970: createdAt),
                content: try PostgresContent.decode(kind: kind, json: content), read: read,
                actionState: try Self.actionState(actionState))
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

    /// `filter`'s ``FeedFilter/eventKeys`` as `feed_events.audience` holds
    /// them (``PostgresSchema/eventAudienceSQL(_:)``); nil: every event.
    static func eventKeys(for filter: FeedFilter) -> (String, String?)? {
        func stored(_ key: FeedFilter.EventKey) -> String {
            switch key {
            case .notify: "notify"
            case .graph: "graph"
            case .endpoint(let platform, let app): platform.rawValue + ":" + app
            }
        }
        return filter.eventKeys.map { (stored($0.0), $0.1.map(stored)) }
    }

    /// The events of a page (part 1 of ``ForwardPage``),
    /// oldest first, through ``FeedPage/EventScan``: at most `limit` of them
    /// and, past the first, `maxBytes` (``FeedPage/size(ofEventIDs:)``),
    /// passing over at most ``FeedPage/maxPassedOver`` others (NULL ids: not
    /// admitted), whose ids never leave the server. Once stopped, later rows are ignored.
    struct EventRows {
        let user: Int64
        private(set) var scan: FeedPage.EventScan
        /// The page ends before an event it could not take: more may follow.
        private(set) var stopped = false

        init(user: Int64, after: Int64, limit: Int, maxBytes: Int) {
            self.user = user
            scan = FeedPage.EventScan(after: UInt64(max(0, after)), limit: limit, maxBytes: maxBytes)
        }

        mutating func read(
            _ seq: Int64, createdAt: Int64, kind: String, ids admitted: String?, readUpTo: Int64?, view: String?,
            actionState: String?, removedReason: String?
        ) throws {
            guard !stopped else { return }
            guard let ids = admitted else {
                if !scan.passOver(UInt64(max(0, seq))) { stopped = true }
                return
            }
            guard scan.hasRoom else { return stopped = true }
            let unreadable = StorageError(code: .corrupt, message: "a stored feed event is unreadable")
            let change: FeedEvent.Change
            switch kind {
            case "read":
                guard let view = FeedView(rawValue: view ?? "") else { throw unreadable }
                change = .read(upTo: readUpTo.map { UInt64(max(0, $0)) }, view: view)
            case "actionState":
                guard let state = actionState.flatMap(ActionState.init(rawValue:)) else { throw unreadable }
                change = .actionState(state)
            case "removed":
                guard let reason = removedReason.flatMap(FeedEvent.RemovedReason.init(rawValue:)) else { throw unreadable }
                change = .removed(reason)
            default:
                throw unreadable
            }
            let event = FeedEvent(
                sequence: UInt64(max(0, seq)), user: user, createdAt: Timestamp(microsecondsSince1970: createdAt),
                ids: ids.isEmpty ? [] : ids.split(separator: ",").map(String.init), change: change)
            if !scan.take(event) { stopped = true }
        }
    }
}
