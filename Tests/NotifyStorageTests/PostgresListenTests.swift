import Foundation
import Logging
import NotifyDomain
import NotifyStorage
import PostgresNIO
import Testing

@testable import NotifyStoragePostgres

/// The NOTIFY payloads, without a server.
@Suite("PostgreSQL store: NOTIFY payloads")
struct PostgresNoticeTests {
    @Test("a feed payload names each user once, sorted, and reads back", arguments: [
        [Int64](), [5], [3, 1, 2, 3], [-7, 0, Int64.max, Int64.min, 42],
    ])
    func feedRoundTrip(users: [Int64]) {
        let payloads = PostgresNotices.feedPayloads(instance: "abc", users: users)
        #expect(payloads.allSatisfy { $0.utf8.count <= PostgresNotices.maxPayloadBytes })
        var heard: [Int64] = []
        for payload in payloads {
            let (instance, feed) = PostgresNotices.feed(payload)
            #expect(instance == "abc")
            guard case .users(let users) = feed else {
                Issue.record("\(payload) reads as everyone")
                return
            }
            heard += users
        }
        #expect(heard == Array(Set(users)).sorted())
    }

    @Test("users spread too wide for four payloads become one 'wake everyone' payload; a few payloads are split")
    func tooManyUsers() {
        // Deltas of about 36^4: five characters and a comma each.
        let spread = (0..<8_000).map { Int64($0) * 1_700_000 }
        #expect(PostgresNotices.feedPayloads(instance: "i", users: spread) == ["i:*"])
        #expect(PostgresNotices.feed("i:*").feed == .everyone)
        let split = PostgresNotices.feedPayloads(instance: "i", users: Array(spread.prefix(3_000)))
        #expect(split.count > 1 && split.count <= PostgresNotices.maxFeedPayloads)
        let heard = split.flatMap { payload -> [Int64] in
            if case .users(let users) = PostgresNotices.feed(payload).feed { return users }
            return []
        }
        #expect(heard == Array(spread.prefix(3_000)))
        // Ids close together take two or three bytes each: 2,000 fit in one payload.
        #expect(PostgresNotices.feedPayloads(instance: "i", users: Array(1...2_000)).count == 1)
    }

    @Test("a payload that cannot be read wakes everyone and forgets every cached lookup")
    func unreadable() {
        for payload in ["", "nocolon", "i:1,zz!", "i:,"] {
            #expect(PostgresNotices.feed(payload).feed == .everyone, "\(payload)")
        }
        for payload in ["", "i", "i:q", "i:u:x", "i:b:robot:1"] {
            #expect(PostgresNotices.directory(payload).change == .everything, "\(payload)")
        }
    }

    @Test("each directory change reads back", arguments: [
        DirectoryChange.tokenRevoked, .blockListChanged(.app("crm:eu")), .blockListChanged(.user(-3)), .userDeleted(12),
        .userChanged(-7), .subscriptionChanged("sub:with:colons"), .everything,
    ])
    func directoryRoundTrip(change: DirectoryChange) {
        let (instance, read) = PostgresNotices.directory(PostgresNotices.directoryPayload(instance: "k9", change: change))
        #expect(instance == "k9")
        #expect(read == change)
    }

    @Test("channel names carry the schema, and stay within PostgreSQL's 63 bytes")
    func channels() {
        #expect(PostgresNotices.channels(schema: nil) == ("notify_feed", "notify_directory"))
        #expect(PostgresNotices.channels(schema: "t_1").feed == "notify_feed_t_1")
        let long = String(repeating: "s", count: 63)
        let named = PostgresNotices.channels(schema: long)
        #expect(named.feed.utf8.count <= 63 && named.directory.utf8.count <= 63)
        #expect(named == PostgresNotices.channels(schema: long))
        #expect(named != PostgresNotices.channels(schema: String(repeating: "t", count: 63)))
    }

    @Test("the listener's backoff doubles up to its bound and starts again once it listens")
    func backoff() {
        var backoff = ListenBackoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        #expect([0, 1, 2, 3, 4].map { _ in backoff.failed(jitter: 0) } == [100, 200, 400, 500, 500].map { .milliseconds($0) })
        backoff.reset()
        #expect(backoff.failed(jitter: 0.25) == .milliseconds(125))
    }

