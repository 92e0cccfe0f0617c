import Foundation
import GRDB
import NotifyDomain
import NotifyStorage

/// One entry a change names, as the change reads it before writing.
private struct Target {
    var seq: Int64
    var id: String
    var graph: Bool
    var read: Bool
    var actionState: String?
    /// A SendNotification entry's application and platforms (space-separated),
    /// for its event's ``EventAudience``.
    var app: String?
    var platforms: String?
}

/// The SQL that names a SendNotification's application and its platforms
/// (space-separated) from `notifications n`: what an event's audience is
/// made of, from its typed columns (`platforms` holds them comma-separated).
let targetColumnsSQL = """
    n.target_host_name, replace(n.platforms, ',', ' ')
    """

extension StoreEngine {
    /// Applies one change inside the writer's transaction: checks every entry
    /// it names first (a refusal writes nothing), then updates their state,
    /// the unseen counts and appends the event, numbered after the head.
    ///
    /// The heads this batch holds in memory are written first and forgotten
    /// after: the change moves its user's head in SQL.
    static func applyChange(
        _ db: Database, _ statements: AppendStatements, _ heads: inout FeedHeads, _ change: FeedChange
    ) throws -> FeedChangeOutcome {
        try heads.flush(db, statements)
        heads.forget()
        guard try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM users WHERE id = ?"), arguments: [change.user]) != nil else {
            return .noSuchUser
        }
        let user = change.user
        let now = change.createdAt.storedMicroseconds
        var targets: [Target] = []
        switch change.kind {
        case .markRead(let ids), .delete(let ids):
            switch try find(db, user: user, ids: ids, scope: change.scope, view: change.view, now: now) {
            case .success(let found): targets = found
            case .failure(let refusal): return refusal.outcome
            }
        case .setActionState(let id, _):
            switch try find(db, user: user, ids: [id], scope: change.scope, view: change.view, now: now) {
            case .success(let found): targets = found
            case .failure(let refusal): return refusal.outcome
            }
        case .deleteGroup(let group):
            var sql = deleteGroupSQL
            var arguments: StatementArguments = [group, user]
            if case .application(let app) = change.scope {
                sql += " AND n.target_host_name = ?"
                arguments += [app]
            }
            sql += " ORDER BY f.seq"
            for row in try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments) {
                targets.append(Target(
                    seq: row[0], id: row[1], graph: true, read: row[2], actionState: nil, app: row[3], platforms: row[4]))
            }
        case .markReadUpTo:
            break
        }

        var readNotify: Int64 = 0
        var readGraph: Int64 = 0
        var eventIDs: [String] = []
        // Who may see the event: the entries it names (a read up to a
        // sequence: everyone, nil).
        var audience: EventAudience? = EventAudience()
        let event: EventRow.Change
        switch change.kind {
        case .markRead:
            for target in targets where !target.read {
                try db.cachedStatement(sql: "UPDATE feed SET read = 1 WHERE user = ? AND seq = ?").execute(arguments: [user, target.seq])
                if target.graph { readGraph += 1 } else { readNotify += 1 }
                eventIDs.append(target.id)
                audience?.add(target)
            }
            event = .read(upTo: nil, view: .all)
        case .markReadUpTo(let upTo, let view):
            let head = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT last_seq, read_floor_notify, read_floor_graph FROM feed_heads WHERE user = ?"),
                arguments: [user])
            let through = min(Int64(clamping: upTo), head?[0] ?? 0)
            for graph in [false, true] where view == .all || (view == .graph) == graph {
                // Every entry of this kind up to its floor is read already:
                // only the rows after it are visited, each once.
                let floor: Int64 = head?[graph ? 2 : 1] ?? 0
                guard through > floor else { continue }
                try db.cachedStatement(sql: markReadUpToSQL).execute(
                    arguments: [user, floor, through, graph ? ContentColumns.graphKind : ContentColumns.customKind])
                if graph { readGraph = Int64(db.changesCount) } else { readNotify = Int64(db.changesCount) }
                try db.cachedStatement(
                    sql: "UPDATE feed_heads SET \(graph ? "read_floor_graph" : "read_floor_notify") = ? WHERE user = ?"
                ).execute(arguments: [through, user])
            }
            audience = nil
            guard readNotify + readGraph > 0 else { return .unchanged(unseen: try unseen(db, user: user, view: change.view)) }
            event = .read(upTo: UInt64(through), view: view)
        case .setActionState(_, let state):
            let stored = state == .noInteraction ? nil : state.rawValue
            for target in targets where target.actionState != stored {
                try db.cachedStatement(sql: "UPDATE feed SET action_state = ? WHERE user = ? AND seq = ?").execute(
                    arguments: [stored, user, target.seq])
                eventIDs.append(target.id)
                audience?.add(target)
            }
            event = .actionState(state)
        case .delete, .deleteGroup:
            for target in targets {
                try db.cachedStatement(sql: "DELETE FROM feed WHERE user = ? AND seq = ?").execute(arguments: [user, target.seq])
                if !target.read {
                    if target.graph { readGraph += 1 } else { readNotify += 1 }
                }
                eventIDs.append(target.id)
                audience?.add(target)
            }
            event = .removed(.deleted)
        }
        if case .markReadUpTo = change.kind {
        } else if eventIDs.isEmpty {
            return .unchanged(unseen: try unseen(db, user: user, view: change.view))
        }
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                    UPDATE feed_heads SET last_seq = last_seq + 1, last_event = last_seq + 1,
                        unseen_notify = max(0, unseen_notify - ?), unseen_graph = max(0, unseen_graph - ?)
                    WHERE user = ? RETURNING last_seq, unseen_notify, unseen_graph
                    """),
                arguments: [readNotify, readGraph, user])
        else {
            throw StorageError(code: .corrupt, message: "a feed with entries has no head")
        }
        let sequence: Int64 = row[0]
        try EventRow(user: user, seq: sequence, createdAt: now, ids: eventIDs, change: event, audience: audience?.stored)
            .insert(db)
        let unseenNotify: Int64 = row[1]
        let unseenGraph: Int64 = row[2]
        return .changed(
            sequence: UInt64(sequence), unseen: UInt64(max(0, count(change.view, notify: unseenNotify, graph: unseenGraph))))
    }

    /// A read up to a sequence, of one kind of entries (arguments: the user,
    /// the kind's read floor, the sequence, the kind): only the rows after
    /// the floor, by the primary key, so the read history is never visited
    /// again and no index of unread rows costs every append.
    static let markReadUpToSQL = """
        UPDATE feed SET read = 1 WHERE user = ? AND seq > ? AND seq <= ? AND read = 0
        AND (SELECT kind FROM notifications n WHERE n.serial = feed.notification) = ?
        """

    /// A group's entries in a user's feed (arguments: the group, the user):
    /// the group's notifications by their index, then this user's feed rows
    /// of each by `feed_notification`, so the feed is not scanned.
    static let deleteGroupSQL = """
        SELECT f.seq, n.id, f.read, \(targetColumnsSQL)
        FROM notifications n INDEXED BY notifications_group CROSS JOIN feed f ON f.notification = n.serial
        WHERE n.kind = 'graph' AND n.group_name = ? AND f.user = ?
        """

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

    /// The entries `ids` name in `user`'s feed, in the order named (each
    /// once), or the first id that is not there (expired ones are not, nor
    /// are those outside `view`: a view's change cannot reach another
    /// view's entries) or that `scope` does not cover.
    private static func find(
        _ db: Database, user: Int64, ids: [String], scope: FeedStateScope, view: FeedView, now: Int64
    ) throws -> Result<[Target], Refusal> {
        let statement = try db.cachedStatement(
            sql: """
                SELECT f.seq, n.kind, f.read, f.action_state, n.expires_at, \(targetColumnsSQL)
                FROM notifications n JOIN feed f ON f.notification = n.serial
                WHERE n.id = ? AND f.user = ?
                """)
        var targets: [Target] = []
        var seen = Set<String>()
        for id in ids where seen.insert(id).inserted {
            guard let row = try Row.fetchOne(statement, arguments: [id, user]) else { return .failure(.notFound(id)) }
            let graph = (row[1] as String) == ContentColumns.graphKind
            if let expiresAt: Int64 = row[4], expiresAt <= now { return .failure(.notFound(id)) }
            guard view == .all || (view == .graph) == graph else { return .failure(.notFound(id)) }
            if case .application(let app) = scope {
                guard graph, (row[5] as String?) == app else { return .failure(.notPermitted(id)) }
            }
            targets.append(Target(
                seq: row[0], id: id, graph: graph, read: row[2], actionState: row[3], app: row[5], platforms: row[6]))
        }
        return .success(targets)
    }

    /// `user`'s unseen count of `view`, from his head: 0 without one.
    static func unseen(_ db: Database, user: Int64, view: FeedView) throws -> UInt64 {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT unseen_notify, unseen_graph FROM feed_heads WHERE user = ?"), arguments: [user])
        else { return 0 }
        return UInt64(max(0, count(view, notify: row[0], graph: row[1])))
    }

    static func count(_ view: FeedView, notify: Int64, graph: Int64) -> Int64 {
        switch view {
        case .all: notify + graph
        case .notify: notify
        case .graph: graph
        }
    }
}

/// One row of `feed_events`.
struct EventRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "feed_events"
    var user: Int64
    var seq: Int64
    var createdAt: Int64
    var kind: String
    /// The notification ids, comma-separated (UUIDs hold no comma).
    var ids: String
    var readUpTo: Int64?
    var view: String?
    var actionState: String?
    var removedReason: String?
    /// Who may see the event (``EventAudience/stored``); nil: every reader.
    var audience: String?

    typealias Change = FeedEvent.Change

    enum CodingKeys: String, CodingKey {
        case user, seq, kind, ids, view, audience
        case createdAt = "created_at"
        case readUpTo = "read_up_to"
        case actionState = "action_state"
        case removedReason = "removed_reason"
    }

    init(user: Int64, seq: Int64, createdAt: Int64, ids: [String], change: Change, audience: String?) {
        self.user = user
        self.seq = seq
        self.createdAt = createdAt
        self.audience = audience
        self.ids = ids.joined(separator: ",")
        switch change {
        case .read(let upTo, let view):
            kind = "read"
            readUpTo = upTo.map { Int64(clamping: $0) }
            self.view = view == .all ? nil : view.rawValue
        case .actionState(let state):
            kind = "actionState"
            actionState = state.rawValue
        case .removed(let reason):
            kind = "removed"
            removedReason = reason.rawValue
        }
    }

    func event() throws(StorageError) -> FeedEvent {
        let change: Change
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
        return FeedEvent(
            sequence: UInt64(max(0, seq)), user: user, createdAt: Timestamp(storedMicroseconds: createdAt),
            ids: ids.isEmpty ? [] : ids.split(separator: ",").map(String.init), change: change)
    }

    private var unreadable: StorageError {
        StorageError(code: .corrupt, message: "a stored feed event is unreadable")
    }
}

/// Who may see an event, from the entries it names, as `feed_events.audience`
/// stores it: the readers a ``FeedFilter`` describes see an event when they
/// may see one of its entries (docs/PROTOCOL.md, "Feed state").
///
/// Stored as space-separated keys with a space before and after them all
/// (` notify graph ios:app.example.com `), so that a read tests a key with
/// one `instr` and no JSON: `notify` when it names a Notify entry, `graph`
/// when it names a SendNotification entry, and `platform:app` for each
/// platform and application such an entry targets (the application
/// percent-encoded, so a key holds no space and none is a part of another).
/// Built when the event is written, so it holds after its entries are gone.
/// A read up to a sequence has none (NULL): every reader sees it.
struct EventAudience {
    private var notify = false
    private var graph = false
    private var targets: [String] = []

    /// Adds a Notify entry (`graph` false) or a SendNotification entry of
    /// `app` for `platforms` (space-separated names).
    mutating func add(graph isGraph: Bool, app: String?, platforms: String?) {
        guard isGraph else {
            notify = true
            return
        }
        graph = true
        guard let app, let platforms else { return }
        for platform in platforms.split(separator: " ") {
            let key = Self.target(platform: platform, app: app)
            if !targets.contains(key) { targets.append(key) }
        }
    }

    fileprivate mutating func add(_ target: Target) {
        add(graph: target.graph, app: target.app, platforms: target.platforms)
    }

    /// The stored form.
    var stored: String {
        var keys: [String] = []
        if notify { keys.append("notify") }
        if graph { keys.append("graph") }
        keys += targets.sorted()
        return " " + keys.joined(separator: " ") + " "
    }

    /// The key of one platform of one application.
    static func target(platform: some StringProtocol, app: String) -> String {
        var key = String(platform) + ":"
        for byte in app.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                key.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                key.unicodeScalars.append("%")
                key.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                key.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return key
    }

    /// `filter`'s ``FeedFilter/eventKeys`` as ``stored`` holds them, with
    /// their surrounding spaces; nil: every event.
    static func keys(for filter: FeedFilter) -> (String, String?)? {
        func stored(_ key: FeedFilter.EventKey) -> String {
            switch key {
            case .notify: " notify "
            case .graph: " graph "
            case .endpoint(let platform, let app): " " + target(platform: platform.rawValue, app: app) + " "
            }
        }
        return filter.eventKeys.map { (stored($0.0), $0.1.map(stored)) }
    }
}

extension EventAudience {
    /// Gives the events stored before audiences were (migration
    /// v8-feed-events) theirs, from the notifications they name. An event
    /// naming a notification that is gone keeps none: every reader sees it,
    /// as every reader did before.
    static func backfill(_ db: Database) throws {
        let events = try Row.fetchAll(
            db, sql: "SELECT user, seq, ids FROM feed_events WHERE read_up_to IS NULL AND ids <> ''")
        let entry = try db.makeStatement(
            sql: "SELECT n.kind, \(targetColumnsSQL) FROM notifications n WHERE n.id = ?")
        for event in events {
            var audience = EventAudience()
            var complete = true
            for id in (event[2] as String).split(separator: ",") {
                guard let row = try Row.fetchOne(entry, arguments: [String(id)]) else {
                    complete = false
                    break
                }
                audience.add(graph: (row[0] as String) == ContentColumns.graphKind, app: row[1], platforms: row[2])
            }
            guard complete else { continue }
            try db.execute(
                sql: "UPDATE feed_events SET audience = ? WHERE user = ? AND seq = ?",
                arguments: [audience.stored, event[0] as Int64, event[1] as Int64])
        }
    }
}
