import Foundation
public import NotifyDomain

/// Who receives a notification being appended.
public enum Recipients: Hashable, Sendable {
    /// Exactly these users (SendNotification's subscription user; Notify `user`).
    case users([Int64])
    /// The issuer's connections as `mode` defines them: friends or followers.
    /// The store resolves them itself so that a user with 100,000 followers
    /// never puts 100,000 ids in memory.
    case connections(of: Int64, mode: CommunityMode)
}

/// Makes a retried call return the first call's answer.
public struct IdempotencyKey: Hashable, Sendable {
    /// The caller's principal, so that two callers cannot collide.
    public var scope: String
    /// The method, so one key is not shared by two calls.
    public var method: String
    /// The client's key.
    public var key: String
    /// SHA-256 of the request payload: the same key with another request is refused.
    public var fingerprint: [UInt8]

    public init(scope: String, method: String, key: String, fingerprint: [UInt8]) {
        self.scope = scope
        self.method = method
        self.key = key
        self.fingerprint = fingerprint
    }
}

/// One append to be committed.
public struct NewNotification: Hashable, Sendable {
    public var id: String
    public var createdAt: Timestamp
    public var content: NotificationContent
    public var recipients: Recipients
    public var idempotencyKey: IdempotencyKey?

    public init(id: String, createdAt: Timestamp, content: NotificationContent, recipients: Recipients, idempotencyKey: IdempotencyKey?) {
        self.id = id
        self.createdAt = createdAt
        self.content = content
        self.recipients = recipients
        self.idempotencyKey = idempotencyKey
    }
}

/// The outcome of an append, once committed.
public struct AppendResult: Hashable, Sendable {
    /// The notification id: the new one, or the first call's on a replay.
    public var id: String
    /// How many feeds it goes to. For a large audience some may still be
    /// being written by the background fan-out; they are durable already.
    public var recipients: UInt64
    /// The first recipient's feed entry (SendNotification returns it).
    public var first: NotifyDomain.Notification?
    /// True when the idempotency key matched an earlier call.
    public var replayed: Bool

    public init(id: String, recipients: UInt64, first: NotifyDomain.Notification?, replayed: Bool) {
        self.id = id
        self.recipients = recipients
        self.first = first
        self.replayed = replayed
    }
}

/// Where a feed ends, as an empty page finds it.
public enum FeedEnd: Hashable, Sendable {
    /// The user exists; the last sequence ever given in his feed (0 before
    /// the first; kept when the user is deleted and created again).
    case head(UInt64)
    /// There is no such user.
    case noSuchUser
}

/// Which entries of a feed a read returns: the others are passed over,
/// as expired ones are (the page's ``FeedPage/nextAfter`` moves past them).
///
/// A device endpoint reads its user's feed through one: docs/PROTOCOL.md,
/// "Device endpoints".
public struct FeedFilter: Hashable, Sendable {
    /// Which call made an entry.
    public enum Source: String, Hashable, Sendable {
        /// Notify (SelfCommunity's custom notification).
        case notify
        /// SendNotification (Graph's notification).
        case graph
    }

    /// A device endpoint: the application (its targetHostName) and the
    /// platform of a subscription.
    public struct Endpoint: Hashable, Sendable {
        public var app: String
        public var platform: Platform

        public init(app: String, platform: Platform) {
            self.app = app
            self.platform = platform
        }
    }

    /// Only the entries this call made; nil: both kinds.
    public var source: Source?
    /// Only what targets this endpoint: every Notify entry, and the
    /// SendNotification entries whose application is its application and
    /// whose platforms include its platform. nil: every entry.
    public var endpoint: Endpoint?

    public init(source: Source? = nil, endpoint: Endpoint? = nil) {
        self.source = source
        self.endpoint = endpoint
    }

    /// Every entry (expired ones aside).
    public static let all = FeedFilter()

    /// Whether `notification` passes: the rule the store applies in its read,
    /// stated once in Swift for the tests and for readers without SQL.
    public func admits(_ content: NotificationContent) -> Bool {
        switch content {
        case .custom:
            return source != .graph
        case .graph(let graph):
            guard source != .notify else { return false }
            guard let endpoint else { return true }
            return graph.targetHostName == endpoint.app && graph.platforms.contains(endpoint.platform)
        }
    }