    @Test("a directory change stream delivers in order, collapses an overflow into 'everything', and ends with the store")
    func directoryStream() async {
        let changes = DirectoryChanges(capacity: 2)
        var stream = changes.subscribe().makeAsyncIterator()
        changes.changed(.userDeleted(1))
        changes.changed(.tokenRevoked)
        #expect(await stream.next() == .userDeleted(1))
        #expect(await stream.next() == .tokenRevoked)
        for id in 0..<5 { changes.changed(.userDeleted(Int64(id))) }
        #expect(await stream.next() == .everything)
        changes.changed(.subscriptionChanged("s"))
        #expect(await stream.next() == .subscriptionChanged("s"))
        changes.finishAll()
        #expect(await stream.next() == nil)
        var late = changes.subscribe().makeAsyncIterator()
        #expect(await late.next() == nil)
        var none = DirectoryChangeStream.none.makeAsyncIterator()
        #expect(await none.next() == nil)
    }
}

/// Two stores on one database: two notifyd instances, each hearing the
/// other's commits through LISTEN/NOTIFY.
@Suite("PostgreSQL store: instances hear each other")
struct PostgresListenTests {
    /// Long enough for a loaded machine; a wake-up normally takes milliseconds.
    static let bound: Duration = .seconds(15)

    /// Two running stores on one schema, each listening, with `configure`
    /// applied to the second.
    private func withTwoInstances(
        configure: (inout PostgresStoreConfiguration) -> Void = { _ in },
        _ body: (PostgresNotificationStore, PostgresNotificationStore) async throws -> Void
    ) async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        let one = try #require(try location.open(.init()) as? PostgresNotificationStore)
        var configuration = try PostgresStoreConfiguration(url: location.url)
        configuration.schema = location.schema
        configuration.maximumConnections = 4
        configuration.sweepInterval = .zero
        configure(&configuration)
        var logger = Logger(label: "notify.storage.tests.postgres")
        logger.logLevel = .warning
        let two = try PostgresNotificationStore(configuration: configuration, logger: logger)
        try await one.withRunning { one in
            try await two.withRunning { two in
                try await waitFor("both listen") { one.statistics.listening && two.statistics.listening }
                try await body(one, two)
            }
        }
    }

    /// Waits until `condition` holds, at most ``bound``.
    private func waitFor(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + Self.bound
        while try await !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out: \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The next wake-up of `watch`, or false after ``bound`` (the watch
    /// then ends: its reader's task was cancelled).
    private func woken(_ watch: AsyncStream<Void>) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                var iterator = watch.makeAsyncIterator()
                return await iterator.next() != nil
            }
            group.addTask {
                try? await Task.sleep(for: Self.bound)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// The next change `changes` tells, or nil after ``bound``.
    private func next(_ changes: DirectoryChangeStream) async -> DirectoryChange? {
        await nextChange(changes, within: Self.bound)
    }

    @Test(
        "a watcher on one instance wakes when the other appends to its user, to a connections audience, changes its feed, or sweeps an expired entry",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
    func wakesAcrossInstances() async throws {
        try await withTwoInstances { one, two in
            for id in Int64(1)...3 { try await one.putUser(User(id: id)) }
            try await one.putConnection(Connection(user: 2, to: 1, kind: .follow))
            let watch = two.watchFeed(user: 2)

            let first = try await one.append(Sample.notification(id: "direct", to: .users([2])))
            #expect(await woken(watch), "a user-level append")
            #expect(try await two.feed(user: 2, after: 0, limit: 10).map(\.id) == ["direct"])

            _ = try await one.append(Sample.notification(id: "fan", to: .connections(of: 1, mode: .follow)))
            #expect(await woken(watch), "a connections fan-out")
            #expect(try await two.feed(user: 2, after: 1, limit: 10).map(\.id) == ["fan"])

            let outcome = try await one.changeFeed(
                FeedChange(user: 2, kind: .markRead(ids: [first.id]), createdAt: .now()))
            guard case .changed = outcome else {
                Issue.record("the change was not made: \(outcome)")
                return
            }
            #expect(await woken(watch), "a feed-state change")

            _ = try await one.append(Sample.notification(id: "expired", content: StoreExpiryConformanceTests.expired, to: .users([2])))
            #expect(await woken(watch), "an expired append")
            #expect(try await one.sweep(now: .now()).removalEvents == 1)
            #expect(await woken(watch), "the sweeper's removed event")
            let events = try await two.feedPage(user: 2, after: 4, limit: 10, maxBytes: .max).events
            #expect(events.map(\.change) == [.removed(.expired)])
            #expect(events.map(\.ids) == [["expired"]])
            #expect(two.statistics.noticesHeard >= 5)
            // Its own commits it does not hear again.
            #expect(one.statistics.noticesHeard == 0)
        }
    }

    @Test(
        "a batch naming more users than the payloads hold wakes every watcher of the other instance",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
    func tooManyUsersWakeEveryone() async throws {
        try await withTwoInstances { one, two in
            // Not named below: only a "wake everyone" reaches it.
            let bystander = two.watchFeed(user: 5)
            let many = (1...8_000).map { Int64($0) * 1_700_000 }
            let result = try await one.append(Sample.notification(id: "many", to: .users(many)))
            #expect(result.recipients == 8_000)
            #expect(await woken(bystander))
        }
    }

    @Test(
        "a listener whose backend is terminated listens again by itself, and its watcher reads what was appended meanwhile",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
    func listenerReconnects() async throws {
        // A wide gap before it listens again, so that the appends fall in it.
        try await withTwoInstances(configure: { $0.listenBackoffInitial = .seconds(2) }) { one, two in
            let watch = two.watchFeed(user: 9)
            _ = try await one.append(Sample.notification(id: "before", to: .users([9])))
            #expect(await woken(watch))
            var cursor = try await two.feed(user: 9, after: 0, limit: 100).last?.sequence ?? 0
            #expect(cursor == 1)

            #expect(two.hearsEveryDirectoryChange)
            let changes = two.directoryChanges()
            let terminated = try await Self.terminate(applicationName: two.listenerApplicationName, url: PostgresTestServer.url)
            #expect(terminated == 1)
            try await waitFor("the listener noticed") { !two.statistics.listening }
            // What servers cached for longer goes as the link goes, and again when it is back.
            #expect(!two.hearsEveryDirectoryChange)
            #expect(await next(changes) == .everything)
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try await one.append(Sample.notification(id: "gap\(index)", to: .users([9]))).id)
            }
            #expect(!two.statistics.listening, "the appends were meant to fall while nobody listened")

            var read: [String] = []
            while read.count < 5 {
                guard await woken(watch) else {
                    Issue.record("no wake-up after reconnecting; read \(read)")
                    break
                }
                let page = try await two.feed(user: 9, after: cursor, limit: 100)
                read += page.map(\.id)
                cursor = page.last?.sequence ?? cursor
            }
            #expect(read == ids)
            #expect(two.statistics.listenReconnects == 1)
            #expect(two.statistics.listening)
            #expect(two.hearsEveryDirectoryChange)
            #expect(await next(changes) == .everything)

            // And it hears the next commit live again.
            _ = try await one.append(Sample.notification(id: "after", to: .users([9])))
            #expect(await woken(watch))
            #expect(try await two.feed(user: 9, after: cursor, limit: 100).map(\.id) == ["after"])
        }
    }

    @Test(
        "a directory change committed on one instance is told on the other, and not on itself",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
    func directoryChangesAcrossInstances() async throws {
        try await withTwoInstances { one, two in
            let heard = two.directoryChanges()
            let own = one.directoryChanges()
            try await one.putUser(User(id: 4))
            try await one.insertToken(
                TokenRecord(id: "tk", hash: [1, 2, 3], principal: .user(4), roles: [.user], expiresAt: Timestamp(microsecondsSince1970: .max / 2)))
            try await one.createSubscription(
                Subscription(id: "s1", user: 4, app: "a", platform: .webPush, deviceID: nil, expiresAt: .now().adding(seconds: 3_600)))
            #expect(try await one.revokeToken(id: "tk"))
            try await one.block(.app("crm"))
            #expect(try await one.unblock(.app("crm")))
            // Nothing changes: nothing is told.
            #expect(try await !one.unblock(.app("crm")))
            #expect(try await one.renewSubscription(id: "s1", expiresAt: .now().adding(seconds: 7_200)) != nil)
            #expect(try await one.deleteSubscription(id: "s1"))
            #expect(try await one.deleteUser(id: 4))
            var told: [DirectoryChange] = []
            for _ in 0..<7 {
                guard let change = await next(heard) else { break }
                told.append(change)
            }
            #expect(told == [
                .userChanged(4), .tokenRevoked, .blockListChanged(.app("crm")), .blockListChanged(.app("crm")), .subscriptionChanged("s1"),
                .subscriptionChanged("s1"), .userDeleted(4),
            ])
            // The other way round, to be sure the first instance listens: it
            // hears this, and nothing of its own before it.
            try await two.block(.user(8))
            #expect(await next(own) == .blockListChanged(.user(8)))
        }
    }

    /// Terminates the backends whose `application_name` is `applicationName`.
    /// - Returns: how many were terminated.
    static func terminate(applicationName: String, url: String?) async throws -> Int {
        try await PostgresNotificationStore.withOwnConnection(url: try #require(url)) { connection, logger in
            try await connection.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = \(applicationName)",
                logger: logger
            ).collect().filter { try $0.decode(Bool.self) }.count
        }
    }
}

