import GRDB
import Logging
import NotifyStorage

extension StoreEngine {
    /// While the store cannot write, tries a small write every
    /// ``SQLiteStoreConfiguration/probeInterval``; the first that commits
    /// turns writing back on (``StoreWritability/succeeded()``). Sleeps
    /// between outages; ends when `signals` finishes or the task is cancelled.
    ///
    /// The probe first copies the WAL into the database and truncates it (a
    /// TRUNCATE checkpoint, which the full disk made fail until now: the WAL
    /// kept every frame since), giving the WAL's space back to the disk;
    /// then it commits ``SQLiteStoreConfiguration/probeBytes`` bytes into
    /// `store_probe` and deletes them in a second transaction. It succeeds
    /// only when both work, so a few freed pages do not turn the store back
    /// on for the next batch to fail (without the checkpoint, a probe that
    /// fit in the freed space was followed by a failing checkpoint and a
    /// failing append within the same second).
    func runWritabilityProbe(_ signals: AsyncStream<Void>) async {
        for await _ in signals {
            while !writability.isWritable {
                do {
                    try await Task.sleep(for: configuration.probeInterval)
                } catch {
                    return
                }
                if isClosed { return }
                guard !writability.isWritable else { break }
                await probeOnce()
            }
        }
    }

    /// One probe write; when it commits, ``writability`` turns on again.
    func probeOnce() async {
        let bytes = max(0, configuration.probeBytes)
        do {
            _ = try await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO store_probe (id, filler) VALUES (1, zeroblob(?))
                        ON CONFLICT (id) DO UPDATE SET filler = excluded.filler
                        """,
                    arguments: [bytes])
            }
        } catch {
            // Not counted as a refusal: no call was refused.
            logger.debug("the store's write probe failed", metadata: ["error.type": "\(error)"])
            return
        }
        writability.succeeded()
        // Gives the pages back; a failure here only leaves them for the next probe.
        try? await pool.write { db in try db.execute(sql: "DELETE FROM store_probe") }
    }
}
