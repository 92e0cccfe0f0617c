public import NotifyDomain

/// `notify.v1.FeedEvent`: a state change as the wire carries it.
///
/// Kept as the wire's strings rather than the domain's ``FeedEvent``: a
/// client meeting a kind or a state it does not know skips the event, and
/// must still be able to read it to move its cursor past it.
public struct FeedEventMessage: Hashable, Sendable {
    public var sequence: UInt64
    public var createdAt: Timestamp
    /// "read", "actionState" or "removed" (or a kind added later).
    public var kind: String
    public var ids: [String]
    /// kind "read": every notification of ``source`` up to this sequence is read.
    public var readUpToSequence: UInt64?
    /// kind "actionState".
    public var actionState: String?
    /// kind "removed": "deleted" or "expired".
    public var removedReason: String?
    /// kind "read" with ``readUpToSequence``: the view ("notify", "graph"); nil for every notification.
    public var source: String?

    public init(
        sequence: UInt64, createdAt: Timestamp, kind: String, ids: [String], readUpToSequence: UInt64? = nil,
        actionState: String? = nil, removedReason: String? = nil, source: String? = nil
    ) {
        self.sequence = sequence
        self.createdAt = createdAt
        self.kind = kind
        self.ids = ids
        self.readUpToSequence = readUpToSequence
        self.actionState = actionState
        self.removedReason = removedReason
        self.source = source
    }

    /// The wire form of a stored event.
    public init(_ event: FeedEvent) {
        self.init(sequence: event.sequence, createdAt: event.createdAt, kind: event.kind, ids: event.ids)
        switch event.change {
        case .read(let upTo, let view):
            readUpToSequence = upTo
            source = upTo == nil || view == .all ? nil : view.rawValue
        case .actionState(let state):
            actionState = state.rawValue
        case .removed(let reason):
            removedReason = reason.rawValue
        }
    }
}

/// `notify.v1.MarkReadRequest`: ids, or everything of a view up to a sequence.
public struct MarkReadRequest: Hashable, Sendable {
    public var user: Int64?
    public var ids: [String]
    public var upToSequence: UInt64?
    /// "" or nil: every notification; "notify"; "graph".
    public var source: String?

    public init(user: Int64? = nil, ids: [String] = [], upToSequence: UInt64? = nil, source: String? = nil) {
        self.user = user
        self.ids = ids
        self.upToSequence = upToSequence
        self.source = source
    }
}

/// `notify.v1.FeedChangeResponse`: the answer of every state change.
public struct FeedChangeResponse: Hashable, Sendable {
    /// The change's event's sequence; 0 when nothing changed.
    public var sequence: UInt64
    /// The unseen count of the request's view after the change.
    public var unseenCount: UInt64

    public init(sequence: UInt64, unseenCount: UInt64) {
        self.sequence = sequence
        self.unseenCount = unseenCount
    }
}

/// `notify.v1.UnseenCountRequest`.
public struct UnseenCountRequest: Hashable, Sendable {
    public var user: Int64?
    public var source: String?

    public init(user: Int64? = nil, source: String? = nil) {
        self.user = user
        self.source = source
    }
}

/// `notify.v1.UnseenCountResponse`.
public struct UnseenCountResponse: Hashable, Sendable {
    public var count: UInt64

    public init(count: UInt64) {
        self.count = count
    }
}

/// `notify.v1.SetActionStateRequest`.
public struct SetActionStateRequest: Hashable, Sendable {
    public var user: Int64?
    public var id: String?
    /// noInteraction, activated, dismissed or snoozed, in any case.
    public var actionState: String?

    public init(user: Int64? = nil, id: String? = nil, actionState: String? = nil) {
        self.user = user
        self.id = id
        self.actionState = actionState
    }
}

/// `notify.v1.DeleteEntriesRequest`.
public struct DeleteEntriesRequest: Hashable, Sendable {
    public var user: Int64?
    public var ids: [String]

    public init(user: Int64? = nil, ids: [String] = []) {
        self.user = user
        self.ids = ids
    }
}

/// `notify.v1.DeleteGroupRequest`.
public struct DeleteGroupRequest: Hashable, Sendable {
    public var user: Int64?
    public var groupName: String?

    public init(user: Int64? = nil, groupName: String? = nil) {
        self.user = user
        self.groupName = groupName
    }
}

/// `notify.v1.GetEntryRequest`.
public struct GetEntryRequest: Hashable, Sendable {
    public var user: Int64?
    public var id: String?

    public init(user: Int64? = nil, id: String? = nil) {
        self.user = user
        self.id = id
    }
}

/// `notify.v1.GetEntryResponse`.
public struct GetEntryResponse: Hashable, Sendable {
    public var notification: Notification

    public init(notification: Notification) {
        self.notification = notification
    }
}
