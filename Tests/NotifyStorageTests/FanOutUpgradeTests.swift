import Foundation
import GRDB
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite
import Testing

/// Migration `v9-fanout-cursor`: a fan-out job written before it (its
/// audience a snapshot of ids in `fanout_recipients`) is finished after
/// the upgrade, from that snapshot.
@Suite("SQLite store: fan-out jobs across the v9 upgrade")
struct FanOutUpgradeTests {
    @Test("a job in flight before the upgrade (a snapshot of ids) is finished from its snapshot, each recipient once")
    func snapshotJobFinishes() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let paused = SQLiteStoreConfiguration(inlineFanOutLimit: 2, fanOutBatchSize: 3, runsBackgroundFanOut: false)
        try await database.open(paused).withRunning { store in
            try await store.putUsers((1...21).map { User(id: $0) })
            try await store.putConnections((2...20).map { Connection(user: $0, to: 1, kind: .follow) })
            let result = try await store.append(Sample.notification(id: "big", to: .connections(of: 1, mode: .follow)))
            #expect(result.recipients == 19)
            #expect(result.first?.user == 2)
        }

        // Back to the schema before v9, with the job as that release left it:
        // the recipients after the first copied into fanout_recipients.
        let queue = try DatabaseQueue(path: database.path)
        try await queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO fanout_recipients (job, user) SELECT j.id, c.user FROM fanout_jobs j, connections c
                    WHERE c."to" = 1 AND c.kind = 'follow' AND c.user > 2;
                    ALTER TABLE fanout_jobs DROP COLUMN cursor;
                    ALTER TABLE fanout_jobs DROP COLUMN mode;
                    ALTER TABLE fanout_jobs DROP COLUMN issuer;
                    DELETE FROM grdb_migrations WHERE identifier = 'v9-fanout-cursor';
                    -- After the snapshot: not in it, so not reached.
                    INSERT INTO connections (user, kind, "to") VALUES (21, 'follow', 1);
                    """)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM fanout_recipients") == 18)
        }
        try queue.close()

        try await database.open(SQLiteStoreConfiguration(inlineFanOutLimit: 2, fanOutBatchSize: 3)).withRunning { store throws in
            #expect(try await waitForFanOut(store, jobs: 1))
            for user in Int64(2)...20 {
                let feed = try await store.feed(user: user, after: 0, limit: 10)
                #expect(feed.map(\.id) == ["big"], "user \(user)")
                #expect(feed.map(\.sequence) == [1], "user \(user)")
            }
            #expect(try await store.feed(user: 21, after: 0, limit: 10).isEmpty)
            #expect(store.statistics.fanOutRowsWritten == 18)
            // A job made now, after the upgrade, reads the connections as it goes.
            _ = try await store.append(Sample.notification(id: "later", to: .connections(of: 1, mode: .follow)))
            #expect(try await waitForFanOut(store, jobs: 2))
            #expect(try await store.feed(user: 21, after: 0, limit: 10).map(\.id) == ["later"])
        }
    }
}
