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
    }

    private var heads: [Int64: Head] = [:]

    /// Advances `user`'s head and returns the new sequence number.
    mutating func next(_ db: Database, _ statements: AppendStatements, user: Int64) throws -> Int64 {
        if var head = heads[user] {
            head.last += 1
            heads[user] = head
            return head.last
        }
        statements.readHead.bind(user, at: 1)
        let stored = try statements.readHead.fetchInt64(db)
        let next = (stored ?? 0) + 1
        heads[user] = Head(last: next, stored: stored)
        return next
    }

    /// Writes every head that moved since it was read or last written.
    mutating func flush(_ db: Database, _ statements: AppendStatements) throws {
        for (user, head) in heads where head.stored != head.last {
            statements.writeHead.bind(user, at: 1)
            statements.writeHead.bind(head.last, at: 2)
            try statements.writeHead.execute(db)
            heads[user]?.stored = head.last
        }
    }

    /// Drops what is known, after SQL advanced heads behind this cache's back.
    /// Flush first: a head not yet written would be lost.
    mutating func forget() {
        heads.removeAll(keepingCapacity: true)
    }
}
