import GRDB
import Logging
import NotifyStorage
import Synchronization

/// Changes to what servers cache (tokens, the blocked list, users,
/// subscriptions) made by another process on the same file: `notifyd admin`
/// beside a running server.
///
/// Each such change writes a row into `directory_changes`, in the
/// transaction that makes it, naming the store object that made it
/// (``StoreEngine/instanceID``). A running store reads the rows after the
/// last it saw every ``SQLiteStoreConfiguration/directoryPollInterval`` and
/// tells those of others through ``SQLiteNotificationStore/directoryChanges()``,
/// as PostgreSQL's listener tells its notices. SQLite has no notice to wait
/// on; one indexed read four times a second costs next to nothing, and lets
/// a server trust what it cached for a minute instead of re-reading every
/// entry in use each second (1,000 reads a second for 1,000 busy users).
///
/// Ids grow in commit order (one writer at a time), so reading after the
/// last id seen misses nothing. The table keeps the last
/// ``SQLiteStoreConfiguration/directoryChangesKept`` rows; a reader that
/// finds rows gone that it had not read tells
/// ``DirectoryChange/everything``.
extension StoreEngine {
    /// Records `change` in the transaction on `db`, and drops the rows
    /// older than the last ``SQLiteStoreConfiguration/directoryChangesKept``.
    func recordChange(_ change: DirectoryChange, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO directory_changes (origin, change) VALUES (?, ?)", arguments: [instanceID, change.text])
        try db.execute(
            sql: "DELETE FROM directory_changes WHERE id <= ?",
            arguments: [db.lastInsertedRowID - Int64(max(1, configuration.directoryChangesKept))])
    }

    /// Reads the changes others record, until the task is cancelled; zero
    /// ``SQLiteStoreConfiguration/directoryPollInterval``: never (the store
    /// then does not hear them, and servers keep their entries 2 s).
    ///
    /// While its reads work the store hears every change
    /// (``SQLiteNotificationStore/hearsEveryDirectoryChange``); a failed read
    /// turns that off and tells ``DirectoryChange/everything``, so that
    /// nothing a server kept for longer outlives it. The next read that
    /// works reads on from the last row seen.
    func runDirectoryWatch() async {
        let interval = configuration.directoryPollInterval
        guard interval > .zero else { return }
        var cursor: Int64?
        while !isClosed {
            do {
                cursor = try await readChanges(after: cursor)
                // Stopped meanwhile: the store no longer hears.
                if isClosed { return }
                if !hearsChanges.exchange(true, ordering: .relaxed) {
                    // What was cached before the store heard goes.
                    heardChanges.changed(.everything)
                }
            } catch {
                if isClosed || Task.isCancelled { return }
                if hearsChanges.exchange(false, ordering: .relaxed) {
                    heardChanges.changed(.everything)
                    logger.info(
                        "cannot read the directory changes other processes make; servers keep their lookups 2 s meanwhile",
                        metadata: ["error.type": "\(error)"])
                }
            }
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }

    /// Tells the changes others recorded after `cursor`, and returns the
    /// last id read; with no cursor, only finds the last id.
    func readChanges(after cursor: Int64?) async throws(StorageError) -> Int64 {
        guard let cursor else {
            return try await read("reading directory changes") { db in
                try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM directory_changes") ?? 0
            }
        }
        let (oldest, rows) = try await read("reading directory changes") { db in
            let oldest = try Int64.fetchOne(db, sql: "SELECT min(id) FROM directory_changes")
            let rows = try Row.fetchAll(
                db, sql: "SELECT id, origin, change FROM directory_changes WHERE id > ? ORDER BY id", arguments: [cursor]
            ).map { row -> (id: Int64, origin: String, change: String) in (row[0], row[1], row[2]) }
            return (oldest, rows)
        }
        if let oldest, oldest > cursor + 1 {
            // Rows after the cursor were dropped before they were read.
            heardChanges.changed(.everything)
        }
        for row in rows where row.origin != instanceID {
            heardChanges.changed(DirectoryChange(text: row.change))
        }
        return rows.last?.id ?? cursor
    }
}
