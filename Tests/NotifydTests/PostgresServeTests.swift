import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyTesting
import Synchronization
import Testing

/// `notifyd serve` and `notifyd admin` on `--store postgres://...`, as child
/// processes, each test in a schema of its own on the test server.
@Suite(
    "notifyd on PostgreSQL: serve, admin, two instances, a database that goes away",
    .enabled(if: TestPostgres.runs && TestPostgres.notifyd != nil, "\(TestPostgres.missing), and notifyd built")
)
struct PostgresServeTests {
    /// A schema bootstrapped with `notifyd admin`, as an operator would.
    private struct Bootstrapped {
        var executable: URL
        var scratch: TemporaryDirectory
        var url: String
        var schema: String
        /// An admin of user 1.
        var adminToken: String

        static func make(url: String? = nil, schema: String? = nil) async throws -> Bootstrapped {
            let executable = try #require(TestPostgres.notifyd)
            let scratch = try TemporaryDirectory()
            let location = try TestPostgres.location()
            let url = url ?? location.url
            let token = try await NotifydProcess.runLine(
                ["admin", "token", "create", "--user", "1", "--role", "admin", "--create-user", "--store", url,
                 "--data-dir", scratch.path + "/admin"],
                executable: executable, scratch: scratch.path)
            #expect(token.hasPrefix("ntf_"))
            return Bootstrapped(
                executable: executable, scratch: scratch, url: url, schema: schema ?? location.schema, adminToken: token)
        }

        /// A `notifyd serve` on the store, with a data folder of its own (its TLS files).
        func serve(_ name: String, gateway: Bool = false, url: String? = nil, arguments: [String] = []) async throws
            -> NotifydProcess
        {
            try await NotifydProcess.serve(
                executable: executable, dataDirectory: scratch.path + "/" + name,
                arguments: ["--store", url ?? self.url] + arguments, gateway: gateway)
        }

        func remove() async {
            await TestPostgres.dropSchema(schema)
            scratch.remove()
        }
    }

