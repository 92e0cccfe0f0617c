import Foundation
import GRDB
import NotifyDomain
import NotifyStorage

// One Codable record per table. They stay internal: the protocol speaks
// domain types, and these convert at the edge so no SQL leaks out.

extension Timestamp {
    /// The INTEGER every time column holds: microseconds since 1970, the
    /// ``Timestamp`` itself, so a round trip through the database is exact.
    var storedMicroseconds: Int64 { microsecondsSince1970 }

    init(storedMicroseconds: Int64) {
        self.init(microsecondsSince1970: storedMicroseconds)
    }
}

struct UserRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "users"
    var id: Int64
    var name: String?

    init(_ user: User) {
        id = user.id
        name = user.name
    }

    var user: User { User(id: id, name: name) }
}

struct ConnectionRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "connections"
    var user: Int64
    var kind: String
    var to: Int64

    /// A friendship is stored once, lower id first, so (a, b) and (b, a) are the same row.
    init(_ connection: Connection) {
        kind = connection.kind.rawValue
        switch connection.kind {
        case .friend:
            user = min(connection.user, connection.to)
            to = max(connection.user, connection.to)
        case .follow:
            user = connection.user
            to = connection.to
        }
    }
}

struct SubscriptionRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "subscriptions"
    var id: String
    var user: Int64
    var app: String
    var platform: String
    var deviceID: String?
    var expiresAt: Int64

    enum CodingKeys: String, CodingKey {
        case id, user, app, platform
        case deviceID = "device_id"
        case expiresAt = "expires_at"
    }

    init(_ subscription: Subscription) {
        id = subscription.id
        user = subscription.user
        app = subscription.app
        platform = subscription.platform.rawValue
        deviceID = subscription.deviceID
        expiresAt = subscription.expiresAt.storedMicroseconds
    }

    func subscription() throws(StorageError) -> Subscription {
        guard let platform = Platform(rawValue: platform) else {
            throw StorageError(code: .corrupt, message: "subscription \(id) has an unknown platform")
        }
        return Subscription(
            id: id, user: user, app: app, platform: platform, deviceID: deviceID,
            expiresAt: Timestamp(storedMicroseconds: expiresAt))
    }
}

struct BlockedRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "blocked"
    var principal: String
}

extension Principal {
    /// "app:<name>" or "user:<id>": its description, which parses back.
    var stored: String { description }

    init(stored: String) throws(StorageError) {
        if stored.hasPrefix("app:") {
            self = .app(String(stored.dropFirst(4)))
        } else if stored.hasPrefix("user:"), let id = Int64(stored.dropFirst(5)) {
            self = .user(id)
        } else {
            throw StorageError(code: .corrupt, message: "unreadable principal in the database")
        }
    }
}

struct TokenRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "tokens"
    var id: String
    var hash: Data
    var principal: String
    /// Sorted role names, comma-separated.
    var roles: String
    var expiresAt: Int64
    var revoked: Bool

    enum CodingKeys: String, CodingKey {
        case id, hash, principal, roles, revoked
        case expiresAt = "expires_at"
    }

    init(_ token: TokenRecord) {
        id = token.id
        hash = Data(token.hash)
        principal = token.principal.stored
        roles = token.roles.map(\.rawValue).sorted().joined(separator: ",")
        expiresAt = token.expiresAt.storedMicroseconds
        revoked = token.revoked
    }

    func token() throws(StorageError) -> TokenRecord {
        var parsed = Set<Role>()
        for name in roles.split(separator: ",") {
            guard let role = Role(rawValue: String(name)) else {
                throw StorageError(code: .corrupt, message: "token \(id) has an unknown role")
            }
            parsed.insert(role)
        }
        return TokenRecord(
            id: id, hash: [UInt8](hash), principal: try Principal(stored: principal), roles: parsed,
            expiresAt: Timestamp(storedMicroseconds: expiresAt), revoked: revoked)
    }
}

// `notifications` has no Codable record: its typed content columns are
// bound and read through SQLite's C API by ``ContentColumns`` (a text is
// read with its length, and the append and the page read stay off GRDB's
// per-value conversions).

struct FeedRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "feed"
    var user: Int64
    var seq: Int64
    var notification: Int64
}

struct FeedHeadRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "feed_heads"
    var user: Int64
    var lastSeq: Int64

    enum CodingKeys: String, CodingKey {
        case user
        case lastSeq = "last_seq"
    }
}

struct IdempotencyRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "idempotency"
    var scope: String
    var method: String
    var key: String
    var fingerprint: Data
    var notification: Int64
    var recipients: Int64
    var firstUser: Int64?
    var firstSeq: Int64?
    var createdAt: Int64

    enum CodingKeys: String, CodingKey {
        case scope, method, key, fingerprint, notification, recipients
        case firstUser = "first_user"
        case firstSeq = "first_seq"
        case createdAt = "created_at"
    }
}

/// A background fan-out job: a connections notification whose audience was
/// too large to write inside its append.
///
/// A job made since migration `v9-fanout-cursor` names the issuer and the
/// mode, and reads the audience from `connections` batch by batch, in user id
/// order after `cursor` (the last user written). A job from before has no
/// issuer: its audience is the snapshot in `fanout_recipients`.
struct FanOutJobRow: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "fanout_jobs"
    var id: Int64?
    var notification: Int64
    /// The audience at the call, less the recipient the append wrote.
    var total: Int64
    var createdAt: Int64
    /// Whose connections; nil for a snapshot job.
    var issuer: Int64?
    /// ``CommunityMode``'s raw value; nil for a snapshot job.
    var mode: String?
    /// The last user whose feed the job wrote (ids at or below it are done).
    var cursor: Int64?

    enum CodingKeys: String, CodingKey {
        case id, notification, total, issuer, mode, cursor
        case createdAt = "created_at"
    }

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

struct FanOutRecipientRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "fanout_recipients"
    var job: Int64
    var user: Int64
}
