import Foundation
import Logging
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite

/// A temporary directory holding one database file, removed afterwards.
struct TemporaryDatabase {
    let directory: URL
    var path: String { directory.appendingPathComponent("notify.sqlite").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("notify-storage-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// A store on this file, not yet running (``NotificationStore/withRunning(_:)`` runs it).
    func open(_ configuration: SQLiteStoreConfiguration = .init(), metrics: StoreMetrics = .disabled) throws -> SQLiteNotificationStore {
        var logger = Logger(label: "notify.storage.tests")
        logger.logLevel = .warning
        return try SQLiteNotificationStore(path: path, configuration: configuration, logger: logger, metrics: metrics)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Runs `body` with a fresh store running, then stops it and deletes its file.
func withStore<T>(
    _ configuration: SQLiteStoreConfiguration = .init(),
    _ body: (SQLiteNotificationStore, TemporaryDatabase) async throws -> T
) async throws -> T {
    let database = try TemporaryDatabase()
    defer { database.remove() }
    return try await database.open(configuration).withRunning { store in
        try await body(store, database)
    }
}

/// Polls until the background fan-out has nothing left and has counted its
/// last batch (the statistics are updated just after a batch commits), or
/// the deadline passes.
/// - Parameter jobs: the jobs this store must complete; by default those it
///   created. A store reopened midway completes jobs an earlier one created.
/// - Returns: whether it finished.
func waitForFanOut(_ store: SQLiteNotificationStore, jobs: Int? = nil, timeout: Duration = .seconds(120)) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        let statistics = store.statistics
        if try await store.pendingFanOutRecipients() == 0, statistics.fanOutJobsCompleted >= jobs ?? statistics.fanOutJobsCreated {
            return true
        }
        try await Task.sleep(for: .milliseconds(5))
    }
    return false
}

enum Sample {
    /// Recent, so that the store's retention (30 days) keeps what the tests
    /// append; an odd microsecond, so that a round trip shows it is exact.
    static let created = Timestamp(microsecondsSince1970: Timestamp.now().microsecondsSince1970 / 1_000_000 * 1_000_000 + 123_456)

    static func custom(issuer: Int64 = 1, title: String? = "hello") -> NotificationContent {
        .custom(
            CustomNotification(
                type: "mention",
                embed: Embed(embedType: "post", embedID: "p-42", url: "https://example.com/p/42", metadataJSON: #"{"a":[1,2]}"#),
                title: title, description: "a description with \"quotes\" and ünïcode", issuer: issuer))
    }

    static let graph: NotificationContent = .graph(
        GraphNotification(
            targetHostName: "app.example.com", appNotificationID: "app-1", groupName: "group",
            expiration: Timestamp(microsecondsSince1970: 1_800_000_000_500_000),
            payload: Payload(rawContent: "raw", visualContent: VisualContent(title: "Title", body: nil)),
            platforms: [.windows, .webPush], priority: .high, displayTimeToLive: 3600,
            fallbackPolicyJSON: #"{"url":"https://example.com"}"#))

    static func notification(
        id: String = UUID().uuidString, content: NotificationContent = custom(), to recipients: Recipients,
        key: IdempotencyKey? = nil
    ) -> NewNotification {
        NewNotification(id: id, createdAt: created, content: content, recipients: recipients, idempotencyKey: key)
    }

    /// As ``notification(id:content:to:key:)``, created now: for the tests
    /// with a retention, which ``created`` (fixed when first read, maybe
    /// minutes before in a full run) may already be past.
    static func fresh(id: String, content: NotificationContent = custom(), to recipients: Recipients) -> NewNotification {
        NewNotification(id: id, createdAt: .now(), content: content, recipients: recipients, idempotencyKey: nil)
    }
}

/// The next change `changes` tells, or nil after `bound` (the stream then
/// ends: its reader's task was cancelled).
func nextChange(_ changes: DirectoryChangeStream, within bound: Duration) async -> DirectoryChange? {
    await withTaskGroup(of: DirectoryChange?.self) { group in
        group.addTask {
            var iterator = changes.makeAsyncIterator()
            return await iterator.next()
        }
        group.addTask {
            try? await Task.sleep(for: bound)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
