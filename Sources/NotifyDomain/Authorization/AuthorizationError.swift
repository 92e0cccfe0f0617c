/// A caller that is authenticated but may not do what it asked.
///
/// The server answers PERMISSION_DENIED with ``message``; ``reason`` lets code
/// and tests tell the cases apart without matching text.
public struct AuthorizationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why the action was refused. New reasons may be added, so switch over
    /// it with a default.
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case adminRoleRequired = "ADMIN_ROLE_REQUIRED"
            case notAuthorizedForUser = "NOT_AUTHORIZED_FOR_USER"
            case notAuthorizedForApp = "NOT_AUTHORIZED_FOR_APP"
            case notSubscriptionOwner = "NOT_SUBSCRIPTION_OWNER"
        }

        private let value: Value

        private init(_ value: Value) {
            self.value = value
        }

        /// Stable text for logs and error details; never changes once shipped.
        public var rawValue: String { value.rawValue }

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
