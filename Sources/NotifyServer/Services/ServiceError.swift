/// What the services refuse, in their own words: no status, reason or
/// message of the wire here.
///
/// Each case names the condition and carries what its answer quotes (an id,
/// a field); ``ErrorMapping`` turns it into the status, reason, message and
/// field violations a client sees, in one exhaustive switch, so a case added
/// here without its answer there fails to compile.
enum ServiceError: Error, Hashable, Sendable {
    /// A request field that must be set is absent (its proto field path).
    case missingField(String)
    /// A request field is set to something the call refuses: its proto field
    /// path and what it must be.
    case invalidField(String, String)
    /// SendNotification without its `x-uns-id` metadata.
    case missingUnsID
    /// SendNotification's `targetHostName` names another application than the
    /// subscription's.
    case targetHostNameMismatch(host: String, app: String)
    /// The user does not exist.
    case userNotFound(Int64)
    /// DeleteConnection of a connection that does not exist.
    case connectionNotFound
    /// The subscription does not exist.
    case subscriptionNotFound(String)
    /// SendNotification to, or a read of, a subscription past its expiry.
    case subscriptionExpired(String)
    /// RenewSubscription of a subscription expired longer ago than
    /// ``Subscription/renewalGraceSeconds``.
    case renewalGracePassed(String)
    /// Unblock of a caller that is not on the blocked list.
    case notBlocked
    /// RevokeToken of a token that does not exist.
    case tokenNotFound(String)
    /// A read's cursor is past the feed's last entry, `head`.
    case pastEndOfFeed(after: UInt64, head: UInt64)
    /// A notification id that is not in the user's feed: unknown, another
    /// user's, deleted or expired.
    case notificationNotFound(String)
    /// The store closed a live Watch: the server is shutting down.
    case storeClosing
    /// A committed append answered no notification: a broken promise of the
    /// store, answered INTERNAL and logged.
    case appendAnsweredNothing
}
