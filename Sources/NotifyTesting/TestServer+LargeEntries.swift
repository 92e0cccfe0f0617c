import Foundation
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite

extension TestServer {
    /// Appends `count` Graph notifications of about `bytes` bytes each (their
    /// raw content, the largest field a caller may fill: up to 64 KiB) to
    /// `user`'s feed, straight into the store, as `notifyd admin` would.
    /// The user is created when missing.
    ///
    /// - Returns: their ids, in feed order.
    @discardableResult
    public func largeEntries(user: Int64, count: Int, bytes: Int = 60_000) async throws -> [String] {
        if try await store.user(id: user) == nil { try await store.putUser(User(id: user)) }
        var ids: [String] = []
        for index in 0..<count {
            let entry = Self.largeEntry(user: user, index: index, bytes: bytes)
            _ = try await store.append(entry)
            ids.append(entry.id)
        }
        return ids
    }

    /// ``largeEntries(user:count:bytes:)`` appended 64 at a time, so that the
    /// store commits them in batches: for feeds of thousands. Their order in
    /// the feed is the order the store took them in.
    public func manyLargeEntries(user: Int64, count: Int, bytes: Int) async throws {
        if try await store.user(id: user) == nil { try await store.putUser(User(id: user)) }
        let store = self.store
        var next = 0
        while next < count {
            let batch = next..<min(count, next + 64)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in batch {
                    group.addTask { _ = try await store.append(Self.largeEntry(user: user, index: index, bytes: bytes)) }
                }
                try await group.waitForAll()
            }
            next = batch.upperBound
        }
    }

    private static func largeEntry(user: Int64, index: Int, bytes: Int) -> NewNotification {
        let content = GraphNotification(
            targetHostName: nil, appNotificationID: nil, groupName: nil,
            expiration: Timestamp.now().truncatedToMilliseconds.adding(seconds: 86_400),
            payload: Payload(rawContent: "\(index):" + String(repeating: "x", count: max(0, bytes)), visualContent: nil),
            platforms: [.windows], priority: .high, displayTimeToLive: 60, fallbackPolicyJSON: nil
        )
        return NewNotification(
            id: UUID().uuidString.lowercased(), createdAt: Timestamp.now().truncatedToMilliseconds, content: .graph(content), recipients: .users([user]),
            idempotencyKey: nil
        )
    }
}
