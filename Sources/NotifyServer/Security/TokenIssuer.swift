import Foundation
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

    /// Lifetime when none is asked for: 90 days.
    public static let defaultLifetime: Int64 = 90 * 24 * 3600

    /// The longest lifetime a token may be given: 3,650 days (about ten
    /// years). Bounded so that its expiry is a time every layer can hold
    /// (the store keeps microseconds in 64 bits); a longer one is refused.
    public static let maximumLifetimeSeconds: UInt64 = 3650 * 24 * 3600

    /// A lifetime outside 1 s ... ``maximumLifetimeSeconds``.
    public struct InvalidLifetime: Error, Sendable, CustomStringConvertible {
        public var description: String {
            "a token's lifetime must be between 1 second and \(TokenIssuer.maximumLifetimeSeconds) seconds (3650 days)"
        }
    }

    /// The lifetime of `seconds`, or nil when it is out of bounds (zero, or
    /// past ``maximumLifetimeSeconds``).
    public static func lifetime(seconds: UInt64) -> Int64? {
        guard seconds > 0, seconds <= maximumLifetimeSeconds else { return nil }
        return Int64(seconds)
    }

    private let store: any Directory

    /// The roles a token gets when none are asked for.
    public static func defaultRoles(for principal: Principal) -> Set<Role> {
        switch principal {
        case .app: [.app]
        case .user: [.user]
        }
    }

    public init(store: any Directory) {
        self.store = store
    }

    /// What the store keeps of `token` (``TokenRecord/hash``) and looks it up by.
    public static func hash(of token: String) -> [UInt8] {
        SHA256.hash(Array(token.utf8))
    }

    /// Stores a new token's hash and returns the token itself.
    ///
    /// - Parameter lifetime: seconds until it expires, at most
    ///   ``maximumLifetimeSeconds``; a negative one makes an expired token
    ///   (tests use it).
    /// - Throws: ``InvalidLifetime`` for a lifetime past the maximum, before
    ///   anything is stored.
    public func issue(
        for principal: Principal, roles: Set<Role>, lifetime: Int64 = TokenIssuer.defaultLifetime,
        now: Timestamp = .now()
    ) async throws -> IssuedToken {
        guard lifetime.magnitude <= Self.maximumLifetimeSeconds else { throw InvalidLifetime() }
        let token = "ntf_" + Base64URL.encode(SecureRandom.bytes(count: 32))
        let id = "tok_" + SecureRandom.bytes(count: 8).map { String(format: "%02x", $0) }.joined()
        let record = TokenRecord(
            id: id, hash: Self.hash(of: token), principal: principal, roles: roles,
            expiresAt: now.truncatedToMilliseconds.adding(seconds: lifetime)
        )
        try await store.insertToken(record)
        return IssuedToken(token: token, record: record)
    }
}
