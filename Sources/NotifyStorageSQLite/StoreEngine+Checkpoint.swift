import GRDB
import Logging
import Synchronization

extension StoreEngine {
    /// Runs a PASSIVE checkpoint on `queue` every `interval` until cancelled.
    ///
    /// PASSIVE copies what no reader still needs and never takes the write
    /// lock, so the append writer goes on committing meanwhile.
    func runCheckpoints(on queue: DatabaseQueue, every interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled || isClosed { return }
            do {
                let (walFrames, copied) = try await queue.writeWithoutTransaction { db in
                    try db.checkpoint(.passive)
                }
                statistics.withLock {
                    $0.checkpoints += 1
                    $0.lastCheckpointWALFrames = walFrames
                    $0.lastCheckpointCopiedFrames = copied
                }
            } catch {
                logger.info("a WAL checkpoint failed; retrying later", metadata: ["error.type": "\(error)"])
            }
        }
    }
}
