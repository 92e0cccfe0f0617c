import Foundation
public import NotifyDomain

/// The directory: who exists and who may call. Users and their
/// connections, subscriptions, bearer tokens and the blocked list, with the
/// lookups that authenticate and authorize each call.
///
/// What every implementation promises (the conformance suite in
/// NotifyStorageTests checks each):
/// - **Durability.** A write returns only after its transaction has
///   committed durably; it is all done or not at all.
/// - **Read your writes.** A read sees every write that returned before it
///   began.
/// - **Failures** are ``StorageError``s: ``StorageError/Code/unavailable``
///   when the store is stopped or cannot write, ``StorageError/Code/busy``
///   when it is passing busy; the codes each method names otherwise.
///
/// Implementations must not block the caller's thread.
public protocol Directory: Sendable {
    // MARK: Users and connections

    /// Creates the user, or replaces the one with the same id (idempotent).
    func putUser(_ user: User) async throws(StorageError)

    /// Deletes the user with his connections, subscriptions and feed
    /// entries (those a background fan-out still owed him included), and
    /// revokes his tokens (they stay, answering as revoked, also after the
    /// id is created again). Keeps his feed's head, so that the id created
    /// again continues its sequence and never reuses a number a reader of
    /// the old feed saw (docs/PROTOCOL.md, "Deleting a user").
    /// - Returns: false when there was no such user (nothing changed).
    func deleteUser(id: Int64) async throws(StorageError) -> Bool

    /// The user, or nil when there is none.
    func user(id: Int64) async throws(StorageError) -> User?

    /// Adds the connection; adding it again changes nothing. A friendship
    /// is one connection whichever user is named first; a follow is directed.
    /// - Throws: ``StorageError/Code/notFound`` when either user does not exist.
    func putConnection(_ connection: Connection) async throws(StorageError)

    /// Removes the connection (a friendship named either way round).
    /// - Returns: false when there was no such connection.
    func deleteConnection(_ connection: Connection) async throws(StorageError) -> Bool

    // MARK: Subscriptions

    /// Stores a new subscription.
    /// - Throws: ``StorageError/Code/alreadyExists`` for a known id,
    ///   ``StorageError/Code/notFound`` when its user does not exist.
    func createSubscription(_ subscription: Subscription) async throws(StorageError)

    /// The subscription, expired or not (its expiry is the caller's to
    /// check), or nil when there is none.
    func subscription(id: String) async throws(StorageError) -> Subscription?

    /// Moves the subscription's expiry to `expiresAt` (kept to the microsecond).
    /// - Returns: the renewed subscription, or nil when there was none.
    func renewSubscription(id: String, expiresAt: Timestamp) async throws(StorageError) -> Subscription?

    /// - Returns: false when there was no such subscription.
    func deleteSubscription(id: String) async throws(StorageError) -> Bool

    /// Deletes up to `limit` subscriptions whose expiry is before
    /// `expiredBefore`, in one transaction: the subscription sweep, which
    /// passes the time before which renewal is no longer allowed
    /// (``Subscription/renewalGraceSeconds``). Subscriptions expiring at or
    /// after it stay.
    /// - Returns: how many were deleted (less than `limit`: none is left).
    func sweepSubscriptions(expiredBefore: Timestamp, limit: Int) async throws(StorageError) -> Int

    // MARK: The blocked list

    /// Blocks the principal (an app or a user); blocking it again changes nothing.
    func block(_ principal: Principal) async throws(StorageError)

    /// - Returns: false when the principal was not blocked.
    func unblock(_ principal: Principal) async throws(StorageError) -> Bool

    /// Whether the principal is blocked: an authorization lookup of every call.
    func isBlocked(_ principal: Principal) async throws(StorageError) -> Bool

    // MARK: Tokens

    /// Stores a token's record (its hash, never the secret).
    /// - Throws: ``StorageError/Code/alreadyExists`` for a known id or hash.
    func insertToken(_ token: TokenRecord) async throws(StorageError)

    /// The record whose hash is `hash`, revoked or expired ones included
    /// (the caller answers TOKEN_REVOKED or TOKEN_EXPIRED for them), or nil:
    /// the authentication lookup of every call.
    func token(hash: [UInt8]) async throws(StorageError) -> TokenRecord?

    /// Marks the token revoked; the record stays, so that it keeps answering
    /// as revoked.
    /// - Returns: false when there is no token with that id.
    func revokeToken(id: String) async throws(StorageError) -> Bool

    // MARK: Stream tickets

    /// Stores a stream ticket's record (its hash, never the secret), and
    /// removes some of the tickets that expired unused (at most
    /// ``streamTicketSweepBatch`` per call), so that they do not pile up.
    /// - Throws: ``StorageError/Code/alreadyExists`` for a known hash.
    func insertStreamTicket(_ ticket: StreamTicketRecord) async throws(StorageError)

    /// Redeems the ticket whose hash is `hash`: removes it and, when it had
    /// not expired at `now`, returns the record of the token that obtained
    /// it (revoked or expired ones included: the caller answers for them).
    ///
    /// Atomic: of two redemptions of one ticket, racing or not, at most one
    /// gets the token, on one store or on several servers sharing it.
    /// - Returns: nil for an unknown, already redeemed or expired ticket, or
    ///   when its token no longer exists.
    func redeemStreamTicket(hash: [UInt8], now: Timestamp) async throws(StorageError) -> TokenRecord?

    // MARK: Changes made elsewhere

    /// The changes other instances and processes sharing this store's
    /// database make to what servers cache (``DirectoryChange``), from the
    /// moment of the call, so that a server forgets what it cached of them
    /// at once rather than when its cache entries expire. Changes made
    /// through this store object itself are not repeated here: its caller
    /// made them and evicts as it makes them.
    ///
    /// By default an empty stream. The PostgreSQL store tells what its
    /// listener hears, the SQLite store what it reads from the file.
    func directoryChanges() -> DirectoryChangeStream

    /// Whether ``directoryChanges()`` tells, at this moment, every change
    /// made elsewhere: while it does, a server may trust what it cached for
    /// longer, since a change evicts it at once. It turns false as soon as
    /// the link to those changes is lost (then ``DirectoryChange/everything``
    /// is told, and again when the link is back).
    ///
    /// By default false.
    var hearsEveryDirectoryChange: Bool { get }
}

extension Directory {
    /// No change is ever told.
    public func directoryChanges() -> DirectoryChangeStream { .none }

    public var hearsEveryDirectoryChange: Bool { false }

    /// How many expired tickets one ``insertStreamTicket(_:)`` removes at most.
    public static var streamTicketSweepBatch: Int { 64 }
}
