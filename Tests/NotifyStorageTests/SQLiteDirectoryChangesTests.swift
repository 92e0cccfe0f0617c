import Foundation
import GRDB
import NotifyDomain
import NotifyStorage
@testable import NotifyStorageSQLite
import Testing

/// What another process on the file (`notifyd admin` beside a running
/// server) changes in the directory reaches the running store.
@Suite("SQLite store: directory changes made by another process")
struct SQLiteDirectoryChangesTests {
    /// How long a change may take to be told: many poll intervals.
    static let bound = Duration.seconds(10)

    /// The next change `changes` tells, or nil after ``bound``.
    private func next(_ changes: DirectoryChangeStream) async -> DirectoryChange? {
        await nextChange(changes, within: Self.bound)
    }

    @Test("each change another store object commits is told to the running store, in order, and its own are not")
    func toldAcrossProcesses() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        var configuration = SQLiteStoreConfiguration()
        configuration.directoryPollInterval = .milliseconds(20)
        let server = try database.open(configuration)
        // As `notifyd admin` opens the file: a store object of its own that does not run.
        let admin = try database.open()
        #expect(!server.hearsEveryDirectoryChange)
        let heard = server.directoryChanges()
        try await server.withRunning { server in
            // Hearing starts by forgetting what was cached before.
            #expect(await next(heard) == .everything)
            #expect(server.hearsEveryDirectoryChange)

            try await admin.putUser(User(id: 4))
            try await admin.insertToken(
                TokenRecord(
                    id: "tk", hash: [1, 2, 3], principal: .user(4), roles: [.user],
                    expiresAt: Timestamp(microsecondsSince1970: .max / 2)))
            try await admin.createSubscription(
                Subscription(
                    id: "s1", user: 4, app: "a", platform: .webPush, deviceID: nil, expiresAt: .now().adding(seconds: 3_600)))
            #expect(try await admin.revokeToken(id: "tk"))
            try await admin.block(.app("crm"))
            // Blocked already: nothing changes, nothing is told.
            try await admin.block(.app("crm"))
            #expect(try await admin.unblock(.app("crm")))
            #expect(try await !admin.unblock(.app("crm")))
            #expect(try await admin.renewSubscription(id: "s1", expiresAt: .now().adding(seconds: 7_200)) != nil)
            #expect(try await admin.deleteSubscription(id: "s1"))
            #expect(try await !admin.deleteSubscription(id: "s1"))
            #expect(try await admin.deleteUser(id: 4))
            #expect(try await !admin.deleteUser(id: 4))
            var told: [DirectoryChange] = []
            for _ in 0..<7 {
                guard let change = await next(heard) else { break }
                told.append(change)
            }
            #expect(told == [
                .userChanged(4), .tokenRevoked, .blockListChanged(.app("crm")), .blockListChanged(.app("crm")),
                .subscriptionChanged("s1"), .subscriptionChanged("s1"), .userDeleted(4),
            ])
            // Many users at once (bootstrap) are one change: everything.
            try await admin.putUsers([User(id: 5), User(id: 6)])
            #expect(await next(heard) == .everything)

            // The running store's own change is not told back; the admin's after it is.
            try await server.block(.user(8))
            try await admin.block(.user(9))
            #expect(await next(heard) == .blockListChanged(.user(9)))
        }
        // Stopped: the stream ends, and the store no longer hears.
        #expect(await next(heard) == nil)
        #expect(!server.hearsEveryDirectoryChange)
    }

    @Test("a store that fell behind the rows the file keeps forgets everything, then reads on")
    func fellBehind() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        var configuration = SQLiteStoreConfiguration()
        configuration.directoryChangesKept = 2
        // Not running: the test reads the changes itself, when it chooses.
        let server = try database.open()
        let admin = try database.open(configuration)
        let heard = server.directoryChanges()
        let start = try await server.engine.readChanges(after: nil)
        #expect(start == 0)
        for id in Int64(1)...5 { try await admin.block(.user(id)) }
        let kept = try await server.engine.pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM directory_changes ORDER BY id")
        }
        #expect(kept == [4, 5])
        let cursor = try await server.engine.readChanges(after: start)
        #expect(cursor == 5)
        // Everything, which stands for the two rows read with it too.
        #expect(await next(heard) == .everything)
        // Caught up: the next read tells only what is new.
        try await admin.block(.user(6))
        #expect(try await server.engine.readChanges(after: cursor) == 6)
        #expect(await next(heard) == .blockListChanged(.user(6)))
    }

    @Test("each change reads back from its text; text it cannot read is everything", arguments: [
        DirectoryChange.tokenRevoked, .blockListChanged(.app("crm:eu")), .blockListChanged(.user(-3)), .userDeleted(12),
        .userChanged(7), .subscriptionChanged("0b7a:x"), .everything,
    ])
    func text(change: DirectoryChange) {
        #expect(DirectoryChange(text: change.text) == change)
        for text in ["", "q", "u:x", "n:", "b:robot:1", "t:1"] {
            #expect(DirectoryChange(text: text) == .everything, "\(text)")
        }
    }
}
