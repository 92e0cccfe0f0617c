import Foundation
import GRDB
import NotifyDomain
import NotifyStorage
@testable import NotifyStorageSQLite
import Testing

@Suite("SQLite store setup")
struct StoreSetupTests {
    @Test("every connection runs WAL with synchronous FULL and foreign keys on")
    func pragmas() async throws {
        try await withStore { store, _ in
            let writer = try await store.engine.pool.write { db in
                (
                    try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                    try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                    try Int.fetchOne(db, sql: "PRAGMA foreign_keys")
                )
            }
            #expect(writer.0 == "wal")
            #expect(writer.1 == 2)  // FULL
            #expect(writer.2 == 1)
            let reader = try await store.engine.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
            #expect(reader == 2)
        }
    }

    @Test("the schema is the shipped list of migrations")
    func migrations() async throws {
        try await withStore { store, _ in
            let applied = try await store.engine.pool.read { db in try Schema.migrator.appliedIdentifiers(db) }
            #expect(applied == ["v1-initial", "v2-store-probe", "v3-expiry", "v4-subscriptions-expiry", "v5-stream-tickets", "v6-feed-state", "v7-typed-content", "v8-feed-events", "v9-fanout-cursor", "v10-audience-counts", "v11-directory-changes"])
        }
    }

    @Test("another process holding the write lock past the busy timeout gives busy; within it, the write waits")
    func busyTimeout() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        try await database.open().withRunning { holder in
        try await database.open(SQLiteStoreConfiguration(busyTimeout: .milliseconds(50))).withRunning { impatient in
        try await database.open(SQLiteStoreConfiguration(busyTimeout: .seconds(10))).withRunning { patient in
        // Holds the write lock on GRDB's writer thread, as a second process's
        // transaction would, until the impatient write has given up (at most 10 s).
        let release = DispatchSemaphore(value: 0)
        let (locked, lockedSignal) = AsyncStream.makeStream(of: Void.self)
        async let held: Void = holder.engine.pool.write { db in
            try db.execute(sql: "INSERT INTO users (id) VALUES (100)")
            lockedSignal.yield()
            _ = release.wait(timeout: .now() + 10)
        }
        for await _ in locked { break }
        let error = await #expect(throws: StorageError.self) { try await impatient.putUser(User(id: 1)) }
        #expect(error?.code == .busy)
        // Busy is passing: the store still counts as writable.
        #expect(impatient.isWritable)
        // The patient write starts while the lock is held and completes once it is released.
        async let patientWrite: Void = patient.putUser(User(id: 2))
        try await Task.sleep(for: .milliseconds(200))
        release.signal()
        try await patientWrite
        try await held
        #expect(try await patient.user(id: 100) != nil)
        #expect(try await impatient.user(id: 2) != nil)
        }
        }
        }
    }
}
