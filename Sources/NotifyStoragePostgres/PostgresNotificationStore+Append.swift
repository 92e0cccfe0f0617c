import Foundation
import Logging
import NotifyDomain
public import NotifyStorage
import PostgresNIO
import Synchronization

extension PostgresNotificationStore {
    /// Queues the append for the group-commit writer; `completion` runs once
    /// its transaction has committed (or failed).
    ///
    /// - Failures: as ``NotificationLog/append(_:completion:)`` says;
    ///   ``StorageError/Code/busy`` at once when
    ///   ``PostgresStoreConfiguration/maxPendingAppends`` wait already,
    ///   ``StorageError/Code/unavailable`` once the store has stopped, or when
    ///   the connection was lost before its commit was confirmed (the append
    ///   may be stored: the caller retries it with its idempotency key).
    public func append(
        _ notification: NewNotification,
        completion: @escaping @Sendable (Result<AppendResult, StorageError>) -> Void
    ) {
        let pending = PendingAppend(notification, completion: completion)
        if let refusal = queue.enqueue(.append(pending)) {
            completion(.failure(refusal))
        }
    }

    /// The group-commit writer: commits the queued appends batch by batch
    /// until the queue is closed and drained. While a transaction runs, the
    /// appends that come wait in the queue and go together in the next.
    func runWriter() async {
        var lastPurge: ContinuousClock.Instant?
        while let batch = await queue.next(limit: max(1, configuration.maxAppendsPerTransaction)) {
            lastAppendBatch.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
            let now = ContinuousClock.now
            // Bounded, at most once a minute: a backlog cannot delay a batch much.
            let purge = lastPurge.map { now - $0 >= .seconds(60) } ?? true
            if purge { lastPurge = now }
            var appends: [PendingAppend] = []
            var changes: [(FeedChange, @Sendable (Result<FeedChangeOutcome, StorageError>) -> Void)] = []
            for pending in batch {
                switch pending {
                case .append(let append): appends.append(append)
                case .change(let change, let completion): changes.append((change, completion))
                }
            }
            let handoff = FanOutHandoff(inlineLimit: configuration.inlineFanOutLimit)
            let (outcomes, changed, reached) = await commit(appends, changes.map(\.0), purge: purge, handoff: handoff)
            metrics.recordBatch(size: batch.count, waiting: batch.count, since: now)
            counters.withLock {
                $0.appends += appends.count
                $0.feedChanges += changes.count
                $0.writerBatches += 1
                $0.largestBatch = max($0.largestBatch, batch.count)
            }
            feedAdvances.advanced(users: reached)
            jobsCommitted(handoff, outcomes)
            for (append, outcome) in zip(appends, outcomes) {
                append.completion(outcome.result(for: append))
            }
            for ((_, completion), outcome) in zip(changes, changed) {
                completion(outcome)
            }
        }
    }

    /// Commits `batch` and `changes` and says what happened to each.
    ///
    /// The usual batch (`.users` appends only, no changes) is one statement
    /// and commits by itself: one round trip. Any other runs in a
    /// transaction. When the database refuses the usual batch because keys
    /// were seen before (retries), those appends run alone and the rest
    /// together again (``keysApart(_:_:_:)``). Any other batch it refuses (an
    /// append that must be handled alone, a deadlock with another instance)
    /// runs again append by append, each in a savepoint, so that a refused
    /// one fails alone.
    /// - Returns: an outcome per append and per change, and the users whose feeds advanced.
    private func commit(_ batch: [PendingAppend], _ changes: [FeedChange], purge: Bool, handoff: FanOutHandoff) async
        -> ([PostgresAppendOutcome], [Result<FeedChangeOutcome, StorageError>], [Int64])
    {
        let nowMicros = Timestamp.now().microsecondsSince1970
        let retention = configuration.idempotencyRetention.components
        let retentionMicros = retention.seconds * 1_000_000 + retention.attoseconds / 1_000_000_000_000
        let cutoff = nowMicros - retentionMicros
        let logger = logger
        let limit = configuration.maxFeedEntries
        let notices = configuration.sendsNotices ? (channel: channels.feed, instance: instanceID) : nil
        let alone = changes.isEmpty && batch.allSatisfy { if case .users = $0.item.recipients { true } else { false } }
        do {
            return try await leased("committing \(batch.count) appends") { connection in
                let writer = BatchWriter(
                    connection: connection, logger: logger, now: nowMicros, cutoff: cutoff, limit: limit, handoff: handoff,
                    notices: notices)
                // On its own: what it frees is free whatever the batch does.
                if purge { try await writer.purgeKeys() }
                do {
                    if alone {
                        do {
                            let (outcomes, reached) = try await writer.multiRow(batch, notifying: true)
                            return (outcomes, [], reached)
                        } catch let error as PSQLError where error.serverInfo != nil {
                            // Refused: nothing of it committed.
                            guard let apart = try await self.keysApart(batch, writer, connection) else { throw error }
                            return (apart.0, [], apart.1)
                        } catch {
                            // The statement was its commit.
                            throw StorageError.commitOutcomeUnknown(error)
                        }
                    }
                    return try await Self.transaction(connection, logger) {
                        let (outcomes, reached) = batch.isEmpty ? ([], []) : try await writer.multiRow(batch, notifying: false)
                        let (changed, users) = try await writer.changes(changes)
                        try await self.sendFeedNotices(reached + users, connection)
                        return (outcomes, changed, reached + users)
                    }
                } catch let error as PSQLError where error.serverInfo != nil {
                    // A refusal, or a deadlock with another instance: each alone, in savepoints.
                    self.counters.withLock { $0.isolatedBatches += 1 }
                    handoff.rolledBack()
                    return try await Self.transaction(connection, logger) {
                        let (outcomes, reached) = try await writer.isolated(batch)
                        let (changed, users) = try await writer.changes(changes)
                        try await self.sendFeedNotices(reached + users, connection)
                        return (outcomes, changed, reached + users)
                    }
                }
            }
        } catch {
            let failure = StorageError(mappingPostgres: error, during: "committing \(batch.count) appends")
            logger.info("an append batch failed", metadata: ["error.type": "\(failure)"])
            return (
                Array(repeating: .failed(failure), count: batch.count), Array(repeating: .failure(failure), count: changes.count), []
            )
        }
    }

