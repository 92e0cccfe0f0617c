import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyTesting
import Testing

private let sampleApp = "graphnotifications.sample.windows.com"

/// The `notifyd` built with the tests; the suite is skipped without it.
private let notifyd = NotifydProcess.executable()

@Suite(
    "The notifyd process: graceful drain, durability, documented options",
    .enabled(if: notifyd != nil, "no notifyd executable next to the test bundle (build it, or set NOTIFYD_PATH)")
)
struct ProcessTests {
    /// A data folder bootstrapped with the admin CLI, as an operator would.
    private struct Bootstrapped {
        var executable: URL
        var scratch: TemporaryDirectory
        var dataDirectory: String
        /// An admin of user 1.
        var adminToken: String
        /// User 2's subscription for the sample app.
        var subscriptionID: String

        static func make() async throws -> Bootstrapped {
            let executable = try #require(notifyd)
            let scratch = try TemporaryDirectory()
            let data = scratch.path + "/data"
            func admin(_ arguments: [String]) async throws -> String {
                try await Self.admin(arguments, data: data, executable: executable, scratch: scratch.path)
            }
            let token = try await admin(["token", "create", "--user", "1", "--role", "admin", "--create-user"])
            #expect(token.hasPrefix("ntf_"))
            #expect(try await admin(["user", "add", "--id", "2", "--name", "bob"]) == "2")
            let subscription = try await admin([
                "subscription", "create", "--user", "2", "--app", sampleApp, "--platform", "windows",
            ])
            #expect(UUID(uuidString: subscription) != nil, "\(subscription)")
            return Bootstrapped(
                executable: executable, scratch: scratch, dataDirectory: data, adminToken: token,
                subscriptionID: subscription
            )
        }

        /// `notifyd admin` on the data folder; its output's only line.
        func admin(_ arguments: [String]) async throws -> String {
            try await Self.admin(arguments, data: dataDirectory, executable: executable, scratch: scratch.path)
        }

        private static func admin(_ arguments: [String], data: String, executable: URL, scratch: String) async throws -> String {
            try await NotifydProcess.runLine(["admin"] + arguments + ["--data-dir", data], executable: executable, scratch: scratch)
        }

        func serve(_ arguments: [String] = []) async throws -> NotifydProcess {
            try await NotifydProcess.serve(executable: executable, dataDirectory: dataDirectory, arguments: arguments)
        }
    }

