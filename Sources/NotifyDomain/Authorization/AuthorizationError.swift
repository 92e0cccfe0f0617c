/// A caller that is authenticated but may not do what it asked.
///
/// The server answers PERMISSION_DENIED with ``message``; ``reason`` lets code
/// and tests tell the cases apart without matching text.
public struct AuthorizationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why the action was refused.
    ///
    /// A struct, so that users outside the package compare with the static
    /// members and keep compiling when a reason is added; code inside the
    /// package (the server's `ErrorMapping`) switches over ``kind``
    /// exhaustively, so a reason added here without its wire reason there
    /// fails to compile.
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        /// Every reason, with its stable text: the one declaration of each.
        package enum Kind: String, CaseIterable, Hashable, Sendable {
            case adminRoleRequired = "ADMIN_ROLE_REQUIRED"
            case notAuthorizedForUser = "NOT_AUTHORIZED_FOR_USER"
            case notAuthorizedForApp = "NOT_AUTHORIZED_FOR_APP"
            case notSubscriptionOwner = "NOT_SUBSCRIPTION_OWNER"
        }

        /// Which reason this is, for an exhaustive `switch` inside the package.
        package let kind: Kind

        private init(_ kind: Kind) {
            self.kind = kind
        }

        /// Stable text for logs and error details; never changes once shipped.
        public var rawValue: String { kind.rawValue }

        public var description: String { rawValue }

        /// Only an administrator may do this.
        public static let adminRoleRequired = Reason(.adminRoleRequired)
        /// The caller is neither the user concerned (with the user role) nor an administrator.
        public static let notAuthorizedForUser = Reason(.notAuthorizedForUser)
        /// The caller is neither the application concerned (with the app role) nor an administrator.
        public static let notAuthorizedForApp = Reason(.notAuthorizedForApp)
        /// The caller is neither the subscription's application, its user, nor an administrator.
        public static let notSubscriptionOwner = Reason(.notSubscriptionOwner)
    }

    public var reason: Reason
    /// Says what was required; names the target's ids but nothing secret.
    public var message: String

    public init(reason: Reason, message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "AuthorizationError(\(reason.rawValue): \(message))" }
}
