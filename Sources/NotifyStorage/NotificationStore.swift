public import Foundation
public import NotifyDomain

/// Who receives a notification being appended.
public enum Recipients: Hashable, Sendable {
    /// Exactly these users (SendNotification's subscription user; Notify `user`).
    case users([Int64])
    /// The issuer's connections as `mode` defines them: friends or followers.
    /// The store resolves them itself so that a user with 100,000 followers
    /// never puts 100,000 ids in memory.
    case connections(of: Int64, mode: CommunityMode)
}

/// Makes a retried call return the first call's answer.
public struct IdempotencyKey: Hashable, Sendable {
    /// The caller's principal, so that two callers cannot collide.
    public var scope: String
    /// The method, so one key is not shared by two calls.
    public var method: String
    /// The client's key.
    public var key: String
    /// SHA-256 of the request payload: the same key with another request is refused.
    public var fingerprint: [UInt8]

    public init(scope: String, method: String, key: String, fingerprint: [UInt8]) {
        self.scope = scope
        self.method = method
        self.key = key
        self.fingerprint = fingerprint
    }
}

/// One append to be committed.
public struct NewNotification: Hashable, Sendable {
    public var id: String
    public var createdAt: Date
    public var content: NotificationContent
    public var recipients: Recipients
    public var idempotencyKey: IdempotencyKey?

    public init(id: String, createdAt: Date, content: NotificationContent, recipients: Recipients, idempotencyKey: IdempotencyKey?) {
        self.id = id
        self.createdAt = createdAt
        self.content = content
        self.recipients = recipients
        self.idempotencyKey = idempotencyKey
    }
}

/// The outcome of an append, once committed.
public struct AppendResult: Hashable, Sendable {
    /// The notification id: the new one, or the first call's on a replay.
    public var id: String
    /// How many feeds it goes to. For a large audience some may still be
    /// being written by the background fan-out; they are durable already.
    public var recipients: UInt64
    /// The first recipient's feed entry (SendNotification returns it).
    public var first: NotifyDomain.Notification?
    /// True when the idempotency key matched an earlier call.
    public var replayed: Bool

    public init(id: String, recipients: UInt64, first: NotifyDomain.Notification?, replayed: Bool) {
        self.id = id
        self.recipients = recipients
        self.first = first
        self.replayed = replayed
    }
}

/// Where a feed ends, as an empty page finds it.
public enum FeedEnd: Hashable, Sendable {
    /// The user exists; the last sequence ever given in his feed (0 before
    /// the first; kept when the user is deleted and created again).
    case head(UInt64)
    /// There is no such user.
    case noSuchUser
}

/// One page of a feed, cut by count and by bytes.
public struct FeedPage: Hashable, Sendable {
    /// The entries, oldest first.
    public var entries: [NotifyDomain.Notification]
    /// No entry after the page's last one (or after its cursor, when it is
    /// empty) was committed when the page was read. A page cut by `limit` or
    /// by bytes is not caught up, even when it is short.
    public var caughtUp: Bool
    /// On an empty page, where the feed ends, read with the page; nil on a
    /// page with entries. A reader needs it only then, to tell a cursor at
    /// the end from one past it, and a user with no entry yet from one who
    /// does not exist (docs/PROTOCOL.md, "List and Watch"): read with the
    /// page, it costs no second trip to the database.
    public var end: FeedEnd?

    public init(entries: [NotifyDomain.Notification], caughtUp: Bool, end: FeedEnd? = nil) {
        self.entries = entries
        self.caughtUp = caughtUp
        self.end = end
    }

    /// What one entry counts against a page's byte budget: its stored
    /// content (JSON), its id, and 64 bytes for the rest (sequence, user,
    /// times, kind and their encoding). Within a few bytes of its protobuf
    /// encoding, and never far below it.
    public static func size(ofContent contentBytes: Int, id idBytes: Int) -> Int {
        contentBytes + idBytes + 64
    }
}