    /// One key of an event's audience: each event names the keys of the
    /// entries it names (`notify` for a Notify entry; `graph` and one
    /// `endpoint` per platform for a SendNotification entry).
    public enum EventKey: Hashable, Sendable {
        case notify
        case graph
        case endpoint(platform: Platform, app: String)
    }

    /// The keys of which an event's audience must hold one (the first, or
    /// the second when there is one) for this filter to admit it, as
    /// ``admits(_:)`` admits entries; nil: every event. Each store encodes
    /// the keys in its own column.
    public var eventKeys: (EventKey, EventKey?)? {
        let target = endpoint.map { EventKey.endpoint(platform: $0.platform, app: $0.app) }
        switch (source, target) {
        case (nil, nil): return nil
        case (.notify?, _): return (.notify, nil)
        case (.graph?, nil): return (.graph, nil)
        case (.graph?, let target?): return (target, nil)
        case (nil, let target?): return (.notify, target)
        }
    }
}

/// One page of a feed, cut by count and by bytes.
public struct FeedPage: Hashable, Sendable {
    /// The entries, oldest first.
    public var entries: [NotifyDomain.Notification]
    /// No entry after the page's last one (or after its cursor, when it is
    /// empty) was committed when the page was read. A page cut by `limit` or
    /// by bytes is not caught up, even when it is short.
    public var caughtUp: Bool
    /// On an empty page, where the feed ends, read with the page; nil on a
    /// page with entries. A reader needs it only then, to tell a cursor at
    /// the end from one past it, and a user with no entry yet from one who
    /// does not exist (docs/PROTOCOL.md, "List and Watch"): read with the
    /// page, it costs no second trip to the database.
    public var end: FeedEnd?
    /// The cursor after this page: the sequence to read after next. It is
    /// the last entry's sequence, or past it (or past the cursor, on an
    /// empty page) when entries the reader may not see any more (expired)
    /// followed: they are passed over, never returned and never read
    /// again, so a reader resuming from here neither skips nor repeats one.
    public var nextAfter: UInt64
    /// Set when the page's cursor pointed into history removed by retention:
    /// every entry up to and including this sequence was removed, and the
    /// page starts after it, at the oldest entry kept. nil otherwise, and
    /// never for expired entries the sweeper removed (a reader could not see
    /// them any more: it loses nothing). docs/PROTOCOL.md, "Expiry and retention".
    public var sweptThrough: UInt64?
    /// The events (state changes) of the page, oldest first: a reader merges
    /// them with ``entries`` by sequence.
    public var events: [NotifyDomain.FeedEvent] = []

    /// - Parameter nextAfter: nil: the last entry's sequence (0 on an empty page).
    public init(
        entries: [NotifyDomain.Notification], caughtUp: Bool, end: FeedEnd? = nil, nextAfter: UInt64? = nil,
        sweptThrough: UInt64? = nil
    ) {
        self.entries = entries
        self.caughtUp = caughtUp
        self.end = end
        self.nextAfter = nextAfter ?? entries.last?.sequence ?? 0
        self.sweptThrough = sweptThrough
    }

    /// Rows one page passes over (expired) beyond its `limit`, at most: a
    /// long run of expired entries is crossed a bounded step at a time,
    /// each page advancing ``nextAfter`` over what it passed.
    public static let maxPassedOver = 4096

    /// What one entry counts against a page's byte budget: its stored
    /// content's bytes, its id, and 64 bytes for the rest (sequence, user,
    /// time, state and their encoding). A store counts the content as it
    /// holds it, without decoding it: the SQLite store, its typed columns'
    /// bytes (each text's UTF-8, 8 per integer, NULL nothing). Within a few
    /// bytes of its protobuf encoding, and never far below it.
    public static func size(ofContent contentBytes: Int, id idBytes: Int) -> Int {
        contentBytes + idBytes + 64
    }
}