    @Test("admin bootstraps the store; Notify over RPC and over the gateway land and list; no SQLite file, no lock", .timeLimit(.minutes(2)))
    func serveOnPostgres() async throws {
        let setup = try await Bootstrapped.make()
        let user2 = try await NotifydProcess.runLine(
            ["admin", "user", "add", "--id", "2", "--name", "bob", "--store", setup.url], executable: setup.executable,
            scratch: setup.scratch.path)
        #expect(user2 == "2")
        let subscription = try await NotifydProcess.runLine(
            ["admin", "subscription", "create", "--user", "2", "--app", "app.example.com", "--platform", "windows",
             "--store", setup.url],
            executable: setup.executable, scratch: setup.scratch.path)
        #expect(UUID(uuidString: subscription) != nil, "\(subscription)")

        let server = try await setup.serve("a", gateway: true)
        defer { server.signal(SIGKILL) }
        let admin = Metadata.bearer(setup.adminToken)
        let client = TestPostgres.client(of: server)
        let answer = try await client.notify(TestPostgres.notify(issuer: 1, title: "over RPC"), metadata: admin)
        let http = try #require(server.httpPort)
        let posted = try await HTTPOnce.request(
            port: http, method: "POST", path: "/api/v2/notification/notify/",
            headers: [("Authorization", "Bearer \(setup.adminToken)"), ("Content-Type", "application/json")],
            body: #"{"recipients_type":"user","type":"t","title":"over the gateway","description":null,"user":1}"#)
        #expect(posted.status == 204, "\(posted.body)")
        let feed = try await client.wholeFeed(of: 1, metadata: admin)
        #expect(feed.map(\.id).first == answer.id)
        #expect(feed.compactMap { if case .custom(let c) = $0.content { c.title } else { nil } } == ["over RPC", "over the gateway"])
        await client.close()
        // The data folder holds the TLS files only: the data is in PostgreSQL, and instances share it.
        let files = try FileManager.default.contentsOfDirectory(atPath: setup.scratch.path + "/a")
        #expect(!files.contains("notify.sqlite") && !files.contains("notifyd.lock"), "\(files)")
        #expect(files.contains("tls"))
        #expect(server.log.contains("notify.store.url=postgres://"))
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(20)) == 0, "\(server.log)")
        await setup.remove()
    }

    @Test("a password in the store URL is refused, naming PGPASSWORD and never repeating it")
    func passwordInURL() async throws {
        let executable = try #require(TestPostgres.notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let target = try TestPostgres.target()
        let url = "postgres://notify:hunter2@\(target.host):\(target.port)/notify"
        for arguments in [
            ["serve", "--store", url, "--data-dir", scratch.path + "/d", "--rpc-port", "0", "--no-gateway"],
            ["admin", "user", "add", "--id", "3", "--store", url],
        ] {
            let outcome = try await NotifydProcess.run(arguments, executable: executable, scratch: scratch.path)
            #expect(outcome.status != 0)
            #expect(outcome.standardError.contains("PGPASSWORD"), "\(outcome.standardError)")
            #expect(!(outcome.standardError + outcome.standardOutput).contains("hunter2"))
        }
    }

    @Test("a passfile open to group or others is ignored with libpq's warning; a 0600 one is read", .timeLimit(.minutes(1)))
    func passfileModes() async throws {
        let setup = try await Bootstrapped.make()
        let passfile = setup.scratch.path + "/pgpass"
        let target = try TestPostgres.target()
        // The test server trusts loopback, so the password is not checked: the rules are (PostgresPasswordTests).
        try "\(target.host):\(target.port):*:notify:secret\n".write(toFile: passfile, atomically: true, encoding: .utf8)
        for (mode, warned) in [(0o644, true), (0o600, false)] {
            #expect(chmod(passfile, mode_t(mode)) == 0)
            let outcome = try await NotifydProcess.run(
                ["admin", "user", "add", "--id", "4", "--store", setup.url], executable: setup.executable,
                scratch: setup.scratch.path, environment: ["PGPASSFILE": passfile, "PGPASSWORD": ""])
            #expect(outcome.status == 0, "\(outcome.standardError)")
            #expect(outcome.standardError.contains("has group or world access") == warned, "\(outcome.standardError)")
            #expect(!outcome.standardError.contains("secret"))
        }
        await setup.remove()
    }

    @Test("two instances on one database: Notify on B is listed on A, and a Watch on A hears it live", .timeLimit(.minutes(2)))
    func twoInstances() async throws {
        let setup = try await Bootstrapped.make()
        let a = try await setup.serve("a")
        defer { a.signal(SIGKILL) }
        let b = try await setup.serve("b")
        defer { b.signal(SIGKILL) }
        let admin = Metadata.bearer(setup.adminToken)
        let onA = TestPostgres.client(of: a)
        let onB = TestPostgres.client(of: b)
        // Live: a Watch on A, Notify on B only; nothing commits on A to wake it.
        let watch = LiveWatch(client: onA, metadata: admin)
        try await waitUntil("the watch caught up") { watch.caughtUp }
        var live: [String] = []
        for index in 0..<5 {
            live.append(try await onB.notify(TestPostgres.notify(issuer: 1, title: "live \(index)"), metadata: admin).id)
            try await watch.waitFor(live)
        }
        #expect(watch.entries.map(\.id) == live)
        await watch.stop()
        var ids: [String] = live
        for index in 0..<10 {
            let client = index.isMultiple(of: 2) ? onB : onA
            ids.append(try await client.notify(TestPostgres.notify(issuer: 1, title: "n\(index)"), metadata: admin).id)
        }
        let feed = try await onA.wholeFeed(of: 1, metadata: admin)
        #expect(feed.map(\.id) == ids)
        #expect(feed.map(\.sequence) == Array(1...UInt64(ids.count)))
        await onA.close()
        await onB.close()
        await setup.remove()
    }

    private enum Outcome: Sendable {
        case ok(String)
        case refused
    }

    @Test(
        "SIGKILL an instance mid-stream under load: every acknowledged notification is stored, and a reader resuming on the other from its cursor gets them all, no gap, no duplicate",
        .timeLimit(.minutes(3)))
    func sigkillUnderLoad() async throws {
        let setup = try await Bootstrapped.make()
        let a = try await setup.serve("a")
        defer { a.signal(SIGKILL) }
        let b = try await setup.serve("b")
        defer { b.signal(SIGKILL) }
        let admin = Metadata.bearer(setup.adminToken)
        let onA = TestPostgres.client(of: a, timeout: .seconds(30))
        let onB = TestPostgres.client(of: b, timeout: .seconds(30))
        #expect(try await onB.health().status == .serving)

        // A live reader on A, the survivor, all along.
        let survivor = LiveWatch(client: onA, metadata: admin)
        // A reader streams user 1's feed from B, the instance about to die.
        let doomed = LiveWatch(client: onB, metadata: admin)
        try await waitUntil("both watches caught up") { survivor.caughtUp && doomed.caughtUp }

        let total = 2_000
        let acknowledged = AnswerCounter()
        let pid = b.processIdentifier
        let outcomes: [Outcome] = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                let deadline = ContinuousClock.now + .seconds(60)
                // Mid-stream: once B's reader has had some of it.
                while acknowledged.value < 300 || doomed.entries.isEmpty, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(1))
                }
                kill(pid, SIGKILL)
                return nil
            }
            for index in 0..<total {
                let client = index.isMultiple(of: 2) ? onA : onB
                group.addTask {
                    do throws(RPCError) {
                        let answer = try await client.notify(TestPostgres.notify(issuer: 1, title: "n\(index)"), metadata: admin)
                        acknowledged.increment()
                        return .ok(answer.id)
                    } catch {
                        // B died with it in flight: not acknowledged, stored or not.
                        return .refused
                    }
                }
            }
            var outcomes: [Outcome] = []
            for await outcome in group {
                if let outcome { outcomes.append(outcome) }
            }
            return outcomes
        }
        _ = await b.waitForExit(timeout: .seconds(10))
        #expect(b.wasSignalled)
        await doomed.stop()
        let okIDs = outcomes.compactMap { if case .ok(let id) = $0 { id } else { nil } }
        #expect(okIDs.count >= 300, "acknowledged: \(okIDs.count)")
        // A's half kept working while B died.
        #expect(okIDs.count >= total / 2 - 1, "acknowledged: \(okIDs.count)")

        // The reader resumes on A from its cursor.
        var (entries, cursor) = (doomed.entries, doomed.cursor)
        #expect(!entries.isEmpty, "the reader saw nothing before the kill")
        while true {
            let page = try await onA.listFeed(ListFeedRequest(user: 1, afterSequence: cursor, limit: 500), metadata: admin)
            entries += page.notifications
            cursor = page.nextAfterSequence
            if page.caughtUp { break }
        }
        let ids = entries.map(\.id)
        #expect(Set(ids).count == ids.count, "duplicates")
        #expect(entries.map(\.sequence) == Array(1...UInt64(entries.count)), "gap")
        #expect(Set(okIDs).isSubset(of: Set(ids)), "missing \(Set(okIDs).subtracting(ids).count)")
        // And the store holds exactly what the reader got.
        let stored = try await onA.wholeFeed(of: 1, metadata: admin)
        #expect(stored.map(\.id) == ids)
        // The Watch on A heard all of it live, B's commits included: no gap, no duplicate.
        try await survivor.waitFor(ids)
        #expect(survivor.entries.map(\.id) == ids)

        // After the crash, a new instance's commits reach the Watch on A live.
        let b2 = try await setup.serve("b2")
        defer { b2.signal(SIGKILL) }
        let onB2 = TestPostgres.client(of: b2)
        let after = try await onB2.notify(TestPostgres.notify(issuer: 1, title: "after the crash"), metadata: admin).id
        try await survivor.waitFor([after])
        #expect(survivor.entries.map(\.id) == ids + [after])
        #expect(survivor.entries.map(\.sequence) == Array(1...UInt64(ids.count + 1)))
        await survivor.stop()
        await onB2.close()
        await onA.close()
        await onB.close()
        await setup.remove()
    }

    /// A Notify retried while it answers UNAVAILABLE or DEADLINE_EXCEEDED (the instance not yet
    /// back), for 90 s at most.
    private static func notifyOnceBack(_ client: NotifyClient, metadata: Metadata) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(90)
        while true {
            let outcome: Result<String, RPCError>
            do {
                outcome = .success(try await client.notify(TestPostgres.notify(issuer: 1, title: "from b"), metadata: metadata).id)
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let id):
                return id
            case .failure(let error):
                guard error.code == .unavailable, ContinuousClock.now < deadline
                else { throw error }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    @Test(
        "the database cut: Notify answers UNAVAILABLE STORE_UNAVAILABLE at once, the gateway 503, readiness off, liveness on; restored: it recovers by itself",
        .timeLimit(.minutes(3)))
    func databaseGoesAway() async throws {
        let target = try TestPostgres.target()
        let forwarder = try await TCPForwarder(targetHost: target.host, targetPort: target.port)
        let location = try TestPostgres.location(port: forwarder.port)
        let setup = try await Bootstrapped.make(url: location.url, schema: location.schema)
        let server = try await setup.serve("a", gateway: true)
        defer { server.signal(SIGKILL) }
        // A second instance on the same database, and a reader on the first.
        let other = try await setup.serve("b")
        defer { other.signal(SIGKILL) }
        let admin = Metadata.bearer(setup.adminToken)
        let client = TestPostgres.client(of: server)
        let otherClient = TestPostgres.client(of: other)
        // Both ready before the cut: an instance whose store cannot migrate at start exits
        // (docs/OPERATIONS.md), a loaded machine may still be migrating b's, and readiness
        // stays off until it has.
        let bothReady = ContinuousClock.now + .seconds(60)
        for instance in [client, otherClient] {
            while (try? await instance.health(service: "notify.v1.Readiness").status) != .serving, ContinuousClock.now < bothReady {
                try await Task.sleep(for: .milliseconds(50))
            }
            try #require(try await instance.health(service: "notify.v1.Readiness").status == .serving)
        }
        let watch = LiveWatch(client: client, metadata: admin, resumes: true)
        try await waitUntil("the watch caught up") { watch.caughtUp }
        var acknowledged = [try await client.notify(TestPostgres.notify(issuer: 1, title: "before"), metadata: admin).id]
        #expect(try await client.health(service: "notify.v1.Readiness").status == .serving)

        forwarder.cut()
        // Readiness flips with no call made (the store's probe); liveness does not.
        let deadline = ContinuousClock.now + .seconds(30)
        while try await client.health(service: "notify.v1.Readiness").status == .serving, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await client.health(service: "notify.v1.Readiness").status != .serving)
        #expect(try await client.health().status == .serving)
        let started = ContinuousClock.now
        do {
            _ = try await client.notify(TestPostgres.notify(issuer: 1, title: "during"), metadata: admin)
            Issue.record("a Notify succeeded with the database cut")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.reason == .storeUnavailable, "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(3), "took \(ContinuousClock.now - started)")
        let http = try #require(server.httpPort)
        let posted = try await HTTPOnce.request(
            port: http, method: "POST", path: "/api/v2/notification/notify/",
            headers: [("Authorization", "Bearer \(setup.adminToken)"), ("Content-Type", "application/json")],
            body: #"{"recipients_type":"user","type":"t","title":"during","description":null,"user":1}"#)
        #expect(posted.status == 503, "\(posted.body)")
        let ready = try await HTTPOnce.request(port: http, method: "GET", path: "/readyz")
        #expect(ready.status == 503, "\(ready.body)")
        #expect(try await HTTPOnce.request(port: http, method: "GET", path: "/healthz").status == 200)

        forwarder.restore()
        let back = ContinuousClock.now + .seconds(90)
        while try await client.health(service: "notify.v1.Readiness").status != .serving, ContinuousClock.now < back {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await client.health(service: "notify.v1.Readiness").status == .serving)
        acknowledged.append(try await client.notify(TestPostgres.notify(issuer: 1, title: "after"), metadata: admin).id)
        let feed = try await client.wholeFeed(of: 1, metadata: admin)
        #expect(feed.map(\.id) == acknowledged)
        #expect(feed.map(\.sequence) == [1, 2])
        // The other instance recovers too, and live delivery across instances with it: its
        // commit reaches the reader on this one (its LISTEN connection re-established), no gap,
        // no duplicate.
        do {
            acknowledged.append(try await Self.notifyOnceBack(otherClient, metadata: admin))
        } catch {
            Issue.record("instance b did not take a Notify once the database was back: \(error)\n\(other.log)")
            throw error
        }
        #expect(try await client.wholeFeed(of: 1, metadata: admin).map(\.id) == acknowledged)
        try await watch.waitFor(acknowledged, timeout: .seconds(30))
        #expect(watch.entries.map(\.id) == acknowledged)
        await watch.stop()
        await otherClient.close()
        #expect(server.log.contains("the database cannot be reached"))
        #expect(server.log.contains("the database answers again"))
        await client.close()
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(20)) == 0, "\(server.log)")
        await forwarder.close()
        await setup.remove()
    }
}

