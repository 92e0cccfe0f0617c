public import NotifyDomain

// The AdminService messages (proto/notify/v1/admin.proto). Request fields are
// optional, mirroring proto2 presence, so that the server can name the field
// a caller left out; responses carry the domain's validated values.

/// `notify.v1.PutUserRequest`: create or update a user.
public struct PutUserRequest: Hashable, Sendable {
    public var user: User?

    public init(user: User? = nil) {
        self.user = user
    }
}

/// `notify.v1.PutUserResponse`: the user as stored.
public struct PutUserResponse: Hashable, Sendable {
    public var user: User?

    public init(user: User? = nil) {
        self.user = user
    }
}

/// `notify.v1.DeleteUserRequest`.
public struct DeleteUserRequest: Hashable, Sendable {
    public var id: Int64?

    public init(id: Int64? = nil) {
        self.id = id
    }
}

/// `notify.v1.DeleteUserResponse`.
public struct DeleteUserResponse: Hashable, Sendable {
    public init() {}
}

/// `notify.v1.Connection` as a caller sent it: ``Connection`` once validated.
public struct ConnectionInput: Hashable, Sendable {
    public var user: Int64?
    public var to: Int64?
    /// "friend" or "follow" (``ConnectionKind``).
    public var kind: String?

    public init(user: Int64? = nil, to: Int64? = nil, kind: String? = nil) {
        self.user = user
        self.to = to
        self.kind = kind
    }

    /// The input that sends `connection`.
    public init(_ connection: Connection) {
        self.init(user: connection.user, to: connection.to, kind: connection.kind.rawValue)
    }
}

/// `notify.v1.PutConnectionRequest`.
public struct PutConnectionRequest: Hashable, Sendable {
    public var connection: ConnectionInput?

    public init(connection: ConnectionInput? = nil) {
        self.connection = connection
    }
}

/// `notify.v1.PutConnectionResponse`.
public struct PutConnectionResponse: Hashable, Sendable {
    public init() {}
}

/// `notify.v1.DeleteConnectionRequest`.
public struct DeleteConnectionRequest: Hashable, Sendable {
    public var connection: ConnectionInput?

    public init(connection: ConnectionInput? = nil) {
        self.connection = connection
    }
}

/// `notify.v1.DeleteConnectionResponse`.
public struct DeleteConnectionResponse: Hashable, Sendable {
    public init() {}
}

/// `notify.v1.CreateSubscriptionRequest`.
public struct CreateSubscriptionRequest: Hashable, Sendable {
    public var user: Int64?
    /// The owning app's targetHostName.
    public var app: String?
    /// A ``Platform`` name, as sent.
    public var platform: String?
    public var deviceID: String?
    /// Lifetime in seconds; nil: 30 days.
    public var ttlSeconds: UInt64?

    public init(
        user: Int64? = nil, app: String? = nil, platform: String? = nil, deviceID: String? = nil,
        ttlSeconds: UInt64? = nil
    ) {
        self.user = user
        self.app = app
        self.platform = platform
        self.deviceID = deviceID
        self.ttlSeconds = ttlSeconds
    }
}

/// `notify.v1.CreateSubscriptionResponse`: the subscription created.
///
/// `expiresAt` travels at millisecond precision
/// (``Timestamps/formatRFC3339Milliseconds(_:)``).
public struct CreateSubscriptionResponse: Hashable, Sendable {
    public var subscription: Subscription

    public init(subscription: Subscription) {
        self.subscription = subscription
    }
}

/// `notify.v1.RenewSubscriptionRequest`.
public struct RenewSubscriptionRequest: Hashable, Sendable {
    /// The X-UNS-ID.
    public var id: String?
    /// New lifetime in seconds, from now; nil: 30 days.
    public var ttlSeconds: UInt64?

    public init(id: String? = nil, ttlSeconds: UInt64? = nil) {
        self.id = id
        self.ttlSeconds = ttlSeconds
    }
}

/// `notify.v1.RenewSubscriptionResponse`: the subscription renewed.
public struct RenewSubscriptionResponse: Hashable, Sendable {
    public var subscription: Subscription

    public init(subscription: Subscription) {
        self.subscription = subscription
    }
}

/// `notify.v1.DeleteSubscriptionRequest`.
public struct DeleteSubscriptionRequest: Hashable, Sendable {
    public var id: String?

    public init(id: String? = nil) {
        self.id = id
    }
}

/// `notify.v1.DeleteSubscriptionResponse`.
public struct DeleteSubscriptionResponse: Hashable, Sendable {
    public init() {}
}

/// `notify.v1.Principal` as sent: exactly one of `app` and `user` should be set.
public struct PrincipalInput: Hashable, Sendable {
    public var app: String?
    public var user: Int64?

    public init(app: String? = nil, user: Int64? = nil) {
        self.app = app
        self.user = user
    }

    /// The input that sends `principal`.
    public init(_ principal: Principal) {
        switch principal {
        case .app(let name): self.init(app: name)
        case .user(let id): self.init(user: id)
        }
    }

    /// The principal, when exactly one of `app` and `user` is set.
    public var principal: Principal? {
        switch (app, user) {
        case (let app?, nil): .app(app)
        case (nil, let user?): .user(user)
        default: nil
        }
    }
}

/// `notify.v1.BlockRequest`, for both Block and Unblock.
public struct BlockRequest: Hashable, Sendable {
    public var caller: PrincipalInput?

    public init(caller: PrincipalInput? = nil) {
        self.caller = caller
    }
}

/// `notify.v1.BlockResponse`, for both Block and Unblock.
public struct BlockResponse: Hashable, Sendable {
    public init() {}
}

/// `notify.v1.CreateTokenRequest`.
public struct CreateTokenRequest: Hashable, Sendable {
    public var principal: PrincipalInput?
    /// ``Role`` names, as sent; empty: the principal's default role.
    public var roles: [String]
    /// Lifetime in seconds; nil: 90 days.
    public var ttlSeconds: UInt64?

    public init(principal: PrincipalInput? = nil, roles: [String] = [], ttlSeconds: UInt64? = nil) {
        self.principal = principal
        self.roles = roles
        self.ttlSeconds = ttlSeconds
    }
}

/// `notify.v1.CreateTokenResponse`.
public struct CreateTokenResponse: Hashable, Sendable {
    /// The bearer token, shown once: the server keeps only its SHA-256.
    public var token: String
    public var tokenID: String
    /// RFC 3339 text, passed through as the server wrote it (the server uses
    /// Graph's form, ``Timestamps/formatRFC3339(_:)``).
    public var expirationDateTime: String

    public init(token: String, tokenID: String, expirationDateTime: String) {
        self.token = token
        self.tokenID = tokenID
        self.expirationDateTime = expirationDateTime
    }
}

extension CreateTokenResponse: CustomStringConvertible {
    /// Leaves the token out, so that logging a response never leaks it.
    public var description: String {
        "CreateTokenResponse(tokenID: \(tokenID), expirationDateTime: \(expirationDateTime))"
    }
}

/// `notify.v1.RevokeTokenRequest`.
public struct RevokeTokenRequest: Hashable, Sendable {
    public var tokenID: String?

    public init(tokenID: String? = nil) {
        self.tokenID = tokenID
    }
}

/// `notify.v1.RevokeTokenResponse`.
public struct RevokeTokenResponse: Hashable, Sendable {
    public init() {}
}
