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
            #expect(applied == ["v1-initial"])
        }
    }

    @Test("another process holding the write lock past the busy timeout gives unavailable; within it, the write waits")
    func busyTimeout() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let holder = try database.open()
        let impatient = try database.open(SQLiteStoreConfiguration(busyTimeout: .milliseconds(50)))
        let patient = try database.open(SQLiteStoreConfiguration(busyTimeout: .seconds(10)))
        // Holds the write lock for 600 ms on GRDB's writer thread, as a second
        // process's transaction would.
        let (locked, lockedSignal) = AsyncStream.makeStream(of: Void.self)
        async let held: Void = holder.engine.pool.write { db in
            try db.execute(sql: "INSERT INTO users (id) VALUES (100)")
            lockedSignal.yield()
            Thread.sleep(forTimeInterval: 0.6)
        }
        for await _ in locked { break }
        let error = await #expect(throws: StorageError.self) { try await impatient.putUser(User(id: 1)) }
        #expect(error?.code == .unavailable)
        try await patient.putUser(User(id: 2))
        try await held
        #expect(try await patient.user(id: 100) != nil)
        #expect(try await impatient.user(id: 2) != nil)
        for store in [holder, impatient, patient] { await store.close() }
    }
}
