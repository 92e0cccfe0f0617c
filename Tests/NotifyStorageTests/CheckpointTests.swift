import Foundation
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite
import Testing

@Suite("SQLite WAL checkpoints")
struct CheckpointTests {
    /// Under appends, the writer copies the WAL into the database between
    /// batches, so the WAL stays bounded and the data reaches the main file.
    @Test("appends reach the database file and the WAL stops growing")
    func walIsCheckpointed() async throws {
        var configuration = SQLiteStoreConfiguration()
        configuration.checkpointInterval = .milliseconds(50)
        try await withStore(configuration) { store, database in
            let before = try fileSize(database.path)
            for round in 0..<20 {
                // Past an interval halfway, however fast the disk commits the
                // rounds: a checkpoint comes in the middle, another at the end.
                if round == 10 { try await Task.sleep(for: .milliseconds(100)) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<100 {
                        group.addTask {
                            _ = try await store.append(Sample.notification(id: "n-\(round)-\(i)", to: .users([1, 2, 3])))
                        }
                    }
                    try await group.waitForAll()
                }
            }
            // One more append after an interval: its checkpoint, with nothing
            // reading, copies everything.
            try await Task.sleep(for: .milliseconds(100))
            _ = try await store.append(Sample.notification(id: "last", to: .users([3])))
            // The writer checkpoints after it has completed the batch's
            // appends: the caller can be back here first.
            let deadline = ContinuousClock.now + .seconds(5)
            while store.statistics.checkpoints < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let statistics = store.statistics
            #expect(statistics.checkpoints >= 2)
            #expect(statistics.lastCheckpointCopiedFrames == statistics.lastCheckpointWALFrames)
            #expect(try fileSize(database.path) > before, "nothing reached the database file")
            #expect(try await store.feed(user: 3, after: 0, limit: 5_000).count == 2_001)
        }
    }

    @Test("a zero interval runs no checkpoint")
    func disabled() async throws {
        var configuration = SQLiteStoreConfiguration()
        configuration.checkpointInterval = .zero
        try await withStore(configuration) { store, _ in
            _ = try await store.append(Sample.notification(id: "one", to: .users([1])))
            try await Task.sleep(for: .milliseconds(50))
            #expect(store.statistics.checkpoints == 0)
        }
    }

    private func fileSize(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
    }
}
