import Foundation
import NotifyDomain
import NotifyStorage
@testable import NotifyStoragePostgres
import PostgresNIO
import Testing

/// What only the PostgreSQL store promises: several instances on one
/// database. The conformance suite (``StoreBackend/all``) checks the rest.
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    @Test(
        "the test server is given (in CI its absence fails)",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
    func serverGiven() {
        #expect(PostgresTestServer.url != nil, "\(PostgresTestServer.missing)")
    }

    @Test("a store URL gives host, port, user and database, never holds a password, and refuses other schemes")
    func configuration() throws {
        let configuration = try PostgresStoreConfiguration(
            url: "postgres://notify@db.example:6543/feeds?schema=s1", password: "secret")
        #expect(configuration.host == "db.example")
        #expect(configuration.port == 6543)
        #expect(configuration.username == "notify")
        #expect(configuration.password == "secret")
        #expect(configuration.database == "feeds")
        #expect(configuration.schema == "s1")
        #expect(configuration.description == "postgres://notify@db.example:6543/feeds?schema=s1")
        // A password in the URL is refused, and the message names where it goes instead.
        let refusal = #expect(throws: StorageError.self) {
            try PostgresStoreConfiguration(url: "postgres://notify:secret@db.example:6543/feeds")
        }
        #expect(refusal?.message.contains("PGPASSWORD") == true)
        #expect(refusal?.message.contains("secret") == false)
        // sslmode: libpq's names; off on loopback by default, prefer elsewhere.
        #expect(configuration.tls == .prefer)
        #expect(try PostgresStoreConfiguration(url: "postgres://u@127.0.0.1/d").tls == .disable)
        #expect(try PostgresStoreConfiguration(url: "postgres://u@localhost/d?sslmode=require").tls == .require)
        #expect(try PostgresStoreConfiguration(url: "postgres://u@h/d?sslmode=disable").tls == .disable)
        #expect(try PostgresStoreConfiguration(url: "postgres://u@h/d?sslmode=verify-full").tls == .verifyFull)
        #expect(throws: StorageError.self) { try PostgresStoreConfiguration(url: "postgres://u@h/d?sslmode=allow") }
        #expect(throws: StorageError.self) { try PostgresStoreConfiguration(url: "postgres://u@h/d?password=x") }
        #expect(try PostgresStoreConfiguration(url: "postgresql://u@h/d").port == 5432)
        #expect(throws: StorageError.self) { try PostgresStoreConfiguration(url: "mysql://u@h/d") }
        #expect(throws: StorageError.self) { try PostgresStoreConfiguration(url: "postgres://h/d") }
    }

    /// Two stores on one schema: two notifyd instances sharing a database.
    private func withTwoInstances(
        _ body: (any NotificationStore, any NotificationStore) async throws -> Void
    ) async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        // Both migrate at once: one creates the schema, the other waits on its lock.
        try await location.withStore { one in
            try await location.withStore { two in
                try await body(one, two)
            }
        }
    }

    @Test(
        "two instances appending to the same feeds at once keep every feed gapless, in one order",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
    func gaplessAcrossInstances() async throws {
        try await withTwoInstances { one, two in
            let users: [Int64] = [1, 2, 3]
            try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for i in 0..<300 {
                    let store = i.isMultiple(of: 2) ? one : two
                    // Recipients in varied orders, so that the instances lock heads in different orders.
                    let recipients = i.isMultiple(of: 3) ? users : users.reversed()
                    group.addTask { try await store.append(Sample.notification(id: "x\(i)", to: .users(recipients))) }
                }
                for try await result in group { #expect(result.recipients == 3) }
            }
            var orders: [[String]] = []
            for user in users {
                let feed = try await one.feed(user: user, after: 0, limit: 1_000)
                #expect(feed.map(\.sequence) == (1...300).map { UInt64($0) }, "user \(user)")
                orders.append(feed.map(\.id))
            }
            #expect(orders.allSatisfy { $0 == orders[0] })
        }
    }

    @Test(
        "one idempotency key sent to two instances at once is written once and replayed by the other",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
    func idempotencyAcrossInstances() async throws {
        try await withTwoInstances { one, two in
            for round in 0..<20 {
                let key = IdempotencyKey(scope: "app:a", method: "Notify", key: "k\(round)", fingerprint: [UInt8(round)])
                async let a = one.append(Sample.notification(id: "a\(round)", to: .users([5]), key: key))
                async let b = two.append(Sample.notification(id: "b\(round)", to: .users([5]), key: key))
                let (ra, rb) = try await (a, b)
                #expect(ra.id == rb.id)
                #expect([ra.replayed, rb.replayed].filter { $0 }.count == 1)
                #expect(ra.first == rb.first)
            }
            let feed = try await two.feed(user: 5, after: 0, limit: 100)
            #expect(feed.map(\.sequence) == (1...20).map { UInt64($0) })
        }
    }

    @Test(
        "keyed appends queued together commit as one batch, with no append handled alone, and replay what they answered",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
    func keyedBatch() async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        func key(_ i: Int) -> IdempotencyKey {
            IdempotencyKey(scope: "app:a", method: "Notify", key: "q\(i)", fingerprint: [UInt8(i)])
        }
        // Every append reaches user 100; half of them name him first, so
        // that their first entries are numbered within the batch.
        func users(_ i: Int) -> [Int64] { i.isMultiple(of: 2) ? [100, Int64(1 + i % 8)] : [Int64(1 + i % 8), 100] }
        let calls = (0..<64).map { Sample.notification(id: "q\($0)", to: .users(users($0)), key: key($0)) }
        try await inFirstBatch(location, calls) { store, answered in
            #expect(store.statistics.writerBatches == 1)
            #expect(store.statistics.isolatedBatches == 0)
            let feed = try await store.feed(user: 100, after: 0, limit: 100)
            #expect(feed.map(\.sequence) == (1...64).map { UInt64($0) })
            for i in stride(from: 0, to: 64, by: 2) {
                #expect(answered["q\(i)"]?.first == feed.first { $0.id == "q\(i)" }, "q\(i)")
            }
            for i in 0..<64 {
                let retry = try await store.append(Sample.notification(id: "retry\(i)", to: .users(users(i)), key: key(i)))
                #expect(retry.replayed)
                #expect(retry.id == "q\(i)")
                #expect(retry.recipients == 2)
                #expect(retry.first == answered["q\(i)"]?.first, "q\(i)")
            }
            // Each retry's key was seen before: it ran alone, and no batch went append by append.
            #expect(store.statistics.appendsApart == 64)
            #expect(store.statistics.isolatedBatches == 0)
        }
    }

    @Test(
        "retries among a batch's appends run alone; the rest of the batch still commits as one",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
    func retriesApart() async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        func key(_ i: Int) -> IdempotencyKey {
            IdempotencyKey(scope: "app:a", method: "Notify", key: "r\(i)", fingerprint: [UInt8(i)])
        }
        var first: [Int: AppendResult] = [:]
        try await location.withStore { store in
            for i in 0..<8 { first[i] = try await store.append(Sample.notification(id: "first\(i)", to: .users([1]), key: key(i))) }
        }
        // 8 retries of the calls above, 54 new calls, and 2 of those sent
        // twice (the second a retry in the batch).
        let calls = ((0..<8).map { ($0, "retry\($0)") } + (8..<62).map { ($0, "new\($0)") } + [(8, "again8"), (9, "again9")])
            .map { i, id in Sample.notification(id: id, to: .users([1, Int64(2 + i % 4)]), key: key(i)) }
        try await inFirstBatch(location, calls) { store, answered in
            #expect(store.statistics.writerBatches == 1)
            #expect(store.statistics.isolatedBatches == 0)
            #expect(store.statistics.appendsApart == 10)
            for i in 0..<8 {
                #expect(answered["retry\(i)"]?.replayed == true)
                #expect(answered["retry\(i)"]?.first == first[i]?.first)
            }
            for i in 8..<10 {
                #expect(answered["again\(i)"]?.replayed == true)
                #expect(answered["again\(i)"]?.id == "new\(i)")
            }
            #expect((8..<62).allSatisfy { answered["new\($0)"]?.replayed == false })
            let feed = try await store.feed(user: 1, after: 0, limit: 100)
            #expect(feed.map(\.sequence) == (1...62).map { UInt64($0) })
        }
    }

    @Test(
        "a feed's bound holds when two instances' batches meet at its head, the feed empty as each began",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"), .timeLimit(.minutes(1)))
    func boundAcrossInstances() async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        // One entry: any two batches that read a feed empty overfill it.
        let options = ConformanceOptions(maxFeedEntries: 1)
        try await location.withStore(options) { one in
            try await location.withStore(options) { two in
                for id in Int64(1)...3 { try await one.putUser(User(id: id)) }
                try await one.putConnection(Connection(user: 3, to: 2, kind: .follow))
                // Named recipients: one statement per batch.
                let named = try await meetAtHead(of: 1, location, [one, two], sending: .users([1]))
                #expect(named.filter { (try? $0.get()) != nil }.count == 1)
                #expect(named.filter { if case .failure(let error) = $0 { error.code == .feedFull } else { false } }.count == 3)
                #expect(try await one.feed(user: 1, after: 0, limit: 10).map(\.sequence) == [1])
                // A connections audience: written after the batch's statement, in its transaction.
                let followed = try await meetAtHead(of: 3, location, [one, two], sending: .connections(of: 2, mode: .follow))
                #expect(followed.compactMap { try? $0.get().recipients }.sorted() == [0, 0, 0, 1])
                #expect(try await one.feed(user: 3, after: 0, limit: 10).map(\.sequence) == [1])
            }
        }
    }

    /// Holds `user`'s head, his feed empty, while each store appends to
    /// `recipients` twice, until two batches wait on it (each read the feed
    /// empty as it began), then lets them go.
    /// - Returns: the four appends' outcomes.
    private func meetAtHead(
        of user: Int64, _ location: PostgresLocation, _ stores: [any NotificationStore], sending recipients: Recipients
    ) async throws -> [Result<AppendResult, StorageError>] {
        try await PostgresNotificationStore.withOwnConnection(url: location.url) { holder, logger in
            try await holder.query(PostgresQuery(unsafeSQL: "SET search_path TO \(location.schema)"), logger: logger)
            try await holder.query("INSERT INTO feed_heads (user_id, last_seq) VALUES (\(user), 0)", logger: logger)
            try await holder.query("BEGIN", logger: logger)
            try await holder.query("SELECT 1 FROM feed_heads WHERE user_id = \(user) FOR UPDATE", logger: logger)
            let pid = try #require(try await holder.query("SELECT pg_backend_pid()", logger: logger).collect().first).decode(Int32.self)
            return try await withThrowingTaskGroup(of: Result<AppendResult, StorageError>.self) { group in
                for (i, store) in (stores + stores).enumerated() {
                    group.addTask {
                        do throws(StorageError) {
                            return .success(try await store.append(Sample.notification(id: "\(user)-\(i)", to: recipients)))
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                // Waiting on this transaction, or on a batch that waits on it. Two
                // such batches overfill the feed without the bound's care (every
                // run seen); after 10 s the test goes on with what came.
                let blocked = PostgresQuery(unsafeSQL: """
                    SELECT count(*) FROM pg_stat_activity a WHERE \(pid) = ANY(pg_blocking_pids(a.pid))
                        OR EXISTS (SELECT 1 FROM unnest(pg_blocking_pids(a.pid)) b WHERE \(pid) = ANY(pg_blocking_pids(b)))
                    """)
                let deadline = ContinuousClock.now + .seconds(10)
                while try await holder.query(blocked, logger: logger).collect().first?.decode(Int64.self) ?? 0 < 2,
                    ContinuousClock.now < deadline
                {
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await holder.query("COMMIT", logger: logger)
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
    }

    /// Queues `calls` on a store of `location` before it runs, so that its
    /// writer's first batch takes them all, then runs it and hands `body`
    /// their answers by notification id.
    private func inFirstBatch(
        _ location: PostgresLocation, _ calls: [NewNotification],
        _ body: (PostgresNotificationStore, [String: AppendResult]) async throws -> Void
    ) async throws {
        let store = try #require(try location.open(ConformanceOptions()) as? PostgresNotificationStore)
        let (answers, sink) = AsyncStream.makeStream(of: (String, Result<AppendResult, StorageError>).self)
        for call in calls {
            store.append(call) { [id = call.id] in sink.yield((id, $0)) }
        }
        try await store.withRunning { store in
            var answered: [String: AppendResult] = [:]
            for await (id, result) in answers {
                answered[id] = try result.get()
                if answered.count == calls.count { break }
            }
            try await body(store, answered)
        }
    }

    @Test(
        "a store is not writable (readiness off) until its schema is migrated, even with the database answering",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"), .timeLimit(.minutes(1)))
    func notWritableWhileMigrating() async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        try await PostgresNotificationStore.withOwnConnection(url: location.url) { holder, logger in
            // The migration reads schema_migrations: holding that table's lock holds it midway.
            let table = "\(location.schema).schema_migrations"
            try await holder.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(location.schema)"), logger: logger)
            try await holder.query(
                PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (version text PRIMARY KEY, applied_at bigint NOT NULL)"),
                logger: logger)
            try await holder.query("BEGIN", logger: logger)
            try await holder.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE"), logger: logger)
            try await location.withStore { store in
                let waiting = PostgresQuery(
                    unsafeSQL: "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = '\(table)'::regclass")
                while try await holder.query(waiting, logger: logger).collect().first?.decode(Int64.self) == 0 {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(!store.isWritable)
                try await holder.query("COMMIT", logger: logger)
                while !store.isWritable { try await Task.sleep(for: .milliseconds(20)) }
                try await store.putUser(User(id: 1))
                _ = try await store.append(Sample.notification(id: "after", to: .users([1])))
            }
        }
    }

    @Test(
        "a schema from before v7 gets its audience counts from the connections it holds",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"), .timeLimit(.minutes(1)))
    func audienceCountsBackfilled() async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        try await location.withStore(ConformanceOptions(largeAudiences: true, runsFanOut: false)) { store in
            for id in Int64(1)...6 { try await store.putUser(User(id: id)) }
        }
        // Back to the schema before v7, with connections it never counted.
        try await PostgresNotificationStore.withOwnConnection(url: location.url) { connection, logger in
            for statement in [
                "SET search_path TO \(location.schema)",
                "DROP TRIGGER connection_counted ON connections",
                "DROP FUNCTION connection_counted()",
                "DROP TABLE audience_counts",
                "DELETE FROM schema_migrations WHERE version = 'v7-audience-counts'",
                """
                INSERT INTO connections (user_id, kind, to_user) VALUES
                    (2, 'follow', 1), (3, 'follow', 1), (4, 'follow', 1), (1, 'friend', 2), (1, 'friend', 3), (5, 'friend', 1),
                    (6, 'follow', 6)
                """,
            ] {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
        try await location.withStore(ConformanceOptions(largeAudiences: true, runsFanOut: false)) { store in
            #expect(try await store.append(Sample.notification(id: "f", to: .connections(of: 1, mode: .follow))).recipients == 3)
            #expect(try await store.append(Sample.notification(id: "g", to: .connections(of: 1, mode: .friendship))).recipients == 3)
            // And the trigger counts from there.
            try await store.putConnection(Connection(user: 6, to: 1, kind: .follow))
            #expect(try await store.append(Sample.notification(id: "h", to: .connections(of: 1, mode: .follow))).recipients == 4)
        }
    }

    @Test("measurement: 64 writers × 50 appends, each to its own user, on each backend", arguments: StoreBackend.all)
    func appendRate(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let clock = ContinuousClock()
            let start = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<64 {
                    group.addTask {
                        for index in 0..<50 {
                            let user = Int64(writer * 50 + index)
                            _ = try await store.append(Sample.notification(id: "r\(user)", to: .users([user])))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            var batches = ""
            if let postgres = store as? PostgresNotificationStore {
                let statistics = postgres.statistics
                batches = "; \(statistics.writerBatches) batches, largest \(statistics.largestBatch), \(statistics.isolatedBatches) isolated"
            }
            print("measurement: \(backend.name): 3,200 appends by 64 writers in \(elapsed), \(Int(3_200 / seconds)) appends/s\(batches)")
            #expect(try await store.feed(user: 3_199, after: 0, limit: 10).map(\.id) == ["r3199"])
        }
    }
}
