/// Decides whether an authenticated caller may perform an action.
///
/// A pure function of the caller's principal and roles and the action's
/// target, so the whole matrix is testable without a server. A role counts
/// only together with the matching principal: the app role acts for the app
/// the token names, the user role for the user it names. The admin role
/// counts for any principal.
public enum Authorization {
    /// Allows or refuses `action` for `caller`.
    ///
    /// - Administrators may do everything.
    /// - Notify and all administration (users, connections, block list,
    ///   tokens): administrators only; SelfCommunity documents Notify as
    ///   requiring the admin role.
    /// - SendNotification, renewing and deleting a subscription: the
    ///   application that owns the subscription, or its user.
    /// - Reading a feed: its user. Reading a device endpoint's part of it
    ///   (by subscription): the subscription's user or its application, as
    ///   for creating it.
    /// - Creating a subscription: the application it is for, or its user.
    ///
    /// - Throws: ``AuthorizationError`` saying what would have been required.
    public static func authorize(_ caller: Caller, for action: Action) throws(AuthorizationError) {
        if caller.isAdmin { return }
        switch action {
        case .notify:
            throw AuthorizationError(reason: .adminRoleRequired, message: "Notify requires the admin role.")
        case .manageUsers:
            throw AuthorizationError(reason: .adminRoleRequired, message: "Managing users and connections requires the admin role.")
        case .manageBlockList:
            throw AuthorizationError(reason: .adminRoleRequired, message: "Managing the blocked list requires the admin role.")
        case .manageTokens:
            throw AuthorizationError(reason: .adminRoleRequired, message: "Managing tokens requires the admin role.")
        case .sendNotification(let subscription), .manageSubscription(let subscription):
            if caller.actsAs(app: subscription.app) || caller.actsAs(user: subscription.user) { return }
            throw AuthorizationError(
                reason: .notSubscriptionOwner,
                message: "Only the subscription's application, its user or an administrator may use subscription \(subscription.id).")
        case .readSubscription(let subscription):
            if caller.actsAs(app: subscription.app) || caller.actsAs(user: subscription.user) { return }
            throw AuthorizationError(
                reason: .notSubscriptionOwner,
                message: "Only the subscription's application, its user or an administrator may read subscription \(subscription.id).")
        case .readFeed(let user):
            if caller.actsAs(user: user) { return }
            throw AuthorizationError(
                reason: .notAuthorizedForUser, message: "Only user \(user) or an administrator may read this feed.")
        case .createSubscription(let user, let app):
            if caller.actsAs(app: app) || caller.actsAs(user: user) { return }
            switch caller.principal {
            case .app:
                throw AuthorizationError(
                    reason: .notAuthorizedForApp,
                    message: "Only application \(app), user \(user) or an administrator may create this subscription.")
            case .user:
                throw AuthorizationError(
                    reason: .notAuthorizedForUser,
                    message: "Only user \(user), application \(app) or an administrator may create this subscription.")
            }
        }
    }
}

extension Caller {
    /// Whether the caller is application `app` holding the app role.
    fileprivate func actsAs(app: String) -> Bool {
        principal == .app(app) && roles.contains(.app)
    }

    /// Whether the caller is user `user` holding the user role.
    fileprivate func actsAs(user: Int64) -> Bool {
        principal == .user(user) && roles.contains(.user)
    }
}
