/// Something a caller asks to do, with the target the decision depends on.
public enum Action: Hashable, Sendable {
    /// Notify (SelfCommunity "Create Custom notification").
    case notify
    /// SendNotification to the subscription the X-UNS-ID names.
    case sendNotification(to: Subscription)
    /// Reading one user's feed.
    case readFeed(user: Int64)
    /// PutUser, DeleteUser, PutConnection, DeleteConnection.
    case manageUsers
    /// Block, Unblock.
    case manageBlockList
    /// CreateToken, RevokeToken.
    case manageTokens
    /// CreateSubscription for `user` on behalf of `app`.
    case createSubscription(user: Int64, app: String)
    /// RenewSubscription, DeleteSubscription.
    case manageSubscription(Subscription)
    /// Reading one device endpoint's part of a feed: List or Watch by subscription.
    case readSubscription(Subscription)
}