/// A Watch of user 1's feed that keeps what it hears, for a test to check
/// (live delivery across instances): the entries in order and the last cursor.
final class LiveWatch: Sendable {
    private final class Heard: Sendable {
        let state = Mutex<(entries: [NotifyDomain.Notification], cursor: UInt64, caughtUp: Bool)>(([], 0, false))
    }

    private let heard = Heard()
    private let task: Task<Void, Never>

    /// - Parameter resumes: after a failed Watch, watch again from the
    ///   cursor (as a real reader does), until stopped.
    init(client: NotifyClient, metadata: Metadata, user: Int64 = 1, resumes: Bool = false) {
        let heard = heard
        task = Task {
            repeat {
                do {
                    let after = heard.state.withLock { $0.cursor }
                    for try await page in client.watchFeed(
                        ListFeedRequest(user: user, afterSequence: after, limit: 100), metadata: metadata)
                    {
                        heard.state.withLock { state in
                            state.entries += page.notifications
                            state.cursor = page.nextAfterSequence
                            state.caughtUp = state.caughtUp || page.caughtUp
                        }
                    }
                } catch {
                    // Ended by its server or the test: the state says how far it got.
                }
                try? await Task.sleep(for: .milliseconds(100))
            } while resumes && !Task.isCancelled
        }
    }

    var entries: [NotifyDomain.Notification] { heard.state.withLock { $0.entries } }
    var cursor: UInt64 { heard.state.withLock { $0.cursor } }
    var caughtUp: Bool { heard.state.withLock { $0.caughtUp } }

    /// Waits until it has heard `ids`.
    func waitFor(_ ids: [String], timeout: Duration = .seconds(15)) async throws {
        let wanted = Set(ids)
        try await waitUntil("the watch heard \(ids.count) notifications", timeout: timeout) {
            wanted.isSubset(of: Set(entries.map(\.id)))
        }
    }

    func stop() async {
        task.cancel()
        await task.value
    }
}