/// The notification log: appends to users' feeds, pages read back, and
/// wake-ups of the live readers. SQLite implements it now, PostgreSQL later:
/// no SQL dialect leaks through it.
///
/// A feed is one user's ordered, gapless sequence of entries. What every
/// implementation promises (the conformance suite in NotifyStorageTests
/// checks each):
/// - **Durability.** An append succeeds only after its transaction has
///   committed durably: once acknowledged, it survives a crash of the
///   process or a power cut.
/// - **Atomicity.** An append is stored whole (the notification, every feed
///   entry it is owed or the durable job that writes them, its idempotency
///   key) or not at all: a failed append leaves nothing behind.
/// - **Gapless sequences.** Each feed numbers its entries 1, 2, 3, ... with
///   no gap and no number given twice, whatever appends run concurrently;
///   a number is never reused, even after the user is deleted and created
///   again (``Directory/deleteUser(id:)`` keeps the feed's head).
/// - **Order.** A feed's entries are numbered in commit order, and a
///   reader never sees an entry before every lower number of its feed is
///   readable. An append issued after another one's success is numbered
///   after it in every feed they share; concurrent appends are ordered by
///   their commits. (The entries a background fan-out job writes for a
///   large audience take their numbers when the job writes them.)
/// - **Idempotency.** See ``append(_:completion:)``.
/// - **Expiry.** An entry whose notification has an expiration is never
///   returned once that time has passed (at the `now` of the read), swept
///   or not; the page's ``FeedPage/nextAfter`` passes over it.
/// - **Retention and sweeping.** The store removes expired entries, and
///   entries without an expiration once older than its retention, in the
///   background. Sequence numbers stay as they were (never reused); a
///   cursor into history removed by retention reads from the oldest entry
///   kept, and its page says so (``FeedPage/sweptThrough``).
/// - **Filters.** A read with a ``FeedFilter`` returns exactly the entries
///   it admits, in order, and passes over the others as it passes over
///   expired ones: bounded per page, the cursor moving past them.
///
/// Implementations must not block the caller's thread: they run database
/// work on their own threads or tasks.
public protocol NotificationLog: FeedStateLog {
    /// Appends a notification to its recipients' feeds, commits, then calls
    /// `completion` exactly once.
    ///
    /// A callback rather than `async`, so that a caller on an event loop can
    /// append without a task of its own. `completion` runs on a thread of
    /// the store's (or, for a refusal before any work, on the caller's): it
    /// must return quickly. Concurrent appends may be group-committed:
    /// batched into one transaction, each still failing alone.
    ///
    /// Recipients: `.users` lists exactly the feeds written (a repeated id
    /// counts once; the store does not check that they exist);
    /// `.connections` are the issuer's friends or followers as committed
    /// before the append, never the issuer himself. A large audience may be
    /// committed as a durable job whose feed entries appear shortly after
    /// the answer (``AppendResult/recipients`` counts them all).
    ///
    /// Idempotency: with a key whose `(scope, method, key)` was committed
    /// within the store's retention, nothing is written and the first
    /// append's answer comes back with ``AppendResult/replayed`` set, when
    /// the fingerprint is the same; two racing appends with one key write
    /// once. A key from another scope or method is another key.
    ///
    /// - Failures: ``StorageError/Code/idempotencyKeyReused`` when the key was
    ///   used before with another fingerprint; ``StorageError/Code/alreadyExists``
    ///   for a notification id already stored; ``StorageError/Code/feedFull``
    ///   when every feed of `.users` holds the store's most entries (feeds
    ///   that are full are skipped otherwise); ``StorageError/Code/busy`` when
    ///   too many appends wait; ``StorageError/Code/unavailable`` when the
    ///   store is stopped or cannot write. Nothing of a failed append is stored.
    func append(
        _ notification: NewNotification,
        completion: @escaping @Sendable (Result<AppendResult, StorageError>) -> Void
    )

