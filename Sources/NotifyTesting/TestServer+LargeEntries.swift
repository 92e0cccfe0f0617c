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
        let filler = String(repeating: "x", count: max(0, bytes))
        var ids: [String] = []
        for index in 0..<count {
            let id = UUID().uuidString.lowercased()
            let content = GraphNotification(
                targetHostName: nil, appNotificationID: nil, groupName: nil,
                expiration: Date().addingTimeInterval(86_400),
                payload: Payload(rawContent: "\(index):" + filler, visualContent: nil), platforms: [.windows],
                priority: .high, displayTimeToLive: 60, fallbackPolicyJSON: nil
            )
            _ = try await store.append(NewNotification(
                id: id, createdAt: Date(), content: .graph(content), recipients: .users([user]), idempotencyKey: nil
            ))
            ids.append(id)
        }
        return ids
    }
}
