import Foundation
import Logging
import NotifyDomain
public import NotifyStorage
import PostgresNIO
import Synchronization

/// A bounded exponential backoff between attempts to listen again: from
/// ``initial``, doubling, at most ``maximum``, with up to a quarter of
/// jitter so that instances that lost the server together do not return
/// together. A plain value: the listener owns one.
struct ListenBackoff {
    let initial: Duration
    let maximum: Duration
    private var next: Duration

    init(initial: Duration = .milliseconds(100), maximum: Duration) {
        self.initial = min(initial, maximum)
        self.maximum = maximum
        self.next = self.initial
    }

    /// The wait before the next attempt; each failure doubles the next.
    mutating func failed(jitter: Double = Double.random(in: 0...0.25)) -> Duration {
        let wait = next
        next = min(maximum, next * 2)
        return wait + wait * jitter
    }

    /// Listening again: the next loss starts from ``initial``.
    mutating func reset() {
        next = initial
    }
}

extension PostgresNotificationStore {
    // MARK: Sending, inside the committing transaction

    /// Tells the other instances that `users`' feeds advanced: NOTIFY on the
    /// feed channel, in the transaction on `connection`, so that it is
    /// delivered when (and only if) that transaction commits. One statement
    /// however many payloads (``PostgresNotices``).
    func sendFeedNotices(_ users: [Int64], _ connection: PostgresConnection) async throws {
        guard configuration.sendsNotices, !users.isEmpty else { return }
        var bindings = PostgresBindings()
        bindings.append(channels.feed)
        bindings.append(PostgresNotices.feedPayloads(instance: instanceID, users: users))
        try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", binds: bindings),
            logger: logger)
    }

    /// Runs `query` (a statement with `RETURNING`) and, in the same
    /// statement, NOTIFY on the directory channel when it returned a row: the
    /// change reaches the other instances when it commits, and only then.
    /// - Returns: the rows `query` returned (none: it changed nothing).
    func rowsNotifying(_ query: PostgresQuery, _ change: DirectoryChange, _ operation: String) async throws(StorageError)
        -> [PostgresRow]
    {
        guard configuration.sendsNotices else { return try await rows(query, operation) }
        var bindings = query.binds
        bindings.append(channels.directory)
        bindings.append(PostgresNotices.directoryPayload(instance: instanceID, change: change))
        let n = bindings.count
        // `notice` runs once, and only when `changed` has a row (the join
        // reads it only then).
        return try await rows(
            PostgresQuery(
                unsafeSQL: """
                    WITH changed AS (\(query.sql)),
                    notice AS (SELECT pg_notify($\(n - 1), $\(n)) FROM (SELECT 1 FROM changed LIMIT 1) AS c)
                    SELECT changed.* FROM changed, (SELECT count(*) FROM notice) AS sent
                    """,
                binds: bindings),
            operation)
    }

    /// ``rowsNotifying(_:_:_:)``, saying whether a row changed.
    func changedNotifying(_ query: PostgresQuery, _ change: DirectoryChange, _ operation: String) async throws(StorageError)
        -> Bool
    {
        try await !rowsNotifying(query, change, operation).isEmpty
    }

    /// NOTIFY on the directory channel, in the transaction on `connection`.
    func sendDirectoryNotice(_ change: DirectoryChange, _ connection: PostgresConnection) async throws {
        guard configuration.sendsNotices else { return }
        let payload = PostgresNotices.directoryPayload(instance: instanceID, change: change)
        try await connection.query("SELECT pg_notify(\(channels.directory), \(payload))", logger: logger)
    }

    // MARK: Listening

    /// The listener: one connection of its own (not from the pool) that
    /// LISTENs on both channels and turns what arrives into wake-ups
    /// (``FeedAdvances``) and directory changes. Until cancelled: a lost
    /// connection is opened again after a bounded backoff
    /// (``PostgresStoreConfiguration/listenBackoffMaximum``), and once it
    /// listens again every watcher is woken and every cached lookup
    /// forgotten, since what was committed meanwhile was not heard. A
    /// `SELECT 1` every ``PostgresStoreConfiguration/listenPingInterval``
    /// finds a connection that died without closing.
    func runListener() async {
        let listenClient = listenClient
        // As the store's pool: PostgresClient.run() ends on graceful
        // shutdown, and the listener hears until the store stops, so it runs
        // in a task that does not inherit the shutdown, owned here.
        let (started, start) = AsyncStream.makeStream(of: Void.self)
        let pool = Task.detached {
            start.finish()
            await listenClient.run()
        }
        for await _ in started {}
        var backoff = ListenBackoff(
            initial: configuration.listenBackoffInitial, maximum: configuration.listenBackoffMaximum)
        var listenedBefore = false
        while !Task.isCancelled {
            var failure: (any Error)?
            let reconnecting = listenedBefore
            do {
                // No limit: it listens as long as its connection lives; a
                // fresh connection each time, so connecting counts in its wait.
                try await leases.lease(
                    from: listenClient, "listening to the other instances",
                    timeout: configuration.connectTimeout + configuration.acquireTimeout, limit: nil
                ) { connection in
                    try await self.listen(on: connection) {
                        self.counters.withLock {
                            $0.listening = true
                            if reconnecting { $0.listenReconnects += 1 }
                        }
                        if reconnecting {
                            self.metrics.recordListenReconnect()
                            self.logger.info("listening to the other instances again; every live reader reads again")
                        }
                        // What committed while nobody listened was not heard.
                        self.feedAdvances.advancedAll()
                        self.heardChanges.changed(.everything)
                    }
                }
            } catch {
                failure = error
            }
            let listened = counters.withLock { counters in
                defer { counters.listening = false }
                return counters.listening
            }
            if listened {
                backoff.reset()
                listenedBefore = true
                // Until it listens again, changes made elsewhere go unheard:
                // what servers kept longer while they were heard goes now.
                heardChanges.changed(.everything)
            }
            if Task.isCancelled { break }
            let wait = backoff.failed()
            logger.info(
                "lost the connection that listens to the other instances; trying again",
                metadata: ["error.type": "\(failure.map { "\($0)" } ?? "ended")", "notify.retry.in": "\(wait)"])
            do {
                try await Task.sleep(for: wait)
            } catch {
                break
            }
        }
        pool.cancel()
        await pool.value
    }

    /// The pool of one connection the listener uses: `configuration`'s
    /// server, TLS and settings, its `application_name` set to `name` so
    /// that an operator finds it in `pg_stat_activity`.
    static func listenClient(_ configuration: PostgresClient.Configuration, logger: Logger, name: String) -> PostgresClient {
        var configuration = configuration
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = 1
        configuration.options.additionalStartupParameters.append(("application_name", name))
        return PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// The application name of the listener's connection (its row in
    /// `pg_stat_activity`): `notifyd-listen-<instance>`.
    public var listenerApplicationName: String { "notifyd-listen-" + instanceID }

    /// LISTENs on both channels of `connection`, calls `listening` once both
    /// are in place, then handles what arrives until the connection fails.
    private func listen(on connection: PostgresConnection, listening: () -> Void) async throws {
        let logger = logger
        let ping = configuration.listenPingInterval
        let pingLimit = configuration.statementLimit ?? .seconds(30)
        try await connection.listen(on: channels.feed) { feed in
            try await connection.listen(on: channels.directory) { directory in
                listening()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await notice in feed { self.heardFeed(notice.payload) }
                        throw StorageError(code: .unavailable, message: "the feed channel ended")
                    }
                    group.addTask {
                        for try await notice in directory { self.heardDirectory(notice.payload) }
                        throw StorageError(code: .unavailable, message: "the directory channel ended")
                    }
                    if ping > .zero {
                        group.addTask {
                            while true {
                                try await Task.sleep(for: ping)
                                try await Self.ping(connection, within: pingLimit, logger: logger)
                            }
                        }
                    }
                    defer { group.cancelAll() }
                    try await group.next()
                }
            }
        }
    }

    /// A `SELECT 1` on the listener's connection, which must answer
    /// within `limit`; else the connection is closed (its network died
    /// without closing it) and the listener connects again.
    private static func ping(_ connection: PostgresConnection, within limit: Duration, logger: Logger) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await connection.query("SELECT 1", logger: logger)
                return true
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return false
            }
            defer { group.cancelAll() }
            guard try await group.next() == true else {
                // Ends the query too, so that the group can end.
                try? await connection.close()
                throw StorageError(code: .unavailable, message: "the listener's connection did not answer its ping within \(limit)")
            }
        }
    }

    private func heardFeed(_ payload: String) {
        let (instance, feed) = PostgresNotices.feed(payload)
        guard instance != instanceID else { return }
        counters.withLock { $0.noticesHeard += 1 }
        switch feed {
        case .users(let users): feedAdvances.advanced(users: users)
        case .everyone: feedAdvances.advancedAll()
        }
    }

    private func heardDirectory(_ payload: String) {
        let (instance, change) = PostgresNotices.directory(payload)
        guard instance != instanceID else { return }
        counters.withLock { $0.noticesHeard += 1 }
        heardChanges.changed(change)
    }

    public func directoryChanges() -> DirectoryChangeStream {
        heardChanges.subscribe()
    }
}
