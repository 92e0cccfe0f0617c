import GRDB

/// A second connection to a test server's database holding SQLite's write
/// lock, as another process could: the store's writer waits behind it, so a
/// test can keep answers owed for as long as it needs.
public final class WriteLockHolder: Sendable {
    private let queue: DatabaseQueue

    init(databaseAt path: String) throws {
        var configuration = Configuration()
        // The transaction outlives the `inDatabase` call that begins it.
        configuration.allowsUnsafeTransactions = true
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
    }

    /// Lets the writer go on.
    public func release() throws {
        try queue.inDatabase { db in try db.execute(sql: "ROLLBACK") }
    }

    /// ``release()`` after `delay`, in a task the test awaits before it ends.
    public func release(after delay: Duration) -> Task<Void, any Error> {
        Task {
            try await Task.sleep(for: delay)
            try release()
        }
    }
}

extension TestServer {
    /// Takes the database's write lock from another connection.
    public func holdWriteLock() throws -> WriteLockHolder {
        try WriteLockHolder(databaseAt: directory + "/notify.sqlite")
    }
}