/// The storage the service needs. SQLite implements it now, PostgreSQL later:
/// no SQL dialect leaks through it.
///
/// Every mutating method returns only after its transaction is durably
/// committed. Implementations must not block the caller's thread: they run
/// database work on their own threads.
public protocol NotificationStore: Sendable {
    // Users and connections.
    func putUser(_ user: User) async throws(StorageError)
    /// Deletes the user with his connections, subscriptions and feed
    /// entries, and revokes his tokens; keeps his feed's head, so that the
    /// id created again continues its sequence (docs/PROTOCOL.md).
    /// - Returns: false when there was no such user.
    func deleteUser(id: Int64) async throws(StorageError) -> Bool
    func user(id: Int64) async throws(StorageError) -> User?
    func putConnection(_ connection: Connection) async throws(StorageError)
    /// - Returns: false when there was no such connection.
    func deleteConnection(_ connection: Connection) async throws(StorageError) -> Bool

    // Subscriptions.
    func createSubscription(_ subscription: Subscription) async throws(StorageError)
    func subscription(id: String) async throws(StorageError) -> Subscription?
    /// - Returns: the renewed subscription, or nil when there was none.
    func renewSubscription(id: String, expiresAt: Date) async throws(StorageError) -> Subscription?
    func deleteSubscription(id: String) async throws(StorageError) -> Bool

    // The blocked list.
    func block(_ principal: Principal) async throws(StorageError)
    func unblock(_ principal: Principal) async throws(StorageError) -> Bool
    func isBlocked(_ principal: Principal) async throws(StorageError) -> Bool

    // Tokens.
    func insertToken(_ token: TokenRecord) async throws(StorageError)
    func token(hash: [UInt8]) async throws(StorageError) -> TokenRecord?
    func revokeToken(id: String) async throws(StorageError) -> Bool

    // Notifications.
    /// Appends a notification to its recipients' feeds, commits, then calls
    /// `completion`, on a thread of the store's: it must return quickly.
    ///
    /// A callback rather than `async`, so that a caller on an event loop can
    /// append without a task of its own. Concurrent appends are
    /// group-committed: batched into one transaction.
    /// - Failures: ``StorageError/Code/idempotencyKeyReused`` when the key was
    ///   used before with another fingerprint.
    func append(
        _ notification: NewNotification,
        completion: @escaping @Sendable (Result<AppendResult, StorageError>) -> Void
    )
    /// A user's feed entries with `sequence > after`, oldest first.
    func feed(user: Int64, after: UInt64, limit: Int) async throws(StorageError) -> [NotifyDomain.Notification]
    /// One page of a user's feed after `after`, oldest first: at most
    /// `limit` entries, and no more bytes than `maxBytes` (by
    /// ``FeedPage/size(ofContent:id:)``) unless the first entry alone is
    /// larger: a page holds at least one entry when one follows the cursor.
    /// Nothing larger than the page is read into memory. An empty page
    /// carries its ``FeedPage/end``, read in the same transaction.
    func feedPage(user: Int64, after: UInt64, limit: Int, maxBytes: Int) async throws(StorageError) -> FeedPage
    /// Wake-ups after each commit that may have advanced `user`'s feed,
    /// from the moment of the call: a live reader watches first, then reads
    /// from its cursor, so no commit falls between the two. Appends made by
    /// another process on the same database do not wake it.
    func watchFeed(user: Int64) -> AsyncStream<Void>
    /// Wakes every live reader with nothing appended, so that each checks
    /// again whether its caller may still read (a token revoked, a caller
    /// blocked, a user deleted).
    func wakeFeedWatchers()
    /// False while the store cannot write at all (its disk is full, its
    /// database is lost): writes fail with ``StorageError/Code/unavailable``
    /// until it recovers by itself. Readiness reports it.
    var isWritable: Bool { get }
}

extension NotificationStore {
    /// A store that cannot tell is taken to be writable.
    public var isWritable: Bool { true }

    /// Appends a notification and returns once it is committed.
    public func append(_ notification: NewNotification) async throws(StorageError) -> AppendResult {
        try await withCheckedContinuation { continuation in
            append(notification) { continuation.resume(returning: $0) }
        }.get()
    }
}
