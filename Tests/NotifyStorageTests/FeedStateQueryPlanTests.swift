import Foundation
import GRDB
import NotifyDomain
import NotifyStorage
@testable import NotifyStorageSQLite
import Synchronization
import Testing

/// The SQLite store's state calls and pages cost what the feed's state needs,
/// not what the feed holds: shown by SQLite's query plans and by the
/// statements a read runs, never by timing.
@Suite("SQLite feed state: query plans and statements")
struct FeedStateQueryPlanTests {
    /// The plan's details of `sql`, one line per step.
    private static func plan(_ store: SQLiteNotificationStore, _ sql: String) async throws -> [String] {
        try await store.engine.pool.read { db in
            // Any value for each parameter: the plan does not depend on them.
            let parameters = sql.filter { $0 == "?" }.count
            return try Row.fetchAll(
                db, sql: "EXPLAIN QUERY PLAN " + sql,
                arguments: StatementArguments(Array(repeating: 1 as Int64, count: parameters))
            ).map { $0["detail"] as String }
        }
    }

    /// `user` 1 with `count` entries, a third of them SendNotification's of group "g".
    private static func fill(_ store: SQLiteNotificationStore, count: Int) async throws {
        try await store.putUser(User(id: 1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask {
                    var content = Sample.custom()
                    if index % 3 == 0, case .graph(var graph) = Sample.graph {
                        graph.groupName = "g"
                        content = .graph(graph)
                    }
                    _ = try await store.append(Sample.notification(content: content, to: .users([1])))
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("UnseenCount reads one counter row by primary key, whatever the feed's size")
    func unseenCountPlan() async throws {
        try await withStore { store, _ in
            try await Self.fill(store, count: 3_000)
            #expect(try await store.unseenCount(user: 1, view: .all) == 3_000)
            let steps = try await Self.plan(store, SQLiteNotificationStore.unseenCountSQL)
            // Two steps, each a search by a primary key: no scan, no index over the feed.
            #expect(steps.count == 2, "\(steps)")
            #expect(steps.allSatisfy { $0.hasPrefix("SEARCH") && $0.contains("PRIMARY KEY") }, "\(steps)")
            #expect(!steps.contains { $0.contains("feed ") || $0.contains("SCAN") }, "\(steps)")
        }
    }

    @Test("MarkRead up to a sequence visits the rows after its read floor by primary key; DeleteGroup the group's by index")
    func stateChangePlans() async throws {
        try await withStore { store, _ in
            try await Self.fill(store, count: 300)
            let markRead = try await Self.plan(store, StoreEngine.markReadUpToSQL)
            // A range of the primary key, from the kind's read floor.
            #expect(markRead.contains { $0.contains("PRIMARY KEY (user=? AND seq>? AND seq<?)") }, "\(markRead)")
            #expect(!markRead.contains { $0.hasPrefix("SCAN") }, "\(markRead)")
            let deleteGroup = try await Self.plan(store, StoreEngine.deleteGroupSQL + " ORDER BY f.seq")
            #expect(deleteGroup.contains { $0.contains("notifications_group") }, "\(deleteGroup)")
            #expect(deleteGroup.contains { $0.contains("feed_notification") }, "\(deleteGroup)")
            // (No scan: an entry's platforms are a column.)
            #expect(!deleteGroup.contains { $0.hasPrefix("SCAN") && !$0.contains("VIRTUAL TABLE") }, "\(deleteGroup)")
            // And they do what they say.
            let upTo = try await store.changeFeed(FeedChange(user: 1, kind: .markReadUpTo(150, view: .all), createdAt: .now()))
            #expect(upTo == .changed(sequence: 301, unseen: 150))
            let group = try await store.changeFeed(FeedChange(user: 1, kind: .deleteGroup("g"), createdAt: .now()))
            guard case .changed(let sequence, let unseen) = group else {
                Issue.record("\(group)")
                return
            }
            #expect(sequence == 302)
            #expect(try await store.unseenCount(user: 1, view: .all) == unseen)
            let events = try await store.feedPage(user: 1, after: 301, limit: 10, maxBytes: .max).events
            #expect(events.first?.ids.count == 100)
        }
    }

    @Test("a page reads events only when the feed has one after its cursor: the head row says so")
    func pagesWithoutEventsReadNone() async throws {
        var configuration = SQLiteStoreConfiguration()
        configuration.maximumReaderCount = 1
        try await withStore(configuration) { store, _ in
            // One reader connection: the trace set on it sees every read.
            let statements = StatementLog()
            try await store.engine.pool.read { db in
                db.trace { event in
                    let sql = "\(event)"
                    statements.lines.withLock { $0.append(sql) }
                }
            }
            func page(after: UInt64) async throws -> (eventReads: Int, page: FeedPage) {
                statements.lines.withLock { $0.removeAll() }
                let page = try await store.feedPage(user: 1, after: after, limit: 10, maxBytes: .max)
                return (statements.lines.withLock { $0.filter { $0.contains("FROM feed_events") }.count }, page)
            }
            try await store.putUser(User(id: 1))
            for index in 1...3 { _ = try await store.append(Sample.notification(id: "n\(index)", to: .users([1]))) }
            #expect(try await page(after: 0).eventReads == 0)
            _ = try await store.changeFeed(FeedChange(user: 1, kind: .markRead(ids: ["n2"]), createdAt: .now()))
            let withEvent = try await page(after: 0)
            #expect(withEvent.eventReads == 1)
            #expect(withEvent.page.events.map(\.sequence) == [4])
            _ = try await store.append(Sample.notification(id: "n5", to: .users([1])))
            let afterEvent = try await page(after: 4)
            #expect(afterEvent.eventReads == 0)
            #expect(afterEvent.page.entries.map(\.sequence) == [5])
            // A deleted user's events go, and so does his head's mark.
            #expect(try await store.deleteUser(id: 1))
            try await store.putUser(User(id: 1))
            #expect(try await page(after: 0).eventReads == 0)
        }
    }

    @Test("v8-feed-events gives the events stored before it their audience and their feed's last event")
    func migrationBackfillsEvents() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        do {
            let pool = try DatabasePool(path: database.path)
            try Schema.migrator.migrate(pool, upTo: "v6-feed-state")
            let graph = try StoredContentOracle.encode(.graph(GraphNotification(
                targetHostName: "a", appNotificationID: nil, groupName: nil, expiration: Timestamp.now().adding(seconds: 86_400),
                payload: Payload(rawContent: nil, visualContent: VisualContent(title: "t", body: nil)), platforms: [.ios],
                priority: .none, displayTimeToLive: 0, fallbackPolicyJSON: nil)))
            let custom = try StoredContentOracle.encode(Sample.custom())
            try await pool.write { db in
                try db.execute(sql: "INSERT INTO users (id) VALUES (1)")
                try db.execute(
                    sql: """
                        INSERT INTO notifications (serial, id, created_at, kind, content, expires_at) VALUES
                            (1, 'c', 0, ?, ?, NULL), (2, 'g', 0, ?, ?, json_extract(?, '$.expiration'));
                        INSERT INTO feed (user, seq, notification, read) VALUES (1, 1, 1, 1), (1, 2, 2, 1);
                        INSERT INTO feed_heads (user, last_seq) VALUES (1, 5);
                        INSERT INTO feed_events (user, seq, created_at, kind, ids, read_up_to) VALUES
                            (1, 3, 0, 'read', 'g', NULL), (1, 4, 0, 'read', '', 2), (1, 5, 0, 'read', 'gone', NULL);
                        """,
                    arguments: [custom.kind, custom.json, graph.kind, graph.json, graph.json])
            }
            try pool.close()
        }
        try await database.open().withRunning { store async throws -> Void in
            func events(_ filter: FeedFilter) async throws -> [UInt64] {
                try await store.feedPage(user: 1, after: 0, limit: 10, maxBytes: .max, filter: filter).events.map(\.sequence)
            }
            #expect(try await events(.all) == [3, 4, 5])
            // 3 names an ios entry of a; 4 reads up to; 5's entry is gone: every reader, as before.
            #expect(try await events(FeedFilter(endpoint: .init(app: "a", platform: .ios))) == [3, 4, 5])
            #expect(try await events(FeedFilter(endpoint: .init(app: "a", platform: .windows))) == [4, 5])
            #expect(try await events(FeedFilter(source: .notify)) == [4, 5])
            #expect(try await store.feedPage(user: 1, after: 5, limit: 10, maxBytes: .max).nextAfter == 5)
        }
    }
}

/// The statements a traced connection ran.
private final class StatementLog: Sendable {
    let lines = Mutex<[String]>([])
}
