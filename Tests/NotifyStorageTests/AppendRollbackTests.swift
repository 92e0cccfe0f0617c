import Foundation
import GRDB
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite
import Testing

@Suite("SQLite append rollback")
struct AppendRollbackTests {
    /// A trigger, added through a second connection, refuses feed rows for one
    /// user: the append fails after it has already written its notification,
    /// one feed row and one feed head.
    @Test("an append failing after some of its writes leaves nothing behind; its batch neighbours commit")
    func failureAfterWrites() async throws {
        try await withStore { store, database in
            _ = try await store.append(Sample.notification(id: "first", to: .users([1])))
            let refused: Int64 = 666
            // The store's own writers (the fan-out, the checkpoint) may hold
            // the lock a moment: wait for it like the store's connections do.
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            let queue = try DatabaseQueue(path: database.path, configuration: configuration)
            try await queue.write { db in
                try db.execute(
                    sql: """
                        CREATE TRIGGER refuse_feed BEFORE INSERT ON feed WHEN NEW.user = \(refused)
                        BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                        """)
            }

            let outcomes = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
                for i in 0..<40 {
                    let bad = i.isMultiple(of: 4)
                    let id = bad ? "bad\(i)" : "ok\(i)"
                    group.addTask {
                        do throws(StorageError) {
                            _ = try await store.append(
                                Sample.notification(id: id, to: .users(bad ? [1, refused, 2] : [1, 2])))
                            return (id, true)
                        } catch {
                            return (id, false)
                        }
                    }
                }
                return try await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
            }
            #expect(outcomes.filter { !$0.value }.keys.sorted() == (0..<10).map { "bad\($0 * 4)" }.sorted())
            #expect(outcomes.filter(\.value).count == 30)

            // The refused appends advanced no head and left no notification.
            #expect(try await store.feed(user: 1, after: 0, limit: 100).map(\.sequence) == (1...31).map { UInt64($0) })
            #expect(try await store.feed(user: 2, after: 0, limit: 100).map(\.sequence) == (1...30).map { UInt64($0) })
            #expect(try await store.feed(user: refused, after: 0, limit: 100).isEmpty)
            try await queue.write { db in try db.execute(sql: "DROP TRIGGER refuse_feed") }
            try queue.close()

            let retried = try await store.append(Sample.notification(id: "bad0", to: .users([refused, 1])))
            #expect(retried.replayed == false)
            #expect(retried.first?.sequence == 1)
            #expect(try await store.feed(user: 1, after: 31, limit: 10).map(\.id) == ["bad0"])
        }
    }
}
