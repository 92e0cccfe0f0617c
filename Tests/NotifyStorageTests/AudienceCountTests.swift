import Foundation
import GRDB
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite
import Testing

/// Migration `v10-audience-counts`: the count of each user's audience that
/// the connections' triggers keep, which a large audience's answer reports.
@Suite("SQLite store: audience counts")
struct AudienceCountTests {
    /// Every user's kept counts against the audience counted from `connections`.
    private static func mismatches(_ path: String, users: ClosedRange<Int64>) throws -> [String] {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            var found: [String] = []
            for user in users {
                let friends = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM connections WHERE kind = 'friend' AND user <> "to" AND (user = ? OR "to" = ?)
                        """,
                    arguments: [user, user]) ?? 0
                let followers = try Int64.fetchOne(
                    db, sql: #"SELECT COUNT(*) FROM connections WHERE kind = 'follow' AND user <> "to" AND "to" = ?"#,
                    arguments: [user]) ?? 0
                for (kind, expected) in [("friend", friends), ("follow", followers)] {
                    let kept = try Int64.fetchOne(
                        db, sql: "SELECT n FROM audience_counts WHERE user = ? AND kind = ?", arguments: [user, kind]) ?? 0
                    if kept != expected { found.append("user \(user) \(kind): kept \(kept), counted \(expected)") }
                }
            }
            return found
        }
    }

    @Test("the counts follow every added, repeated and removed connection and every deleted user; a large audience's answer reports them")
    func countsFollowConnections() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let users = Int64(1)...40
        var generator = SystemRandomNumberGenerator()
        try await database.open(SQLiteStoreConfiguration(inlineFanOutLimit: 3)).withRunning { store in
            try await store.putUsers(users.map { User(id: $0) })
            var connections: [Connection] = []
            for _ in 0..<400 {
                let user = Int64.random(in: users, using: &generator)
                let to = Int64.random(in: users, using: &generator)
                connections.append(Connection(user: user, to: to, kind: Bool.random(using: &generator) ? .friend : .follow))
            }
            // Twice: the repeats add nothing.
            try await store.putConnections(connections)
            try await store.putConnections(connections.shuffled())
            #expect(try Self.mismatches(database.path, users: users) == [])
            for connection in connections.prefix(60) { _ = try await store.deleteConnection(connection) }
            #expect(try await store.deleteUser(id: 7))
            #expect(try await store.deleteUser(id: 8))
            #expect(try Self.mismatches(database.path, users: users) == [])
            // Created again: no connection, and a count of none.
            try await store.putUser(User(id: 7))
            #expect(try Self.mismatches(database.path, users: users) == [])

            // The answer to a large audience (more than 3 here) is the kept count.
            let queue = try DatabaseQueue(path: database.path)
            let top = try await queue.read { db in
                try Row.fetchOne(
                    db,
                    sql: #"""
                        SELECT "to", COUNT(*) FROM connections WHERE kind = 'follow' AND user <> "to"
                        GROUP BY "to" ORDER BY COUNT(*) DESC LIMIT 1
                        """#)
            }
            try queue.close()
            let (issuer, followers): (Int64, Int64) = try #require(top.map { ($0[0], $0[1]) })
            #expect(followers > 3)
            let result = try await store.append(Sample.notification(id: "big", to: .connections(of: issuer, mode: .follow)))
            #expect(result.recipients == UInt64(followers))
        }
    }

    @Test("a file from before v10 gets its counts from the connections it holds")
    func backfilled() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let users = Int64(1)...12
        try await database.open().withRunning { store in
            try await store.putUsers(users.map { User(id: $0) })
        }
        // Back to the schema before v10, with connections it never counted.
        let queue = try DatabaseQueue(path: database.path)
        try await queue.write { db in
            try db.execute(
                sql: """
                    DROP TRIGGER connection_counted;
                    DROP TRIGGER connection_uncounted;
                    DROP TABLE audience_counts;
                    DELETE FROM grdb_migrations WHERE identifier = 'v10-audience-counts';
                    INSERT INTO connections (user, kind, "to") VALUES
                        (1, 'friend', 2), (1, 'friend', 3), (2, 'friend', 3), (4, 'follow', 1), (5, 'follow', 1),
                        (1, 'follow', 4), (6, 'follow', 6), (6, 'friend', 6);
                    """)
        }
        try queue.close()
        try await database.open().withRunning { _ throws in
            #expect(try Self.mismatches(database.path, users: users) == [])
        }
    }
}
