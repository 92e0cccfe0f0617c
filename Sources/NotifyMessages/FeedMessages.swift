public import NotifyDomain

/// `notify.v1.ListFeedRequest`: one page of a user's feed.
public struct ListFeedRequest: Hashable, Sendable {
    public var user: Int64?
    /// Entries with a sequence greater than this. nil: from the start.
    public var afterSequence: UInt64?
    /// At most this many; nil or 0: 100; the server caps it at 1000.
    public var limit: UInt32?
    /// One device endpoint's part of the feed: its subscription id (the
    /// X-UNS-ID). docs/PROTOCOL.md, "Device endpoints".
    public var subscription: String?
    /// Which entries: nil or "" all, "notify" Notify's, "graph" SendNotification's.
    public var source: String?
    /// List only: newest first, the notifications with a sequence below
    /// this (nil or 0: from the head). docs/PROTOCOL.md, "Newest first".
    public var beforeSequence: UInt64?
    /// List only: answer with ``ListFeedResponse/issuers``.
    public var withIssuers: Bool

    public init(
        user: Int64? = nil, afterSequence: UInt64? = nil, limit: UInt32? = nil, subscription: String? = nil,
        source: String? = nil, beforeSequence: UInt64? = nil, withIssuers: Bool = false
    ) {
        self.user = user
        self.afterSequence = afterSequence
        self.limit = limit
        self.subscription = subscription
        self.source = source
        self.beforeSequence = beforeSequence
        self.withIssuers = withIssuers
    }
}

/// `notify.v1.ListFeedResponse`.
public struct ListFeedResponse: Hashable, Sendable {
    public var notifications: [Notification]
    /// The `afterSequence` of the next page.
    public var nextAfterSequence: UInt64
    /// The page reached the end of the feed as it stood when it was read.
    ///
    /// Pages are cut by bytes as well as by `limit`, so a short page is no
    /// sign of the end: this is. Absent on the wire (false) from a server
    /// older than the field, whose short pages meant caught up.
    public var caughtUp: Bool
    /// Set when the request's cursor pointed into history removed by
    /// retention: the entries after the cursor up to this sequence that are
    /// not in the page were removed. docs/PROTOCOL.md, "Expiry and retention".
    public var sweptThrough: UInt64?
    /// The page's state events, oldest first: merged with ``notifications``
    /// by sequence, they are the page.
    public var events: [FeedEventMessage]
    /// When asked for (``ListFeedRequest/withIssuers``): the users who issued
    /// the page's Notify entries, each once, with their names.
    public var issuers: [User]

    public init(
        notifications: [Notification], nextAfterSequence: UInt64, caughtUp: Bool = false, sweptThrough: UInt64? = nil,
        events: [FeedEventMessage] = [], issuers: [User] = []
    ) {
        self.notifications = notifications
        self.nextAfterSequence = nextAfterSequence
        self.caughtUp = caughtUp
        self.sweptThrough = sweptThrough
        self.events = events
        self.issuers = issuers
    }
}
