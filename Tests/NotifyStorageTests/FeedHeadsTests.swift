import Foundation
import GRDB
import NotifyDomain
import NotifyStorage
@testable import NotifyStorageSQLite
import Testing

@Suite("Feed heads kept for one append batch")
struct FeedHeadsTests {
    @Test("a head is read once, advanced in memory, written once; a copy undoes an append; forget rereads")
    func headsInOneTransaction() throws {
        let database = try DatabaseQueue()
        try Schema.migrator.migrate(database)
        try database.inTransaction { db in
            try db.execute(sql: "INSERT INTO feed_heads (user, last_seq) VALUES (2, 7)")
            let statements = try AppendStatements(db)
            var heads = FeedHeads()
            #expect(try heads.next(db, statements, user: 1, graph: false) == 1)
            #expect(try heads.next(db, statements, user: 2, graph: false) == 8)
            // An append undone at its savepoint: its heads go back with it.
            let before = heads
            #expect(try heads.next(db, statements, user: 2, graph: false) == 9)
            heads = before
            #expect(try heads.next(db, statements, user: 2, graph: false) == 9)
            // Nothing is written until the flush.
            #expect(try Self.stored(db) == [2: 7])
            try heads.flush(db, statements)
            #expect(try Self.stored(db) == [1: 1, 2: 9])
            // SQL that moves a head behind the cache: forget, and it is read again.
            try db.execute(sql: "UPDATE feed_heads SET last_seq = 20 WHERE user = 2")
            heads.forget()
            #expect(try heads.next(db, statements, user: 2, graph: false) == 21)
            try heads.flush(db, statements)
            #expect(try Self.stored(db) == [1: 1, 2: 21])
            return .rollback
        }
    }

    private static func stored(_ db: Database) throws -> [Int64: Int64] {
        Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT user, last_seq FROM feed_heads").map {
            (row: Row) -> (Int64, Int64) in (row[0], row[1])
        })
    }
}
