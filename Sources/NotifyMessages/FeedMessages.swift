internal import CNotifyProto
public import NotifyDomain

/// `notify.v1.ListFeedRequest`: one page of a user's feed.
public struct ListFeedRequest: Hashable, Sendable {
    public var user: Int64?
    /// Entries with a sequence greater than this. nil: from the start.
    public var afterSequence: UInt64?
    /// At most this many; nil or 0: 100; the server caps it at 1000.
    public var limit: UInt32?

    public init(user: Int64? = nil, afterSequence: UInt64? = nil, limit: UInt32? = nil) {
        self.user = user
        self.afterSequence = afterSequence
        self.limit = limit
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
    /// The page's state events, oldest first: merged with ``notifications``
    /// by sequence, they are the page.
    public var events: [FeedEventMessage]

    public init(
        notifications: [Notification], nextAfterSequence: UInt64, caughtUp: Bool = false, events: [FeedEventMessage] = []
    ) {
        self.notifications = notifications
        self.nextAfterSequence = nextAfterSequence
        self.caughtUp = caughtUp
        self.events = events
    }
}

extension ListFeedRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__ListFeedRequest, _ reader: FieldReader) {
        self.init(
            user: reader.scalar(message.has_user, message.user),
            afterSequence: reader.scalar(message.has_after_sequence, message.after_sequence),
            limit: reader.scalar(message.has_limit, message.limit)
        )
    }

    func write(to message: inout Notify__V1__ListFeedRequest, _ arena: PackArena) {
        (message.has_user, message.user) = optionalField(user)
        (message.has_after_sequence, message.after_sequence) = optionalField(afterSequence)
        (message.has_limit, message.limit) = optionalField(limit)
    }
}

extension ListFeedResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__ListFeedResponse, _ reader: FieldReader) throws(MessageError) {
        self.init(
            notifications: try reader.messages(message.n_notifications, message.notifications, "notifications"),
            nextAfterSequence: try reader.required(
                reader.scalar(message.has_next_after_sequence, message.next_after_sequence), "next_after_sequence"),
            caughtUp: message.has_caught_up != 0 && message.caught_up != 0,
            events: try reader.messages(message.n_events, message.events, "events")
        )
    }

    func write(to message: inout Notify__V1__ListFeedResponse, _ arena: PackArena) {
        (message.n_notifications, message.notifications) = arena.messages(notifications)
        (message.has_next_after_sequence, message.next_after_sequence) = optionalField(nextAfterSequence)
        // Written only when true: an older reader sees the page it always saw.
        (message.has_caught_up, message.caught_up) = caughtUp ? (1, 1) : (0, 0)
        (message.n_events, message.events) = arena.messages(events)
    }
}