    private static func client(of server: NotifydProcess) -> NotifyClient {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: server.port, trustRootsFile: server.caFile)
        configuration.defaultTimeout = .seconds(20)
        configuration.initialBackoff = .milliseconds(20)
        return NotifyClient(configuration: configuration)
    }

    private enum Outcome: Sendable {
        case ok(String)
        case unavailable(String)
        case failed(RPCError)
    }

    @Test("SIGTERM under load: every call ends OK or UNAVAILABLE, the process exits 0, and every OK is in the feed", .timeLimit(.minutes(2)))
    func drainOnSIGTERM() async throws {
        let setup = try await Bootstrapped.make()
        defer { setup.scratch.remove() }
        let server = try await setup.serve(["--drain-timeout", "10"])
        defer { server.signal(SIGKILL) }
        let admin = Metadata.bearer(setup.adminToken)
        let client = Self.client(of: server)
        // One call first, so that the 2,000 share one established connection.
        #expect(try await client.health().status == .serving)

        let total = 2_000
        // SIGTERM comes after 100 OKs (within 30 s on a loaded machine), not after 5 s.
        let acknowledged = AnswerCounter()
        let pid = server.processIdentifier
        let outcomes: [Outcome] = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                await acknowledged.sigterm(pid, after: 100, limit: .seconds(30))
                return nil
            }
            for index in 0..<total {
                group.addTask {
                    do throws(RPCError) {
                        let answer = try await client.notify(
                            notifyRequest(issuer: 1, recipients: "user", title: "call \(index)"), metadata: admin
                        )
                        acknowledged.increment()
                        return .ok(answer.id)
                    } catch where error.code == .unavailable {
                        return .unavailable(error.reason?.rawValue ?? "")
                    } catch {
                        return .failed(error)
                    }
                }
            }
            var outcomes: [Outcome] = []
            for await outcome in group {
                if let outcome { outcomes.append(outcome) }
            }
            return outcomes
        }
        await client.close()

        #expect(outcomes.count == total)
        var okIDs: [String] = []
        var unavailable: [String: Int] = [:]
        for outcome in outcomes {
            switch outcome {
            case .ok(let id): okIDs.append(id)
            case .unavailable(let reason): unavailable[reason, default: 0] += 1
            case .failed(let error): Issue.record("a call ended with \(error)")
            }
        }
        #expect(okIDs.count >= 100, "OK: \(okIDs.count), UNAVAILABLE: \(unavailable)")
        let status = await server.waitForExit(timeout: .seconds(20))
        #expect(status == 0, "exit \(String(describing: status)), signalled: \(server.wasSignalled)\n\(server.log)")
        #expect(!server.wasSignalled)
        #expect(server.log.contains("RPC server stopped"))

        // Restarted on the same folder, the feed holds exactly the acknowledged calls.
        let restarted = try await setup.serve()
        defer { restarted.signal(SIGKILL) }
        let reader = Self.client(of: restarted)
        let feed = try await reader.wholeFeed(of: 1, metadata: admin)
        await reader.close()
        #expect(feed.count == okIDs.count, "OK: \(okIDs.count), UNAVAILABLE: \(unavailable)")
        #expect(Set(feed.map(\.id)) == Set(okIDs))
        #expect(feed.map(\.sequence) == (0..<UInt64(feed.count)).map { $0 + 1 })
        restarted.signal(SIGTERM)
        #expect(await restarted.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test(
        "notifyd admin block beside a running server ends the blocked user's running Watch at once; unblock lets him back",
        .timeLimit(.minutes(1)))
    func adminBlockEndsRunningWatch() async throws {
        let setup = try await Bootstrapped.make()
        defer { setup.scratch.remove() }
        let server = try await setup.serve()
        defer { server.signal(SIGKILL) }
        let owner = Metadata.bearer(try await setup.admin(["token", "create", "--user", "2", "--role", "user"]))
        let client = Self.client(of: server)
        _ = try await client.notify(notifyRequest(issuer: 2), metadata: .bearer(setup.adminToken))
        // A deadline, so that a watch left running fails the test instead of holding it.
        var pages = client.watchFeed(ListFeedRequest(user: 2), metadata: owner, timeout: .seconds(30)).makeAsyncIterator()
        #expect(try await pages.next()?.notifications.count == 1)
        let started = ContinuousClock.now
        _ = try await setup.admin(["block", "--user", "2"])
        await expectFailure(.permissionDenied, "CALLER_BLOCKED") {
            while let page = try await pages.next() { Issue.record("a page after the block: \(page)") }
        }
        // Heard within the store's poll (250 ms), not at the Watch's next wake-up or deadline.
        #expect(ContinuousClock.now - started < .seconds(10))

        _ = try await setup.admin(["unblock", "--user", "2"])
        // Heard as the block was: his next calls pass, the first of them within a few polls.
        var listed: [NotifyDomain.Notification]?
        let deadline = ContinuousClock.now + .seconds(10)
        while listed == nil, ContinuousClock.now < deadline {
            do throws(RPCError) {
                listed = try await client.listFeed(ListFeedRequest(user: 2), metadata: owner).notifications
            } catch {
                #expect(error.code == .permissionDenied, "\(error)")
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(listed?.count == 1)
        let again = try await NotifydProcess.run(
            ["admin", "unblock", "--user", "2", "--data-dir", setup.dataDirectory], executable: setup.executable,
            scratch: setup.scratch.path)
        #expect(again.status == 1)
        #expect(again.standardError.contains("user:2 was not blocked"), "\(again.standardError)")
        await client.close()
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test(
        "notifyd admin token revoke (by the token on stdin, or by id) and user delete, beside a running server",
        .timeLimit(.minutes(1)))
    func adminRevokesAndDeletes() async throws {
        let setup = try await Bootstrapped.make()
        defer { setup.scratch.remove() }
        let server = try await setup.serve()
        defer { server.signal(SIGKILL) }
        func admin(_ arguments: [String], input: String? = nil) async throws -> NotifydProcess.Outcome {
            try await NotifydProcess.run(
                ["admin"] + arguments + ["--data-dir", setup.dataDirectory], executable: setup.executable,
                scratch: setup.scratch.path, input: input)
        }
        let token = try await setup.admin(["token", "create", "--user", "2", "--role", "user"])
        let client = Self.client(of: server)
        var pages = client.watchFeed(ListFeedRequest(user: 2), metadata: .bearer(token), timeout: .seconds(30))
            .makeAsyncIterator()
        #expect(try await pages.next()?.notifications.count == 0)

        // The token itself, on standard input: its id comes back, and the running Watch ends.
        let revoked = try await admin(["token", "revoke", "--with-token"], input: token + "\n")
        #expect(revoked.status == 0, "\(revoked.standardError)")
        let id = revoked.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("tok_"), "\(revoked.standardOutput)")
        await expectFailure(.unauthenticated, "TOKEN_REVOKED") {
            while let page = try await pages.next() { Issue.record("a page after the revocation: \(page)") }
        }
        await expectFailure(.unauthenticated, "TOKEN_REVOKED") {
            try await client.listFeed(ListFeedRequest(user: 2), metadata: .bearer(token))
        }
        // By id, again: still known, so it answers as before; an unknown one exits 1.
        #expect(try await admin(["token", "revoke", "--id", id]).standardOutput.contains(id))
        let unknownID = try await admin(["token", "revoke", "--id", "tok_0000000000000000"])
        #expect(unknownID.status == 1)
        #expect(unknownID.standardError.contains("there is no token tok_0000000000000000"), "\(unknownID.standardError)")
        let unknownToken = try await admin(["token", "revoke", "--with-token"], input: "ntf_not-a-token\n")
        #expect(unknownToken.status == 1)
        #expect(unknownToken.standardError.contains("no such token"), "\(unknownToken.standardError)")
        #expect(try await admin(["token", "revoke", "--with-token"], input: "").status == 1)
        #expect(try await admin(["token", "revoke"]).status != 0)
        #expect(try await admin(["token", "revoke", "--id", id, "--with-token"]).status != 0)

        let deleted = try await admin(["user", "delete", "--id", "2"])
        #expect(deleted.status == 0, "\(deleted.standardError)")
        await expectFailure(.notFound, "USER_NOT_FOUND") {
            try await client.notify(notifyRequest(issuer: 2), metadata: .bearer(setup.adminToken))
        }
        let again = try await admin(["user", "delete", "--id", "2"])
        #expect(again.status == 1)
        #expect(again.standardError.contains("user 2 does not exist"), "\(again.standardError)")
        await client.close()
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("SIGKILL right after the answers loses nothing acknowledged", .timeLimit(.minutes(1)))
    func durableAfterSIGKILL() async throws {
        let setup = try await Bootstrapped.make()
        defer { setup.scratch.remove() }
        let server = try await setup.serve()
        defer { server.signal(SIGKILL) }
        let admin = Metadata.bearer(setup.adminToken)
        let client = Self.client(of: server)
        let subscriptionID = setup.subscriptionID

        let (notified, sent) = try await withThrowingTaskGroup(of: (String?, String?).self) { group in
            for index in 0..<300 {
                group.addTask {
                    let answer = try await client.notify(
                        notifyRequest(issuer: 1, recipients: "user", title: "durable \(index)"), metadata: admin
                    )
                    return (answer.id, nil)
                }
            }
            for _ in 0..<30 {
                group.addTask {
                    let answer = try await client.sendNotification(
                        SendNotificationRequest(
                            payload: PayloadInput(visualContent: VisualContentInput(title: "Hello World!")), priority: "High"
                        ),
                        subscriptionID: subscriptionID, metadata: admin
                    )
                    return (nil, answer.notification.id)
                }
            }
            var notified: [String] = []
            var sent: [String] = []
            for try await (notify, send) in group {
                if let notify { notified.append(notify) }
                if let send { sent.append(send) }
            }
            return (notified, sent)
        }
        // No graceful anything: the answers are all the server owes.
        server.signal(SIGKILL)
        #expect(await server.waitForExit(timeout: .seconds(10)) != nil)
        #expect(server.wasSignalled)
        await client.close()

        let restarted = try await setup.serve()
        defer { restarted.signal(SIGKILL) }
        let reader = Self.client(of: restarted)
        let issuerFeed = try await reader.wholeFeed(of: 1, metadata: admin)
        let subscriberFeed = try await reader.wholeFeed(of: 2, metadata: admin)
        await reader.close()
        #expect(issuerFeed.count == notified.count)
        #expect(Set(issuerFeed.map(\.id)) == Set(notified))
        #expect(issuerFeed.map(\.sequence) == (0..<UInt64(issuerFeed.count)).map { $0 + 1 })
        #expect(subscriberFeed.count == sent.count)
        #expect(Set(subscriberFeed.map(\.id)) == Set(sent))
        #expect(subscriberFeed.compactMap(graphContent).allSatisfy { $0.targetHostName == sampleApp && $0.priority == .high })
        restarted.signal(SIGTERM)
        #expect(await restarted.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("notifyd serve --help names every flag and NOTIFY_* variable of docs/OPERATIONS.md")
    func helpMatchesOperations() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let help = try await NotifydProcess.run(["serve", "--help"], executable: executable, scratch: scratch.path)
        #expect(help.status == 0)
        let text = help.standardOutput + help.standardError

        let operations = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/OPERATIONS.md")
        // The `notifyd serve` tables, before `notifyd gateway`'s own: rows of flag(s), variable(s), default, meaning.
        let document = try String(contentsOf: operations, encoding: .utf8)
            .components(separatedBy: "`notifyd gateway --upstream")[0]
        var variables: [String] = []
        var flags: [String] = []
        for line in document.split(separator: "\n") where line.hasPrefix("| `--") {
            let cells = line.split(separator: "|").map { String($0) }
            guard cells.count >= 2 else { continue }
            flags += Self.quoted(in: cells[0]).filter { $0.hasPrefix("--") }
            variables += Self.quoted(in: cells[1])
        }
        #expect(variables.count >= 14, "\(variables)")
        #expect(variables.count == flags.count, "\(flags) \(variables)")
        for variable in variables {
            #expect(variable.hasPrefix("NOTIFY_"))
            #expect(text.contains(variable), "serve --help does not mention \(variable)")
        }
        for flag in flags {
            #expect(text.contains(flag), "serve --help does not mention \(flag)")
        }
    }

    /// The `backquoted` words of a Markdown table cell.
    private static func quoted(in cell: String) -> [String] {
        cell.split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }
            .map { String($0.element) }
    }
}
