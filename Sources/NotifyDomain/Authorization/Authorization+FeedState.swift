/// Whose entries of a feed a caller may read the state of and change.
public enum FeedStateScope: Hashable, Sendable {
    /// Every entry: the user himself, or an administrator.
    case everything
    /// Only the SendNotification entries this application sent: the store
    /// checks each entry a call names, inside the call's transaction.
    case application(String)
}

extension Authorization {
    /// Decides whose entries of `user`'s feed `caller` may change (MarkRead,
    /// SetActionState, Delete, DeleteGroup) or read one by one (Get).
    ///
    /// The user himself (user role) and administrators: every entry. An
    /// application (app role): the entries it sent, which only the store can
    /// tell, so the answer is a scope and not a yes.
    /// - Parameter wholeFeed: the call covers the feed as a whole (MarkRead
    ///   up to a sequence, UnseenCount), not entries an application could
    ///   have sent: an application is refused.
    /// - Throws: ``AuthorizationError`` with `NOT_AUTHORIZED_FOR_USER` for
    ///   another user, `NOT_AUTHORIZED_FOR_APP` for an application on a
    ///   whole-feed call.
    public static func feedStateScope(
        _ caller: Caller, user: Int64, wholeFeed: Bool
    ) throws(AuthorizationError) -> FeedStateScope {
        if caller.isAdmin { return .everything }
        switch caller.principal {
        case .user(let id):
            if id == user, caller.roles.contains(.user) { return .everything }
            throw AuthorizationError(
                reason: .notAuthorizedForUser,
                message: "Only user \(user) or an administrator may change the state of this feed.")
        case .app(let app):
            if caller.roles.contains(.app), !wholeFeed { return .application(app) }
            throw AuthorizationError(
                reason: .notAuthorizedForApp,
                message: wholeFeed
                    ? "An application may change only the entries it sent, by id: this call covers user \(user)'s whole feed."
                    : "Only an application with the app role may change the entries it sent.")
        }
    }
}
