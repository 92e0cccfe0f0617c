/// A community member. Users are created by administration calls; Notify
/// refuses an issuer that does not exist.
public struct User: Hashable, Sendable {
    public var id: Int64
    public var name: String?

    public init(id: Int64, name: String? = nil) {
        self.id = id
        self.name = name
    }
}

/// How two users are connected.
public enum ConnectionKind: String, Hashable, Sendable, CaseIterable {
    /// An accepted friendship: symmetric.
    case friend
    /// `user` follows `to`: `user` is one of `to`'s followers.
    case follow
}

/// A connection from `user` to `to`.
public struct Connection: Hashable, Sendable {
    public var user: Int64
    public var to: Int64
    public var kind: ConnectionKind

    public init(user: Int64, to: Int64, kind: ConnectionKind) {
        self.user = user
        self.to = to
        self.kind = kind
    }
}

/// Which connections SelfCommunity's `connections` recipients mean: the
/// community's `follow_enabled` preference.
public enum CommunityMode: String, Hashable, Sendable, CaseIterable {
    /// `follow_enabled` false: the issuer's friends.
    case friendship
    /// `follow_enabled` true: the issuer's followers.
    case follow
}

/// A device platform, as Graph's targetPolicy names them.
public enum Platform: String, Hashable, Sendable, CaseIterable, Codable {
    case windows
    case ios
    case android
    case webPush

    /// Parses a platform name case-insensitively ("WebPush", "IOS", ...).
    public init?(caseInsensitive name: String) {
        guard let match = Platform.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
            return nil
        }
        self = match
    }
}

/// Graph's notification priority.
public enum Priority: String, Hashable, Sendable, CaseIterable, Codable {
    case none = "None"
    case high = "High"
    case low = "Low"

    /// Parses a priority case-insensitively.
    public init?(caseInsensitive name: String) {
        guard let match = Priority.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
            return nil
        }
        self = match
    }
}

/// A user notification subscription: what Graph's X-UNS-ID names.
public struct Subscription: Hashable, Sendable {
    /// The X-UNS-ID.
    public var id: String
    public var user: Int64
    /// The application (its targetHostName) that owns the subscription.
    public var app: String
    public var platform: Platform
    public var deviceID: String?
    public var expiresAt: Timestamp

    /// How long after its expiry a subscription may still be renewed back
    /// to life (keeping its id); past it renewal is refused and the store
    /// sweeps it. docs/PROTOCOL.md, "Device endpoints".
    public static let renewalGraceSeconds: Int64 = 24 * 3600

    /// Whether the subscription has expired at `now`: it then receives nothing.
    public func isExpired(at now: Timestamp) -> Bool {
        expiresAt <= now
    }

    /// Whether it may still be renewed at `now`: not expired, or expired
    /// within ``renewalGraceSeconds``.
    public func isRenewable(at now: Timestamp) -> Bool {
        expiresAt.adding(seconds: Self.renewalGraceSeconds) > now
    }

    public init(id: String, user: Int64, app: String, platform: Platform, deviceID: String?, expiresAt: Timestamp) {
        self.id = id
        self.user = user
        self.app = app
        self.platform = platform
        self.deviceID = deviceID
        self.expiresAt = expiresAt
    }
}

/// A bearer token as stored: only the SHA-256 of the secret is kept.
public struct TokenRecord: Hashable, Sendable {
    public var id: String
    /// SHA-256 of the token text, 32 bytes.
    public var hash: [UInt8]
    public var principal: Principal
    public var roles: Set<Role>
    public var expiresAt: Timestamp
    public var revoked: Bool

    public init(id: String, hash: [UInt8], principal: Principal, roles: Set<Role>, expiresAt: Timestamp, revoked: Bool = false) {
        self.id = id
        self.hash = hash
        self.principal = principal
        self.roles = roles
        self.expiresAt = expiresAt
        self.revoked = revoked
    }
}
