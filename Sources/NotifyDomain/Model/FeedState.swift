/// What a user did with a notification, as Graph's client model names it.
///
/// Spelled on the wire and in JSON exactly as these raw values; requests may
/// use any case (``init(parsing:)``), answers are always canonical.
public enum ActionState: String, Hashable, Sendable, CaseIterable {
    /// The default: nothing done yet.
    case noInteraction
    case activated
    case dismissed
    case snoozed

    /// The state named by `text` in any case; nil when it names none.
    public init?(parsing text: String) {
        let lowered = text.lowercased()
        guard let state = Self.allCases.first(where: { $0.rawValue.lowercased() == lowered }) else { return nil }
        self = state
    }
}

/// Which entries of a feed a reader or a count covers.
///
/// SelfCommunity's views show the entries made by Notify, Graph's those made
/// by SendNotification; the RPC feed shows both. Unseen counts are kept per view.
public enum FeedView: String, Hashable, Sendable, CaseIterable {
    /// Every entry.
    case all = ""
    /// Entries made by Notify (custom notifications).
    case notify
    /// Entries made by SendNotification (Graph notifications).
    case graph

    /// The view a request's `source` names: absent or empty is every entry.
    /// - Returns: nil for a name that is no view.
    public init?(source: String?) {
        guard let source, !source.isEmpty else {
            self = .all
            return
        }
        guard let view = FeedView(rawValue: source), view != .all else { return nil }
        self = view
    }

    /// Whether an entry with `content` belongs to this view.
    public func contains(_ content: NotificationContent) -> Bool {
        switch (self, content) {
        case (.all, _), (.notify, .custom), (.graph, .graph): true
        case (.notify, .graph), (.graph, .custom): false
        }
    }
}

/// A change to earlier entries of a feed, itself an entry of the feed: it
/// takes its own sequence number, so every reader learns it in order with the
/// notifications, live and on resume.
public struct FeedEvent: Hashable, Sendable {
    /// What changed.
    public enum Change: Hashable, Sendable {
        /// The notifications named were read; with `upTo`, every notification
        /// of `view` with a sequence up to it (and `ids` is empty).
        case read(upTo: UInt64?, view: FeedView)
        /// The notifications named took this action state.
        case actionState(ActionState)
        /// The notifications named were removed from the feed.
        case removed(RemovedReason)
    }

    /// Why notifications left a feed.
    public enum RemovedReason: String, Hashable, Sendable {
        /// Delete or DeleteGroup.
        case deleted
        /// Their expiration passed.
        case expired
    }

    /// Position in the feed, among the notifications.
    public var sequence: UInt64
    public var user: Int64
    /// When the change committed.
    public var createdAt: Timestamp
    /// The notification ids the change applies to.
    public var ids: [String]
    public var change: Change

    public init(sequence: UInt64, user: Int64, createdAt: Timestamp, ids: [String], change: Change) {
        self.sequence = sequence
        self.user = user
        self.createdAt = createdAt
        self.ids = ids
        self.change = change
    }

    /// The kind's name on the wire: "read", "actionState" or "removed".
    public var kind: String {
        switch change {
        case .read: "read"
        case .actionState: "actionState"
        case .removed: "removed"
        }
    }
}
