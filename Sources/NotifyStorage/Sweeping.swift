/// What one sweep removed: expired entries, and entries and events past the
/// retention, with the notifications they left unnamed (docs/OPERATIONS.md,
/// "The sweeper").
public struct SweepOutcome: Hashable, Sendable {
    /// Feed entries of expired notifications.
    public var expiredEntries = 0
    /// Feed entries without an expiration, older than the retention.
    public var retainedEntries = 0
    /// Events older than the retention.
    public var retainedEvents = 0
    /// `removed` events (reason `expired`) appended for the expired entries:
    /// one per feed per transaction.
    public var removalEvents = 0
    /// Notification rows no feed entry, idempotency key or fan-out job names any more.
    public var notifications = 0
    /// Write transactions the sweep ran.
    public var transactions = 0
    /// Transactions after which the sweep rested, because appends flowed.
    public var rests = 0

    public init() {}
}

/// The rows of the next background transaction with a time budget (a
/// sweep's, a fan-out's): 64 at first, then the last one's scaled by how
/// far its time was from the budget, at most doubled, at least `floor` (a
/// transaction's fixed cost, its commit, is then spread over some rows), at
/// most `cap`. With no budget, always `cap`.
public struct BudgetedBatch: Sendable {
    public let budget: Duration
    public let cap: Int
    public let floor: Int
    public private(set) var size: Int

    public init(budget: Duration, cap: Int, floor: Int = 8) {
        self.budget = budget
        self.cap = cap
        self.floor = min(floor, cap)
        size = budget > .zero ? min(cap, 64) : cap
    }

    /// The last transaction of `size` rows took `work`.
    public mutating func took(_ work: Duration) {
        guard budget > .zero else { return }
        let scaled = Double(size) * min(2, work > .zero ? budget / work : 2)
        guard scaled.isFinite else { return }
        size = min(cap, max(floor, Int(scaled)))
    }
}
