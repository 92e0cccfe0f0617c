public import NotifyDomain

/// A change to the state of a user's entries, appended to his feed as a
/// ``FeedEvent`` when it changes something.
public struct FeedChange: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// These notifications are read.
        case markRead(ids: [String])
        /// Every notification of `view` with a sequence up to this one is read.
        case markReadUpTo(UInt64, view: FeedView)
        /// The notification takes this action state.
        case setActionState(id: String, ActionState)
        /// These notifications leave the feed.
        case delete(ids: [String])
        /// Every SendNotification entry of the feed with this `groupName` leaves it.
        case deleteGroup(String)
    }

    public var user: Int64
    public var kind: Kind
    /// Whose entries may change (``FeedStateScope``): an entry the scope does
    /// not cover refuses the whole change.
    public var scope: FeedStateScope
    /// The view whose unseen count the outcome carries, and the only view
    /// whose entries a change by ids reaches (an entry of another view is
    /// not found).
    public var view: FeedView
    /// When the change is made: its event's time.
    public var createdAt: Timestamp

    public init(user: Int64, kind: Kind, scope: FeedStateScope = .everything, view: FeedView = .all, createdAt: Timestamp) {
        self.user = user
        self.kind = kind
        self.scope = scope
        self.view = view
        self.createdAt = createdAt
    }
}

/// What a ``FeedChange`` did. Refusals are outcomes, not errors: nothing of a
/// refused change is stored, and the caller answers each in its own words.
public enum FeedChangeOutcome: Hashable, Sendable {
    /// The change was appended as the event numbered `sequence`; `unseen` is
    /// the change's view's unseen count after it.
    case changed(sequence: UInt64, unseen: UInt64)
    /// The entries already were in that state: nothing was appended.
    case unchanged(unseen: UInt64)
    /// `id` is not in the user's feed (never was, was deleted, or expired).
    case notFound(id: String)
    /// `id` is an entry the change's scope does not cover.
    case notPermitted(id: String)
    /// There is no such user.
    case noSuchUser
}

/// The state of a feed's entries: read, action state, deleted, and the
/// unseen counts. Every change is an entry of the feed itself (a
/// ``FeedEvent`` with its own sequence number, from the same head as the
/// notifications), so readers learn it in order, live and on resume.
///
/// What every implementation promises (the conformance suite checks each):
/// - **One sequence.** An event takes the next number of the user's feed,
///   as an append does: notifications and events together stay gapless and
///   strictly increasing, and a page returns both (``FeedPage/events``).
/// - **Idempotent.** A change that changes nothing (already read, already
///   in that state) appends nothing and answers ``FeedChangeOutcome/unchanged(unseen:)``.
/// - **Atomic.** A change naming an id that is not in the feed (or that its
///   scope does not cover) changes nothing at all.
/// - **Per view.** A change by ids whose ``FeedChange/view`` is not
///   ``FeedView/all`` reaches only that view's entries: an id of the other
///   view answers ``FeedChangeOutcome/notFound(id:)``, as an unknown id
///   does, and nothing changes.
/// - **Current state.** A page's and ``feedEntry(user:id:now:)``'s
///   notifications carry their state as committed when read; a deleted
///   notification is never returned again.
/// - **Counted.** Unseen counts (per ``FeedView``) are kept in the same
///   transactions as the appends, reads and removals that move them: a
///   count never scans the feed, and agrees with a page read at the same
///   moment (an expired entry leaves the count when the sweeper removes it).
/// - **Filtered.** A page read with a ``FeedFilter`` returns the events that
///   name at least one entry the filter admits (by the entries as they were
///   when the event was written, so a removal reaches the readers that could
///   see what it removed), whole, and every read up to a sequence; it passes
///   over the others as it passes over entries, bounded per page, its cursor
///   moving past them, so a resume neither skips nor repeats an event.
/// - **Removals are entries.** The sweeper's removal of expired entries
///   appends, in the same transaction, one `removed` event (reason
///   `expired`) per feed naming them, numbered from the feed's head. Events
///   are removed only by retention, by age like entries without an
///   expiration, and raise ``FeedPage/sweptThrough`` as those do.
/// - **One budget.** A page's entries and events count together against
///   its `limit` and its `maxBytes` (``FeedPage/size(ofEventIDs:)``).
/// - **Bounded state changes.** MarkRead up to a sequence reads only the
///   feed's unread entries up to it, DeleteGroup only the group's entries:
///   neither reads the whole feed.
public protocol FeedStateLog: Sendable {
    /// Applies `change` in one transaction with its event, then calls
    /// `completion` exactly once (on a thread of the store's: it must return
    /// quickly). Changes go through the append writer: they are ordered with
    /// the appends, and group-committed with them.
    func changeFeed(
        _ change: FeedChange, completion: @escaping @Sendable (Result<FeedChangeOutcome, StorageError>) -> Void)

    /// How many notifications of `view` in `user`'s feed are unread; nil when
    /// there is no such user. Reads one counter row, whatever the feed's size.
    func unseenCount(user: Int64, view: FeedView) async throws(StorageError) -> UInt64?

    /// The notification `id` in `user`'s feed with its state; nil when it is
    /// not there (never was, deleted, or expired at `now`).
    func feedEntry(user: Int64, id: String, now: Timestamp) async throws(StorageError) -> NotifyDomain.Notification?
}

extension FeedStateLog {
    /// ``changeFeed(_:completion:)``, returning once committed.
    public func changeFeed(_ change: FeedChange) async throws(StorageError) -> FeedChangeOutcome {
        try await withCheckedContinuation { continuation in
            changeFeed(change) { continuation.resume(returning: $0) }
        }.get()
    }
}

