/// Who is calling: an application (named by its targetHostName) or a user.
///
/// A bearer token belongs to exactly one principal; the blocked list holds
/// principals too.
public enum Principal: Hashable, Sendable, CustomStringConvertible {
    case app(String)
    case user(Int64)

    public var description: String {
        switch self {
        case .app(let name): "app:\(name)"
        case .user(let id): "user:\(id)"
        }
    }
}

/// A role granted to a token.
public enum Role: String, Hashable, Sendable, CaseIterable, Codable {
    /// Everything, including Notify (SelfCommunity requires admins) and administration.
    case admin
    /// An application server: SendNotification for its own subscriptions.
    case app
    /// An end user: SendNotification to himself, his own feed.
    case user
}

/// The authenticated caller of one call, as resolved from its bearer token.
public struct Caller: Hashable, Sendable {
    public var principal: Principal
    public var roles: Set<Role>
    public var tokenID: String
    /// When the token stops being valid: a call that outlives it (a live
    /// feed) ends then. Nil when the caller was not made from a token.
    public var expiresAt: Timestamp?

    public init(principal: Principal, roles: Set<Role>, tokenID: String, expiresAt: Timestamp? = nil) {
        self.principal = principal
        self.roles = roles
        self.tokenID = tokenID
        self.expiresAt = expiresAt
    }

    public var isAdmin: Bool { roles.contains(.admin) }
}