    /// Commits a usual batch the database refused, when keys it holds were
    /// seen before (retries, or a key twice in the batch): those appends run
    /// alone in a transaction of their own, each in a savepoint (a replay, a
    /// key reused, an expired key taken over), after the rest has committed
    /// together. Under a storm of retries, one retry per batch would
    /// otherwise send every batch append by append.
    /// - Returns: an outcome per append and the users whose feeds advanced;
    ///   nil when no key was seen before (the refusal has another reason,
    ///   and nothing was written).
    /// - Throws: only before the rest's statement committed (nothing of the
    ///   batch is then written, the caller handles it alone), or
    ///   ``StorageError/commitOutcomeUnknown(_:)`` when it may have.
    private func keysApart(_ batch: [PendingAppend], _ writer: BatchWriter, _ connection: PostgresConnection) async throws
        -> ([PostgresAppendOutcome], [Int64])?
    {
        let seen = try await writer.seenKeys(batch)
        guard !seen.isEmpty else { return nil }
        let rest = batch.indices.filter { !seen.contains($0) }
        let apart = batch.indices.filter { seen.contains($0) }
        var outcomes = [PostgresAppendOutcome?](repeating: nil, count: batch.count)
        var reached: [Int64] = []
        if !rest.isEmpty {
            do {
                let (written, users) = try await writer.multiRow(rest.map { batch[$0] }, notifying: true)
                for (index, outcome) in zip(rest, written) { outcomes[index] = outcome }
                reached = users
            } catch let error as PSQLError where error.serverInfo != nil {
                throw error
            } catch {
                throw StorageError.commitOutcomeUnknown(error)
            }
        }
        counters.withLock { $0.appendsApart += apart.count }
        // The rest has committed: from here nothing throws, each append apart
        // gets its own outcome.
        do {
            let logger = logger
            let (alone, users) = try await Self.transaction(connection, logger) {
                let (alone, users) = try await writer.isolated(apart.map { batch[$0] })
                try await self.sendFeedNotices(users, connection)
                return (alone, users)
            }
            for (index, outcome) in zip(apart, alone) { outcomes[index] = outcome }
            reached += users
        } catch {
            let failure = StorageError(mappingPostgres: error, during: "appending \(apart.count) appends whose keys were seen before")
            for index in apart { outcomes[index] = .failed(failure) }
        }
        let missing = StorageError(code: .internalError, message: "an append of a batch got no outcome")
        return (outcomes.map { $0 ?? .failed(missing) }, reached)
    }

    /// The statements of one batch's transaction, on its connection.
    struct BatchWriter {
        let connection: PostgresConnection
        let logger: Logger
        let now: Int64
        /// Keys created before this are expired: free again.
        let cutoff: Int64
        let limit: Int64?
        /// Where a connections append above the inline limit records its job.
        let handoff: FanOutHandoff
        /// The feed channel and this instance's id, when commits send notices.
        var notices: (channel: String, instance: String)? = nil

