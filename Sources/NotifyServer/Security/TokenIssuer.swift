public import Foundation
public import NotifyDomain
import NotifyCrypto
public import NotifyStorage

/// Creates bearer tokens. Shared by the CreateToken call and the bootstrap
/// CLI, so that both make tokens the same way.
public struct TokenIssuer: Sendable {
    /// A token as shown once to whoever asked for it.
    public struct IssuedToken: Sendable {
        /// The secret: "ntf_" and 43 base64url characters (256 random bits).
        public var token: String
        public var record: TokenRecord
    }

    /// Lifetime when none is asked for.
    public static let defaultLifetime: TimeInterval = 90 * 24 * 3600

    private let store: any NotificationStore

    /// The roles a token gets when none are asked for.
    public static func defaultRoles(for principal: Principal) -> Set<Role> {
        switch principal {
        case .app: [.app]
        case .user: [.user]
        }
    }

    public init(store: any NotificationStore) {
        self.store = store
    }

    /// Stores a new token's hash and returns the token itself.
    public func issue(
        for principal: Principal, roles: Set<Role>, lifetime: TimeInterval = TokenIssuer.defaultLifetime,
        now: Date = Date()
    ) async throws -> IssuedToken {
        let token = "ntf_" + Base64URL.encode(SecureRandom.bytes(count: 32))
        let id = "tok_" + SecureRandom.bytes(count: 8).map { String(format: "%02x", $0) }.joined()
        let record = TokenRecord(
            id: id, hash: SHA256.hash(Array(token.utf8)), principal: principal, roles: roles,
            expiresAt: now.addingTimeInterval(lifetime)
        )
        try await store.insertToken(record)
        return IssuedToken(token: token, record: record)
    }
}
