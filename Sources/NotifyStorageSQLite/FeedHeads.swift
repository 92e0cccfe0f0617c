import GRDB

/// The feed heads one append batch advanced, kept in memory until the batch
/// is about to commit.
///
/// Advancing a head with `INSERT … ON CONFLICT … RETURNING` made SQLite
/// build an ephemeral table for the returned row on every execution, and
/// opening and closing its pager was a third of the append writer's time.
/// Inside the batch's transaction no one else writes the database, so a
/// head read once stays true until this batch changes it: each user's head
/// is read once per batch, advanced here, and written once by ``flush(_:_:)``.
///
/// SQL that moves heads itself (a connections notification written inline)
/// must see them: flush before it and ``forget()`` after. Under savepoints,
/// keep a copy before each append and put it back when the append is undone.
struct FeedHeads {
    private struct Head {
        var last: Int64
        /// What `feed_heads` holds for the user: nil when it has no row yet.
        var stored: Int64?
        /// The feed's first sequence number (nil: the feed is empty), once read.
        var first: Int64??
        /// Unread entries appended since the head was last written, by view:
        /// written with the head, so a count costs the append no statement.
        var unseenNotify: Int64 = 0
        var unseenGraph: Int64 = 0
    }

    private var heads: [Int64: Head] = [:]

    /// Advances `user`'s head and returns the new sequence number, or nil
    /// when the feed already holds `limit` entries (then nothing changes).
    ///
    /// A feed holds at most its head minus its first sequence number plus
    /// one entries (fewer once the sweeper has removed some in between: the
    /// bound then errs on the full side, never the other), and at most its
    /// head: the first one is read only for a head at `limit` or past it.
    /// - Parameter graph: the entry is a SendNotification's (else a Notify's):
    ///   which unseen count it adds to.
    mutating func next(
        _ db: Database, _ statements: AppendStatements, user: Int64, limit: Int64? = nil, graph: Bool
    ) throws -> Int64? {
        var head: Head
        if let known = heads[user] {
            head = known
        } else {
            statements.readHead.bind(user, at: 1)
            let stored = try statements.readHead.fetchInt64(db)
            head = Head(last: stored ?? 0, stored: stored)
        }
        if let limit, head.last >= limit {
            if head.first == nil {
                statements.readFirstSeq.bind(user, at: 1)
                head.first = .some(try statements.readFirstSeq.fetchInt64(db))
            }
            let entries = (head.first ?? nil).map { head.last - $0 + 1 } ?? 0
            if entries >= limit {
                heads[user] = head
                return nil
            }
        }
        head.last += 1
        if graph { head.unseenGraph += 1 } else { head.unseenNotify += 1 }
        // An empty feed whose first entry this is.
        if case .some(.none) = head.first { head.first = .some(head.last) }
        heads[user] = head
        return head.last
    }

    /// Writes every head that moved since it was read or last written, with
    /// the unseen entries it added.
    mutating func flush(_ db: Database, _ statements: AppendStatements) throws {
        for (user, head) in heads where head.stored != head.last {
            statements.writeHead.bind(user, at: 1)
            statements.writeHead.bind(head.last, at: 2)
            statements.writeHead.bind(head.unseenNotify, at: 3)
            statements.writeHead.bind(head.unseenGraph, at: 4)
            try statements.writeHead.execute(db)
            heads[user]?.stored = head.last
            heads[user]?.unseenNotify = 0
            heads[user]?.unseenGraph = 0
        }
    }

    /// Drops what is known, after SQL advanced heads behind this cache's back.
    /// Flush first: a head not yet written would be lost.
    mutating func forget() {
        heads.removeAll(keepingCapacity: true)
    }
}