        /// The indices in `batch` of the keyed appends whose key is stored
        /// already, or named by an earlier append of the batch.
        func seenKeys(_ batch: [PendingAppend]) async throws -> Set<Int> {
            struct Triple: Hashable {
                let scope: String, method: String, key: String
            }
            var seen = Set<Int>()
            var named = Set<Triple>()
            var scopes: [String] = [], methods: [String] = [], keys: [String] = [], indices: [Int64] = []
            for (index, append) in batch.enumerated() {
                guard let key = append.item.idempotencyKey else { continue }
                guard named.insert(Triple(scope: key.scope, method: key.method, key: key.key)).inserted else {
                    seen.insert(index)
                    continue
                }
                scopes.append(key.scope)
                methods.append(key.method)
                keys.append(key.key)
                indices.append(Int64(index))
            }
            guard !indices.isEmpty else { return seen }
            var bindings = PostgresBindings()
            bindings.append(scopes)
            bindings.append(methods)
            bindings.append(keys)
            bindings.append(indices)
            let rows = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT u.i FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS u(s, m, k, i)
                        WHERE EXISTS (SELECT 1 FROM idempotency d WHERE d.scope = u.s AND d.method = u.m AND d.key = u.k)
                        """,
                    binds: bindings),
                logger: logger)
            for try await index in rows.decode(Int64.self) { seen.insert(Int(index)) }
            return seen
        }

        /// Deletes expired idempotency keys, a bounded number.
        func purgeKeys() async throws {
            try await connection.query(
                """
                DELETE FROM idempotency WHERE ctid IN (
                    SELECT ctid FROM idempotency WHERE created_at < \(cutoff) LIMIT 10000)
                """,
                logger: logger)
        }

        /// The whole batch's `.users` appends in one statement, its
        /// connections appends after it (one statement each), and the keys
        /// of those: the usual path.
        ///
        /// The statement writes the notifications, the keys (with what a
        /// replay answers, for `.users` appends), the heads of every user
        /// named, advanced by how many entries the batch gives each, in user
        /// order (two instances lock common heads in the same order), and the
        /// feed rows numbered from the heads it returns, in batch order; with
        /// `notifying`, it also sends the feed notices. What only an append
        /// alone can settle (a key seen before, by any instance, or twice in
        /// the batch; a duplicate id; a feed past its bound) fails the
        /// statement: all of it is undone, and nothing of it was sent. So it
        /// may run outside a transaction, and then it is the batch's commit.
        /// - Parameter notifying: whether the statement sends the notices
        ///   for the users it reaches (the caller sends them otherwise).
        /// - Throws: `PSQLError` from the server when an append must be
        ///   handled alone.
        func multiRow(_ batch: [PendingAppend], notifying: Bool) async throws -> ([PostgresAppendOutcome], [Int64]) {
            var counts: [Int64: (notify: Int64, graph: Int64)] = [:]
            var entryIDs: [String] = [], entryUsers: [Int64] = [], entryRanks: [Int64] = []
            var given: [Int64: Int64] = [:]
            // Per keyed append: its first recipient and that entry's rank
            // among the batch's entries for him (0: no first entry).
            var keyed: [(append: PendingAppend, key: IdempotencyKey, first: Int64, rank: Int64)] = []
            for append in batch {
                for user in append.users {
                    if append.graph { counts[user, default: (0, 0)].graph += 1 } else { counts[user, default: (0, 0)].notify += 1 }
                    given[user, default: 0] += 1
                    entryIDs.append(append.item.id)
                    entryUsers.append(user)
                    entryRanks.append(given[user] ?? 1)
                }
                if let key = append.item.idempotencyKey {
                    // Each user is named once per append: his count so far
                    // is the rank of this append's entry for him.
                    let first = append.users.first
                    keyed.append((append, key, first ?? 0, first.map { given[$0] ?? 0 } ?? 0))
                }
            }
            let users = counts.keys.sorted()
            var bindings = PostgresBindings()
            notificationBindings(batch, &bindings)
            bindings.append(users)
            bindings.append(users.map { counts[$0].map { $0.notify + $0.graph } ?? 0 })
            bindings.append(users.map { counts[$0]?.notify ?? 0 })
            bindings.append(users.map { counts[$0]?.graph ?? 0 })
            bindings.append(entryIDs)
            bindings.append(entryUsers)
            bindings.append(entryRanks)
            bindings.append(keyed.map(\.append.item.id))
            bindings.append(keyed.map(\.key.scope))
            bindings.append(keyed.map(\.key.method))
            bindings.append(keyed.map(\.key.key))
            bindings.append(keyed.map { ByteBuffer(bytes: $0.key.fingerprint) })
            bindings.append(keyed.map { Int64($0.append.users.count) })
            bindings.append(keyed.map(\.first))
            bindings.append(keyed.map(\.rank))
            bindings.append(now)
            bindings.append(limit)
            let notify = notifying ? notices : nil
            bindings.append(notify?.channel ?? "")
            bindings.append(users.isEmpty ? [] : notify.map { PostgresNotices.feedPayloads(instance: $0.instance, users: users) } ?? [])
            // Only connections appends need their serial back: each row
            // costs both sides a decode.
            let audiences = batch.filter { if case .connections = $0.item.recipients { true } else { false } }
            bindings.append(audiences.map(\.item.id))
            var serials: [String: Int64] = [:]
            var inserted: Int64 = 0
            var nextSeq: [Int64: Int64] = [:]
            let rows = try await connection.execute(AppendBatch(bindings: bindings), logger: logger)
            for try await (tag, a, b, id) in rows {
                switch tag {
                case 0: serials[id] = a
                case 1:
                    let added = counts[a].map { $0.notify + $0.graph } ?? 0
                    nextSeq[a] = b - added + 1
                case 4: inserted = a
                default: break
                }
            }

            // What each `.users` append got, as the statement numbered it.
            // The statement may have committed: a row missing from its answer
            // is an error of the store, not a reason to write again.
            let missing = StorageError(code: .internalError, message: "the database's answer to an append batch lacks a row it wrote")
            guard inserted == batch.count else { throw missing }
            var outcomes: [PostgresAppendOutcome] = []
            outcomes.reserveCapacity(batch.count)
            var reached: [Int64] = []
            for append in batch {
                guard case .users = append.item.recipients else {
                    outcomes.append(.appended(recipients: 0, first: nil))  // written below
                    continue
                }
                var first: (user: Int64, seq: Int64)?
                for user in append.users {
                    guard let seq = nextSeq[user] else { throw missing }
                    nextSeq[user] = seq + 1
                    if first == nil { first = (user, seq) }
                }
                reached.append(contentsOf: append.users)
                outcomes.append(.appended(recipients: Int64(append.users.count), first: first))
            }

            // Connections audiences, each one statement that advances the
            // heads and writes the rows in SQL (in the caller's transaction).
            var completed: [(PendingAppend, PostgresAppendOutcome)] = []
            for (index, append) in batch.enumerated() {
                guard case .connections(let issuer, let mode) = append.item.recipients else { continue }
                guard let serial = serials[append.item.id] else { throw missing }
                let (recipients, written) = try await writeConnections(
                    issuer: issuer, mode: mode, serial: serial, graph: append.graph, lockingHeads: false)
                reached.append(contentsOf: written.map(\.user))
                let first = written.min { $0.user < $1.user }
                outcomes[index] = .appended(recipients: recipients, first: first)
                if append.item.idempotencyKey != nil { completed.append((append, outcomes[index])) }
            }
            try await completeKeys(completed, serials)
            return (outcomes, reached)
        }

        /// Appends the 9 bindings of ``insertNotificationsSQL`` for `batch`
        /// to `bindings` (which must be empty: they are $1 to $9).
        private func notificationBindings(_ batch: [PendingAppend], _ bindings: inout PostgresBindings) {
            bindings.append(batch.map(\.item.id))
            bindings.append(batch.map(\.createdAt))
            bindings.append(batch.map(\.kind))
            bindings.append(batch.map(\.json))
            bindings.append(batch.map { $0.expiresAt != nil })
            bindings.append(batch.map { $0.expiresAt ?? 0 })
            bindings.append(batch.map { $0.app != nil })
            bindings.append(batch.map { $0.app ?? "" })
            bindings.append(batch.map { $0.platforms ?? "" })
        }

        /// Fills in the keys of connections appends, once their audiences are written.
        private func completeKeys(_ appended: [(PendingAppend, PostgresAppendOutcome)], _ serials: [String: Int64]) async throws {
            var scopes: [String] = [], methods: [String] = [], keys: [String] = []
            var notifications: [Int64] = [], recipients: [Int64] = [], firstUsers: [Int64] = [], firstSeqs: [Int64] = []
            for (append, outcome) in appended {
                guard let key = append.item.idempotencyKey, case .appended(let count, let first) = outcome,
                    let serial = serials[append.item.id]
                else { continue }
                scopes.append(key.scope)
                methods.append(key.method)
                keys.append(key.key)
                notifications.append(serial)
                recipients.append(count)
                firstUsers.append(first?.user ?? 0)
                // A sequence is never 0: 0 stands for "no first entry".
                firstSeqs.append(first?.seq ?? 0)
            }
            guard !scopes.isEmpty else { return }
            var bindings = PostgresBindings()
            bindings.append(scopes)
            bindings.append(methods)
            bindings.append(keys)
            bindings.append(notifications)
            bindings.append(recipients)
            bindings.append(firstUsers)
            bindings.append(firstSeqs)
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        UPDATE idempotency i SET notification = u.n, recipients = u.r,
                            first_user = CASE WHEN u.fs = 0 THEN NULL ELSE u.fu END,
                            first_seq = CASE WHEN u.fs = 0 THEN NULL ELSE u.fs END
                        FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
                            AS u(s, m, k, n, r, fu, fs)
                        WHERE i.scope = u.s AND i.method = u.m AND i.key = u.k
                        """,
                    binds: bindings),
                logger: logger)
        }

        /// Each change in a savepoint of its own, after the batch's appends:
        /// one that fails is undone alone.
        /// - Returns: an outcome per change, and the users whose feeds advanced.
        func changes(_ changes: [FeedChange]) async throws -> ([Result<FeedChangeOutcome, StorageError>], [Int64]) {
            var outcomes: [Result<FeedChangeOutcome, StorageError>] = []
            var users: [Int64] = []
            for change in changes {
                try await connection.query("SAVEPOINT notify_change", logger: logger)
                do {
                    let outcome = try await PostgresNotificationStore.apply(change, connection, logger)
                    try await connection.query("RELEASE SAVEPOINT notify_change", logger: logger)
                    if case .changed = outcome { users.append(change.user) }
                    outcomes.append(.success(outcome))
                } catch let error as PSQLError where error.serverInfo == nil {
                    throw error
                } catch {
                    try await connection.query("ROLLBACK TO SAVEPOINT notify_change", logger: logger)
                    try await connection.query("RELEASE SAVEPOINT notify_change", logger: logger)
                    outcomes.append(
                        .failure(StorageError(mappingPostgres: error, during: "changing the state of user \(change.user)'s feed")))
                }
            }
            return (outcomes, users)
        }

        /// The batch append by append, each in a savepoint: a refused one is
        /// undone alone and fails with its own error.
        func isolated(_ batch: [PendingAppend]) async throws -> ([PostgresAppendOutcome], [Int64]) {
            var outcomes: [PostgresAppendOutcome] = []
            var reached: [Int64] = []
            for append in batch {
                try await connection.query("SAVEPOINT notify_append", logger: logger)
                do {
                    let (outcome, users) = try await appendOne(append)
                    try await connection.query("RELEASE SAVEPOINT notify_append", logger: logger)
                    outcomes.append(outcome)
                    reached.append(contentsOf: users)
                } catch let error as PSQLError where error.serverInfo == nil {
                    // The connection is gone: nothing of this batch can be done.
                    throw error
                } catch {
                    try await connection.query("ROLLBACK TO SAVEPOINT notify_append", logger: logger)
                    try await connection.query("RELEASE SAVEPOINT notify_append", logger: logger)
                    outcomes.append(.failed(StorageError(mappingPostgres: error, during: "appending \(append.item.id)")))
                }
            }
            return (outcomes, reached)
        }

        /// One append, alone.
        /// - Returns: its outcome and the users whose feeds it advanced.
        private func appendOne(_ append: PendingAppend) async throws -> (PostgresAppendOutcome, [Int64]) {
            let item = append.item
            if let key = item.idempotencyKey {
                let fingerprint = ByteBuffer(bytes: key.fingerprint)
                let inserted = try await connection.query(
                    """
                    INSERT INTO idempotency (scope, method, key, fingerprint, created_at)
                    VALUES (\(key.scope), \(key.method), \(key.key), \(fingerprint), \(now))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """,
                    logger: logger
                ).collect()
                if inserted.isEmpty {
                    // Committed before (by any instance), or earlier in this batch.
                    let rows = try await connection.query(
                        """
                        SELECT fingerprint, notification, recipients, first_user, first_seq, created_at FROM idempotency
                        WHERE scope = \(key.scope) AND method = \(key.method) AND key = \(key.key) FOR UPDATE
                        """,
                        logger: logger
                    ).collect()
                    guard let row = rows.first else { throw StorageError(code: .busy, message: "an idempotency key changed under an append") }
                    let (stored, serial, recipients, firstUser, firstSeq, createdAt) =
                        try row.decode((ByteBuffer, Int64?, Int64?, Int64?, Int64?, Int64).self)
                    if createdAt >= cutoff {
                        guard Array(stored.readableBytesView) == key.fingerprint else {
                            throw StorageError(
                                code: .idempotencyKeyReused, message: "the idempotency key was used with another request")
                        }
                        guard let serial else {
                            throw StorageError(code: .corrupt, message: "an idempotency key names no notification")
                        }
                        return (.replayed(try await replay(serial, recipients ?? 0, firstUser, firstSeq)), [])
                    }
                    // Expired but not yet purged: the key is free again.
                    try await connection.query(
                        """
                        UPDATE idempotency SET fingerprint = \(fingerprint), created_at = \(now), notification = NULL,
                            recipients = NULL, first_user = NULL, first_seq = NULL
                        WHERE scope = \(key.scope) AND method = \(key.method) AND key = \(key.key)
                        """,
                        logger: logger)
                }
            }

            var bindings = PostgresBindings()
            notificationBindings([append], &bindings)
            let inserted = try await connection.query(
                PostgresQuery(unsafeSQL: PostgresNotificationStore.insertNotificationsSQL, binds: bindings), logger: logger
            ).collect()
            guard let row = inserted.first else {
                throw StorageError(code: .internalError, message: "an inserted notification has no serial")
            }
            let (serial, _) = try row.decode((Int64, String).self)
            let written: [(user: Int64, seq: Int64)]
            let recipients: Int64
            var first: (user: Int64, seq: Int64)?
            switch item.recipients {
            case .users:
                written = try await writeAudience(
                    Audience(users: append.users), serial: serial, graph: append.graph, lockingHeads: true)
                recipients = Int64(written.count)
                // The first recipient named (that was not full).
                let seqs = Dictionary(written.map { ($0.user, $0.seq) }, uniquingKeysWith: { a, _ in a })
                first = append.users.lazy.compactMap { user in seqs[user].map { (user, $0) } }.first
                if written.isEmpty && !append.users.isEmpty {
                    throw StorageError(
                        code: .feedFull, message: "the recipient's feed holds its most entries (\(limit ?? 0))")
                }
            case .connections(let issuer, let mode):
                (recipients, written) = try await writeConnections(
                    issuer: issuer, mode: mode, serial: serial, graph: append.graph, lockingHeads: true)
                first = written.min { $0.user < $1.user }
            }
            if let key = item.idempotencyKey {
                try await connection.query(
                    """
                    UPDATE idempotency SET notification = \(serial), recipients = \(recipients),
                        first_user = \(first?.user), first_seq = \(first?.seq)
                    WHERE scope = \(key.scope) AND method = \(key.method) AND key = \(key.key)
                    """,
                    logger: logger)
            }
            return (.appended(recipients: recipients, first: first), written.map(\.user))
        }

        /// The first call's answer, rebuilt from what it stored.
        private func replay(_ serial: Int64, _ recipients: Int64, _ firstUser: Int64?, _ firstSeq: Int64?) async throws -> AppendResult {
            let rows = try await connection.query(
                "SELECT id, created_at, kind, content FROM notifications WHERE serial = \(serial)", logger: logger
            ).collect()
            guard let row = rows.first else {
                throw StorageError(code: .corrupt, message: "an idempotency key names a missing notification")
            }
            let (id, createdAt, kind, content) = try row.decode((String, Int64, String, String).self)
            var first: NotifyDomain.Notification?
            if let firstUser, let firstSeq {
                first = NotifyDomain.Notification(
                    id: id, sequence: UInt64(max(0, firstSeq)), user: firstUser,
                    createdAt: Timestamp(microsecondsSince1970: createdAt),
                    content: try PostgresContent.decode(kind: kind, json: content))
            }
            return AppendResult(id: id, recipients: UInt64(max(0, recipients)), first: first, replayed: true)
        }

        /// Gives every user `audience` selects (less those whose feed is full)
        /// the next number of his feed and a row for `serial`, in one
        /// statement: the heads advance (row-locked until COMMIT, in user
        /// order) and the feed rows are written from what they return.
        /// - Returns: each user written, with his entry's sequence.
        ///
        /// A feed at the bound is skipped, as the statement began. Another
        /// writer may add to a feed between then and this statement's lock
        /// on its head: with `lockingHeads` the heads are locked first, by a
        /// statement of their own, so that the bound is read exactly (the
        /// path that decides each append alone); otherwise a feed found past
        /// the bound once its head is locked fails the statement
        /// (``AppendBatch``'s refusal), and its batch goes append by append.
        func writeAudience(_ audience: Audience, serial: Int64, graph: Bool, lockingHeads: Bool) async throws
            -> [(user: Int64, seq: Int64)]
        {
            var bindings = audience.bindings
            var sql = audience.sql
            var refusal = ""
            if let limit {
                if lockingHeads {
                    // A head that exists is locked by its no-op update, one that does not is created.
                    try await connection.query(
                        PostgresQuery(
                            unsafeSQL: """
                                INSERT INTO feed_heads (user_id, last_seq) SELECT a.user_id, 0 FROM (\(sql)) a ORDER BY a.user_id
                                ON CONFLICT (user_id) DO UPDATE SET last_seq = feed_heads.last_seq
                                """,
                            binds: bindings),
                        logger: logger)
                }
                bindings.append(limit)
                let l = "$\(bindings.count)"
                sql = """
                    SELECT b.user_id FROM (\(sql)) b WHERE NOT EXISTS (
                        SELECT 1 FROM feed_heads h WHERE h.user_id = b.user_id AND h.last_seq >= \(l)
                        AND h.last_seq - (SELECT min(f.seq) FROM feed f WHERE f.user_id = b.user_id) + 1 >= \(l))
                    """
                if !lockingHeads {
                    refusal = """
                        UNION ALL SELECT notify_refuse('an append must be handled alone'), 0 WHERE EXISTS (
                            SELECT 1 FROM heads h WHERE h.last_seq > \(l) AND h.last_seq + 1 - \(PostgresNotificationStore.firstSeq("h")) > \(l))
                        """
                }
            }
            bindings.append(serial)
            let n = "$\(bindings.count)"
            let unseen = graph ? "unseen_graph" : "unseen_notify"
            let rows = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        WITH heads AS (
                            INSERT INTO feed_heads (user_id, last_seq, \(unseen))
                            SELECT a.user_id, 1, 1 FROM (\(sql)) a ORDER BY a.user_id
                            ON CONFLICT (user_id) DO UPDATE SET last_seq = feed_heads.last_seq + 1,
                                \(unseen) = feed_heads.\(unseen) + 1
                            RETURNING user_id, last_seq),
                        f AS (INSERT INTO feed (user_id, seq, notification) SELECT user_id, last_seq, \(n) FROM heads
                            RETURNING user_id, seq)
                        SELECT user_id, seq FROM f
                        \(refusal)
                        """,
                    binds: bindings),
                logger: logger)
            var written: [(user: Int64, seq: Int64)] = []
            for try await (user, seq) in rows.decode((Int64, Int64).self) { written.append((user, seq)) }
            return written
        }
    }

    /// The first entry of the feed whose head is `head`, as a statement
    /// that has just advanced that head sees it: the first entry in its
    /// snapshot, or, for a feed empty then, the one after the head as it
    /// stood (entries another writer added since are counted too). A
    /// feed's first entry only moves up meanwhile, so a count made from it
    /// may be too large (the append is then decided alone), never too small.
    static func firstSeq(_ head: String) -> String {
        """
        coalesce((SELECT min(seq) FROM feed WHERE feed.user_id = \(head).user_id),
            (SELECT s.last_seq FROM feed_heads s WHERE s.user_id = \(head).user_id) + 1, 1)
        """
    }

    /// One multi-row INSERT of notifications, returning each serial with its
    /// id; $1 to $9 are its columns, one array each.
    static let insertNotificationsSQL = """
        INSERT INTO notifications (id, created_at, kind, content, expires_at, app, platforms)
        SELECT id, created_at, kind, content, CASE WHEN has_expiry THEN expires_at END,
            CASE WHEN has_app THEN app END,
            CASE WHEN kind = 'graph' THEN string_to_array(platforms, ',') END
        FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::bool[], $6::int8[], $7::bool[],
            $8::text[], $9::text[])
            AS u(id, created_at, kind, content, has_expiry, expires_at, has_app, app, platforms)
        RETURNING serial, id
        """

    /// ``BatchWriter/multiRow(_:notifying:)``'s statement, prepared once per
    /// connection: planning it anew cost PostgreSQL more than running it
    /// at small batches. One text for every batch, so that it is one
    /// statement to prepare: an empty array writes nothing, a NULL bound
    /// checks nothing.
    ///
    /// $1–$9 the notifications; $10–$13 the users named, what each is
    /// given (in all, by Notify, by SendNotification); $14–$16 the feed
    /// rows (notification id, user, rank among the batch's rows for him);
    /// $17–$24 the keys (notification id, scope, method, key, fingerprint,
    /// recipients, first recipient, that entry's rank: 0 for none); $25
    /// now; $26 the feed bound (NULL: none); $27 and $28 the feed channel
    /// and the payloads to send on it; $29 the ids whose serials the caller
    /// needs. Rows: (0, serial, 0, id) per notification of $29, (1, user,
    /// last_seq, '') per head, (3, payloads sent, 0, '') and (4,
    /// notifications written, 0, ''); part 2 returns no row: it fails the
    /// statement when an append must be handled alone: a key seen before or
    /// twice, or a feed past its bound (``firstSeq(_:)``).
    struct AppendBatch: PostgresPreparedStatement {
        static let name = "notify_append_batch"
        /// Joined to `h`: where each head stood before (its new last_seq
        /// less what it was given).
        private static let before = "JOIN unnest($10::int8[], $11::int8[]) AS a(user_id, added) ON a.user_id = h.user_id"
        static let sql = """
            WITH n AS (\(insertNotificationsSQL)),
            h AS (
                INSERT INTO feed_heads (user_id, last_seq, unseen_notify, unseen_graph)
                SELECT * FROM unnest($10::int8[], $11::int8[], $12::int8[], $13::int8[])
                ON CONFLICT (user_id) DO UPDATE SET last_seq = feed_heads.last_seq + excluded.last_seq,
                    unseen_notify = feed_heads.unseen_notify + excluded.unseen_notify,
                    unseen_graph = feed_heads.unseen_graph + excluded.unseen_graph
                RETURNING user_id, last_seq),
            f AS (
                INSERT INTO feed (user_id, seq, notification)
                SELECT e.user_id, h.last_seq - a.added + e.rank, n.serial
                FROM unnest($14::text[], $15::int8[], $16::int8[]) AS e(id, user_id, rank)
                JOIN n ON n.id = e.id
                JOIN h ON h.user_id = e.user_id
                \(before)
                RETURNING 1),
            k AS (
                INSERT INTO idempotency (scope, method, key, fingerprint, created_at, notification, recipients,
                    first_user, first_seq)
                SELECT u.s, u.m, u.k, u.f, $25, n.serial, u.r, CASE WHEN u.rank > 0 THEN u.fu END,
                    CASE WHEN u.rank > 0 THEN h.last_seq - a.added + u.rank END
                FROM unnest($17::text[], $18::text[], $19::text[], $20::text[], $21::bytea[], $22::int8[], $23::int8[],
                    $24::int8[]) AS u(id, s, m, k, f, r, fu, rank)
                JOIN n ON n.id = u.id
                LEFT JOIN h ON h.user_id = u.fu
                LEFT JOIN unnest($10::int8[], $11::int8[]) AS a(user_id, added) ON a.user_id = h.user_id
                ON CONFLICT DO NOTHING RETURNING 1)
            SELECT 0, serial, 0::int8, id FROM n WHERE id = ANY($29::text[])
            UNION ALL SELECT 1, user_id, last_seq, '' FROM h
            UNION ALL SELECT 2, notify_refuse('an append must be handled alone'), 0, ''
                WHERE (SELECT count(*) FROM k) <> cardinality($17::text[])
                OR ($26::int8 IS NOT NULL AND EXISTS (
                    SELECT 1 FROM h WHERE h.last_seq > $26 AND h.last_seq + 1 - \(firstSeq("h")) > $26))
            UNION ALL SELECT 3, count(pg_notify($27, p)), 0, '' FROM unnest($28::text[]) AS p
            UNION ALL SELECT 4, count(*), 0, '' FROM n
            """
        typealias Row = (Int32, Int64, Int64, String)

        let bindings: PostgresBindings

        func makeBindings() -> PostgresBindings { bindings }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// The users an append goes to, as SQL selecting distinct `user_id`s,
    /// with its bindings ($1 on).
    struct Audience {
        var sql: String
        var bindings = PostgresBindings()

        /// Exactly these users (already distinct).
        init(users: [Int64]) {
            bindings.append(users)
            sql = "SELECT unnest($1::int8[]) AS user_id"
        }

        /// The issuer's friends or followers, never the issuer. Friendships
        /// are stored once with the lower id first, so the two branches never
        /// select the same user.
        init(issuer: Int64, mode: CommunityMode) {
            bindings.append(issuer)
            switch mode {
            case .friendship:
                sql = """
                    SELECT to_user AS user_id FROM connections WHERE user_id = $1 AND kind = 'friend' AND to_user <> $1
                    UNION ALL
                    SELECT user_id FROM connections WHERE to_user = $1 AND kind = 'friend' AND user_id <> $1
                    """
            case .follow:
                sql = "SELECT user_id FROM connections WHERE to_user = $1 AND kind = 'follow' AND user_id <> $1"
            }
        }
    }
}