/// The cost of the NOTIFY on the writer: appends with and without it.
@Suite("PostgreSQL store: the cost of NOTIFY on appends")
struct PostgresNoticeCostTests {
    /// One round: a store writing 64 × 50 appends (each to its own user)
    /// while a second store on the same schema listens, both sending notices
    /// or neither.
    /// - Returns: appends per second.
    private func round(notices: Bool) async throws -> Double {
        let location = try PostgresLocation()
        defer { location.remove() }
        var configuration = try PostgresStoreConfiguration(url: location.url)
        configuration.schema = location.schema
        configuration.maximumConnections = 4
        configuration.sweepInterval = .zero
        configuration.sendsNotices = notices
        var logger = Logger(label: "notify.storage.tests.postgres")
        logger.logLevel = .warning
        let writer = try PostgresNotificationStore(configuration: configuration, logger: logger)
        let listener = try PostgresNotificationStore(configuration: configuration, logger: logger)
        return try await writer.withRunning { writer in
            try await listener.withRunning { listener in
                // A watcher on the listening instance, so that what it hears is handled.
                let watch = listener.watchFeed(user: 7)
                _ = watch
                let clock = ContinuousClock()
                let start = clock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for task in 0..<64 {
                        group.addTask {
                            for index in 0..<50 {
                                let user = Int64(task * 50 + index)
                                _ = try await writer.append(Sample.notification(id: "m\(user)", to: .users([user])))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let elapsed = clock.now - start
                return 3_200 / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            }
        }
    }

    @Test(
        "measurement: appends per second with and without NOTIFY, alternating pairs (printed, not asserted)",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"),
        // A minute of appends: asked for, not part of every run.
        .enabled(if: ProcessInfo.processInfo.environment["NOTIFY_MEASURE"] != nil, "set NOTIFY_MEASURE=1 to measure"))
    func noticeCost() async throws {
        var ratios: [Double] = []
        for pair in 0..<5 {
            let with = try await round(notices: true)
            let without = try await round(notices: false)
            ratios.append(with / without)
            print("measurement: pair \(pair + 1): with NOTIFY \(Int(with)) appends/s, without \(Int(without)) appends/s, ratio \(String(format: "%.2f", with / without))")
        }
        let median = ratios.sorted()[ratios.count / 2]
        print("measurement: NOTIFY on appends: median ratio with/without \(String(format: "%.2f", median)) over \(ratios.count) pairs")
        #expect(median > 0)
    }
}