    /// One page of a user's feed after `after`, oldest first: the entries
    /// numbered `after + 1, after + 2, ...` that were committed when it was
    /// read, at most `limit` of them, and no more bytes than `maxBytes` (by
    /// ``FeedPage/size(ofContent:id:)``) unless the first entry alone is
    /// larger: a page holds at least one entry when one follows the cursor.
    /// A `limit` of zero or less reads nothing and is not caught up. Nothing
    /// larger than the page is read into memory.
    ///
    /// Entries expired at `now` are passed over: not returned, not counted
    /// against `limit` or `maxBytes`, but the page's ``FeedPage/nextAfter``
    /// moves past them. A page passes over at most ``FeedPage/maxPassedOver``
    /// of them (then it is not caught up), so its cost stays bounded.
    /// A cursor before the feed's ``FeedPage/sweptThrough`` reads from there.
    ///
    /// Entries `filter` does not admit are passed over the same way (and
    /// count against the same bound): a device endpoint's reader resuming
    /// from ``FeedPage/nextAfter`` neither skips nor repeats an entry it may
    /// see, however many it may not see came in between.
    func feedPage(
        user: Int64, after: UInt64, limit: Int, maxBytes: Int, now: Timestamp, filter: FeedFilter
    ) async throws(StorageError) -> FeedPage

    /// One page of a user's notifications newest first: those with a
    /// sequence below `before` (nil or 0: from the head), highest first, at
    /// most `limit`, cut by `maxBytes` as ``feedPage(user:after:limit:maxBytes:now:filter:)``
    /// is (at least one entry when one precedes the cursor). It carries no
    /// events: it lists the feed as it stands, each entry with its current
    /// state, for the views that page back from the newest (REST lists).
    ///
    /// Entries expired at `now` or not admitted by `filter` are passed over,
    /// at most ``FeedPage/maxPassedOver`` of them. The page's
    /// ``FeedPage/nextAfter`` is the `before` of the next (older) page: its
    /// last entry's sequence, or lower over rows passed over after it;
    /// ``FeedPage/caughtUp`` says no older entry is left. An empty page sets
    /// ``FeedPage/end`` (``FeedEnd/noSuchUser`` for a user who does not exist).
    func feedPageNewestFirst(
        user: Int64, before: UInt64?, limit: Int, maxBytes: Int, now: Timestamp, filter: FeedFilter
    ) async throws(StorageError) -> FeedPage

    /// Wake-ups after each commit that may have advanced `user`'s feed,
    /// from the moment of the call: a live reader watches first, then reads
    /// from its cursor, so no commit falls between the two.
    ///
    /// A wake-up carries nothing and at most one is kept while the reader is
    /// busy; one may come with nothing new (a spare read). The stream ends
    /// when the store stops; ending its iteration removes the watcher.
    /// Appends made by another process on the same database do not wake it.
    func watchFeed(user: Int64) -> AsyncStream<Void>

    /// Wakes every live reader with nothing appended, so that each checks
    /// again whether its caller may still read (a token revoked, a caller
    /// blocked, a user deleted).
    func wakeFeedWatchers()

    /// False while the store cannot write at all (its disk is full, its
    /// database is lost): writes fail with ``StorageError/Code/unavailable``
    /// until it recovers by itself. Readiness reports it.
    var isWritable: Bool { get }
}

extension NotificationLog {
    /// A store that cannot tell is taken to be writable.
    public var isWritable: Bool { true }

    /// Appends a notification and returns once it is committed
    /// (``append(_:completion:)``).
    public func append(_ notification: NewNotification) async throws(StorageError) -> AppendResult {
        try await withCheckedContinuation { continuation in
            append(notification) { continuation.resume(returning: $0) }
        }.get()
    }

    /// ``feedPage(user:after:limit:maxBytes:now:filter:)`` at the current time.
    public func feedPage(
        user: Int64, after: UInt64, limit: Int, maxBytes: Int, filter: FeedFilter = .all
    ) async throws(StorageError) -> FeedPage {
        try await feedPage(user: user, after: after, limit: limit, maxBytes: maxBytes, now: .now(), filter: filter)
    }

    /// ``feedPage(user:after:limit:maxBytes:now:filter:)`` of every entry.
    public func feedPage(
        user: Int64, after: UInt64, limit: Int, maxBytes: Int, now: Timestamp
    ) async throws(StorageError) -> FeedPage {
        try await feedPage(user: user, after: after, limit: limit, maxBytes: maxBytes, now: now, filter: .all)
    }

    /// A user's feed entries with `sequence > after`, oldest first, at most
    /// `limit`, with no byte budget: tests and tools.
    public func feed(user: Int64, after: UInt64, limit: Int) async throws(StorageError) -> [NotifyDomain.Notification] {
        try await feedPage(user: user, after: after, limit: limit, maxBytes: .max).entries
    }
}