extension FeedPage {
    /// What one event counts against a page's byte budget: its ids, and 64
    /// bytes for the rest (as ``size(ofContent:id:)``).
    public static func size(ofEventIDs ids: [String]) -> Int {
        ids.reduce(64) { $0 + $1.utf8.count + 2 }
    }

    /// The events of one page as a store reads them, oldest first, after
    /// the page's cursor: at most `limit` admitted events and, past the
    /// first, `maxBytes` (``size(ofEventIDs:)``), passing over at most
    /// ``maxPassedOver`` hidden ones (a filter's). Every store reads its
    /// rows through one, so that the rules of ``merging(events:eventsThrough:eventsComplete:entrySizes:after:limit:maxBytes:)``'s
    /// `events`, `eventsThrough` and `eventsComplete` are kept once.
    public struct EventScan: Sendable {
        public private(set) var events: [FeedEvent] = []
        /// The last event sequence read, returned or passed over.
        public private(set) var through: UInt64
        private let limit: Int
        private let maxBytes: Int
        private var passed = 0
        private var bytes = 0

        public init(after: UInt64, limit: Int, maxBytes: Int) {
            through = after
            self.limit = limit
            self.maxBytes = maxBytes
        }

        /// Passes over a hidden event; false: the page stops before it.
        public mutating func passOver(_ sequence: UInt64) -> Bool {
            guard passed < FeedPage.maxPassedOver else { return false }
            passed += 1
            through = sequence
            return true
        }

        /// Whether the page has room for one more event (`limit`); false: it stops.
        public var hasRoom: Bool { events.count < limit }

        /// Takes an admitted event; false: the budget stops the page before it.
        public mutating func take(_ event: FeedEvent) -> Bool {
            let size = FeedPage.size(ofEventIDs: event.ids)
            if !events.isEmpty && bytes + size > maxBytes { return false }
            bytes += size
            events.append(event)
            through = event.sequence
            return true
        }
    }

    /// This page of notifications merged with the events read after the same
    /// cursor, cut so that the page holds at most `limit` items and
    /// `maxBytes` of both kinds together, and skips none.
    ///
    /// Both lists are read separately, each sorted and each within `limit`
    /// and `maxBytes` on its own; the merged page ends where the first of
    /// them stops being known (this page's end when it is not caught up,
    /// `eventsThrough` when more events may follow) or where the merged
    /// items reach `limit` or the budget. Items past that wait for the next
    /// page. Events the read passed over (a device endpoint's or a view's
    /// filter) are simply absent: the merged cursor moves past them as it
    /// moves past passed-over notifications, never past an item not returned
    /// that it may still have to return.
    /// - Parameters:
    ///   - events: the events after the page's cursor that the page's filter
    ///     admits, oldest first.
    ///   - eventsThrough: the highest event sequence the read went through,
    ///     returned or passed over (at most the cursor when it found none).
    ///   - eventsComplete: no event follows `eventsThrough`.
    ///   - entrySizes: what each of ``entries`` counts against the budget
    ///     (``size(ofContent:id:)``), in order.
    ///   - after: the page's cursor.
    public func merging(
        events: [NotifyDomain.FeedEvent], eventsThrough: UInt64, eventsComplete: Bool, entrySizes: [Int],
        after: UInt64, limit: Int, maxBytes: Int
    ) -> FeedPage {
        guard !events.isEmpty || !eventsComplete || eventsThrough > max(nextAfter, after) else {
            var page = self
            page.nextAfter = max(nextAfter, after)
            return page
        }
        // Everything up to `known` is known on both sides; everything up to
        // `scanned` was read on one side or the other.
        let notificationsKnown = caughtUp ? UInt64.max : max(nextAfter, after)
        let eventsKnown = eventsComplete ? UInt64.max : max(eventsThrough, after)
        let known = min(notificationsKnown, eventsKnown)
        let scanned = max(after, nextAfter, eventsThrough)
        var merged = FeedPage(entries: [], caughtUp: false, nextAfter: after, sweptThrough: sweptThrough)
        merged.entries.reserveCapacity(entries.count)
        merged.events.reserveCapacity(events.count)
        // One budget for both kinds.
        var bytes = 0
        var entryIndex = entries.startIndex
        var eventIndex = events.startIndex
        while true {
            let nextEntry = entryIndex < entries.endIndex ? entries[entryIndex].sequence : .max
            let nextEvent = eventIndex < events.endIndex ? events[eventIndex].sequence : .max
            let next = min(nextEntry, nextEvent)
            guard next != .max, next <= known else { break }
            let isEntry = nextEntry < nextEvent
            let size: Int
            if isEntry {
                let offset = entryIndex - entries.startIndex
                size = offset < entrySizes.count ? entrySizes[offset] : 0
            } else {
                size = FeedPage.size(ofEventIDs: events[eventIndex].ids)
            }
            let count = merged.entries.count + merged.events.count
            if count >= limit || (count > 0 && bytes + size > maxBytes) { return merged }
            bytes += size
            merged.nextAfter = next
            if isEntry {
                merged.entries.append(entries[entryIndex])
                entryIndex += 1
            } else {
                merged.events.append(events[eventIndex])
                eventIndex += 1
            }
        }
        merged.caughtUp = known == .max
        // Items passed over up to there (never returned) stay passed.
        merged.nextAfter = max(merged.nextAfter, min(known, scanned))
        if merged.entries.isEmpty && merged.events.isEmpty { merged.end = end }
        return merged
    }
}
