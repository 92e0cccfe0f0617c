import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyJSON
import NotifyMessages
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// The `notifyctl` built with the tests (beside `notifyd`); the suite is skipped without it.
private let notifyctl: URL? = {
    if let path = ProcessInfo.processInfo.environment["NOTIFYCTL_PATH"], FileManager.default.isExecutableFile(atPath: path) {
        return URL(fileURLWithPath: path)
    }
    guard let notifyd = NotifydProcess.executable() else { return nil }
    let candidate = notifyd.deletingLastPathComponent().appendingPathComponent("notifyctl")
    return FileManager.default.isExecutableFile(atPath: candidate.path) ? candidate : nil
}()

/// notifyctl as a child process against a real server: one subcommand per
/// RPC, JSON answers on stdout, failures as status and reason on stderr with
/// exit status 1.
@Suite(
    "notifyctl calls every RPC",
    .enabled(if: notifyctl != nil, "no notifyctl executable next to the test bundle (build it, or set NOTIFYCTL_PATH)")
)
struct NotifyctlTests {
    /// Runs notifyctl against `server` with `token`.
    private static func run(
        _ arguments: [String], _ server: TestServer, token: String?, scratch: TemporaryDirectory
    ) async throws -> NotifydProcess.Outcome {
        let executable = try #require(notifyctl)
        var options = ["--port", "\(server.port)", "--ca", server.caFile, "--server-name", "localhost"]
        if let token { options += ["--token", token] }
        // Subcommand words first, then the connection options and the command's own.
        return try await NotifydProcess.run(arguments + options, executable: executable, scratch: scratch.path)
    }

    /// The only line of a successful run's output, as JSON.
    private static func json(_ outcome: NotifydProcess.Outcome) throws -> JSONValue {
        #expect(outcome.status == 0, "\(outcome.standardError)")
        return try #require(JSONValue.parse(text: outcome.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// Expects a failed run: exit 1 and `status reason` on stderr.
    private static func expectFailed(_ outcome: NotifydProcess.Outcome, _ status: String, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.status == 1, "\(outcome.standardOutput)", sourceLocation: sourceLocation)
        #expect(outcome.standardError.hasPrefix("error: \(status) \(reason):"), "\(outcome.standardError)", sourceLocation: sourceLocation)
        #expect(outcome.standardOutput.isEmpty, sourceLocation: sourceLocation)
    }

    private static func withServer(_ body: (TestServer, String, TemporaryDirectory) async throws -> Void) async throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        try await withTestServer { server in
            try await body(server, try await server.adminToken(), scratch)
        }
    }

    @Test("user put prints the user; user delete deletes him, and again is NOT_FOUND USER_NOT_FOUND")
    func users() async throws {
        try await Self.withServer { server, admin, scratch in
            let put = try Self.json(try await Self.run(["user", "put", "--id", "7", "--name", "Ann"], server, token: admin, scratch: scratch))
            #expect(put == .object(["id": .integer(7), "name": .string("Ann")]))
            #expect(try await server.store.user(id: 7) == User(id: 7, name: "Ann"))
            let deleted = try await Self.run(["user", "delete", "--id", "7"], server, token: admin, scratch: scratch)
            #expect(deleted.status == 0, "\(deleted.standardError)")
            #expect(deleted.standardOutput.isEmpty)
            #expect(try await server.store.user(id: 7) == nil)
            Self.expectFailed(
                try await Self.run(["user", "delete", "--id", "7"], server, token: admin, scratch: scratch), "NOT_FOUND", "USER_NOT_FOUND")
            // Without a token: the service's refusal, not a crash.
            Self.expectFailed(
                try await Self.run(["user", "put", "--id", "8"], server, token: nil, scratch: scratch), "UNAUTHENTICATED", "MISSING_TOKEN")
        }
    }

    @Test("connection put and delete; a bad kind is INVALID_ARGUMENT naming connection.kind; deleting a missing one is CONNECTION_NOT_FOUND")
    func connections() async throws {
        try await Self.withServer { server, admin, scratch in
            try await server.users(1, 2)
            let edge = ["--user", "1", "--to", "2", "--kind", "friend"]
            let put = try await Self.run(["connection", "put"] + edge, server, token: admin, scratch: scratch)
            #expect(put.status == 0, "\(put.standardError)")
            let client = server.client()
            let toFriends = try await client.notify(notifyRequest(issuer: 1, recipients: "connections"), metadata: .bearer(admin))
            #expect(toFriends.recipients == 1)
            await client.close()
            let deleted = try await Self.run(["connection", "delete"] + edge, server, token: admin, scratch: scratch)
            #expect(deleted.status == 0, "\(deleted.standardError)")
            #expect(try await server.store.deleteConnection(Connection(user: 1, to: 2, kind: .friend)) == false)
            Self.expectFailed(
                try await Self.run(["connection", "delete"] + edge, server, token: admin, scratch: scratch), "NOT_FOUND", "CONNECTION_NOT_FOUND")
            let bad = try await Self.run(
                ["connection", "put", "--user", "1", "--to", "2", "--kind", "enemy"], server, token: admin, scratch: scratch)
            Self.expectFailed(bad, "INVALID_ARGUMENT", "INVALID_FIELDS")
            #expect(bad.standardError.contains("connection.kind"))
        }
    }

    @Test("subscription create prints it, renew moves its expiry and keeps its id, delete removes it")
    func subscriptions() async throws {
        try await Self.withServer { server, admin, scratch in
            try await server.users(3)
            let created = try Self.json(try await Self.run(
                ["subscription", "create", "--user", "3", "--app", "app.example", "--platform", "IOS", "--device-id", "d1", "--ttl", "60"],
                server, token: admin, scratch: scratch))
            let id = try #require(created["id"]?.string)
            #expect(created["platform"]?.string == "ios")
            #expect(created["user"] == .integer(3))
            #expect(created["deviceId"]?.string == "d1")
            let before = try #require(try await server.store.subscription(id: id))

            let renewed = try Self.json(try await Self.run(
                ["subscription", "renew", "--id", id, "--ttl", "3600"], server, token: admin, scratch: scratch))
            #expect(renewed["id"]?.string == id)
            let after = try #require(try await server.store.subscription(id: id))
            #expect(after.expiresAt > before.expiresAt)
            #expect(renewed["expirationDateTime"]?.string == after.expiresAt.rfc3339)

            let deleted = try await Self.run(["subscription", "delete", "--id", id], server, token: admin, scratch: scratch)
            #expect(deleted.status == 0, "\(deleted.standardError)")
            #expect(try await server.store.subscription(id: id) == nil)
            Self.expectFailed(
                try await Self.run(["subscription", "renew", "--id", id], server, token: admin, scratch: scratch),
                "NOT_FOUND", "SUBSCRIPTION_NOT_FOUND")
        }
    }

    @Test("block and unblock an app and a user; unblocking one not blocked is NOT_BLOCKED; both --app and --user is refused before any call")
    func blocking() async throws {
        try await Self.withServer { server, admin, scratch in
            try await server.users(4)
            for caller in [["--app", "spammer.example"], ["--user", "4"]] {
                let principal: Principal = caller[0] == "--app" ? .app("spammer.example") : .user(4)
                let blocked = try await Self.run(["block"] + caller, server, token: admin, scratch: scratch)
                #expect(blocked.status == 0, "\(blocked.standardError)")
                #expect(try await server.store.isBlocked(principal))
                let unblocked = try await Self.run(["unblock"] + caller, server, token: admin, scratch: scratch)
                #expect(unblocked.status == 0, "\(unblocked.standardError)")
                #expect(try await server.store.isBlocked(principal) == false)
                Self.expectFailed(
                    try await Self.run(["unblock"] + caller, server, token: admin, scratch: scratch), "NOT_FOUND", "NOT_BLOCKED")
            }
            let both = try await Self.run(["block", "--app", "a", "--user", "4"], server, token: admin, scratch: scratch)
            #expect(both.status != 0)
            #expect(both.standardError.contains("exactly one of --app and --user"))
        }
    }

    @Test("token create prints a working token; list and watch read with it; token revoke ends it: TOKEN_REVOKED")
    func tokensListAndWatch() async throws {
        try await Self.withServer { server, admin, scratch in
            try await server.users(5)
            let created = try Self.json(try await Self.run(
                ["token", "create", "--user", "5", "--role", "user", "--ttl", "3600"], server, token: admin, scratch: scratch))
            let token = try #require(created["token"]?.string)
            let tokenID = try #require(created["tokenId"]?.string)
            #expect(created["expirationDateTime"]?.string.flatMap { Timestamp(rfc3339: $0) } != nil)

            let client = server.client()
            let first = try await client.notify(notifyRequest(issuer: 5, title: "first"), metadata: .bearer(admin))
            let list = try await Self.run(["list", "--user", "5"], server, token: token, scratch: scratch)
            #expect(list.status == 0, "\(list.standardError)")
            let lines = list.standardOutput.split(separator: "\n").compactMap { JSONValue.parse(text: String($0)) }
            #expect(lines.map { $0["id"]?.string } == [first.id])
            #expect(lines.first?["sequence"] == .integer(1))

            // watch runs until stopped: its backlog, then a live entry, then SIGTERM.
            let executable = try #require(notifyctl)
            let output = scratch.path + "/watch.out"
            #expect(FileManager.default.createFile(atPath: output, contents: nil))
            let watch = Process()
            watch.executableURL = executable
            watch.arguments = [
                "watch", "--user", "5", "--port", "\(server.port)", "--ca", server.caFile, "--server-name", "localhost",
                "--token", token,
            ]
            watch.standardOutput = FileHandle(forWritingAtPath: output)
            watch.standardError = FileHandle.nullDevice
            try watch.run()
            defer { if watch.isRunning { kill(watch.processIdentifier, SIGKILL) } }
            func watched() -> [String] {
                let text = String(decoding: FileManager.default.contents(atPath: output) ?? Data(), as: UTF8.self)
                return text.split(separator: "\n").compactMap { JSONValue.parse(text: String($0))?["id"]?.string }
            }
            try await waitUntil("watch printed the backlog", timeout: .seconds(30)) { watched() == [first.id] }
            let second = try await client.notify(notifyRequest(issuer: 5, title: "second"), metadata: .bearer(admin))
            try await waitUntil("watch printed the live entry", timeout: .seconds(30)) { watched() == [first.id, second.id] }
            watch.terminate()
            await client.close()

            let revoked = try await Self.run(["token", "revoke", "--id", tokenID], server, token: admin, scratch: scratch)
            #expect(revoked.status == 0, "\(revoked.standardError)")
            Self.expectFailed(
                try await Self.run(["list", "--user", "5"], server, token: token, scratch: scratch), "UNAUTHENTICATED", "TOKEN_REVOKED")
            Self.expectFailed(
                try await Self.run(["token", "revoke", "--id", "no-such-token"], server, token: admin, scratch: scratch),
                "NOT_FOUND", "TOKEN_NOT_FOUND")
        }
    }

    @Test("entry read, unseen, state, get, delete and delete-group change the feed's state; list by subscription; ticket")
    func feedState() async throws {
        try await Self.withServer { server, admin, scratch in
            try await server.users(7)
            let client = server.client()
            let first = try await client.notify(notifyRequest(issuer: 7, title: "one"), metadata: .bearer(admin))
            let second = try await client.notify(notifyRequest(issuer: 7, title: "two"), metadata: .bearer(admin))
            let unseen = try Self.json(try await Self.run(["entry", "unseen", "--user", "7"], server, token: admin, scratch: scratch))
            #expect(unseen["count"] == .integer(2))

            let read = try Self.json(try await Self.run(
                ["entry", "read", "--user", "7", "--id", first.id], server, token: admin, scratch: scratch))
            #expect(read["sequence"] == .integer(3))
            #expect(read["unseenCount"] == .integer(1))
            // Idempotent: reading it again appends nothing.
            let again = try Self.json(try await Self.run(
                ["entry", "read", "--user", "7", "--id", first.id], server, token: admin, scratch: scratch))
            #expect(again["sequence"] == .integer(0))

            let state = try Self.json(try await Self.run(
                ["entry", "state", "--user", "7", "--id", second.id, "dismissed"], server, token: admin, scratch: scratch))
            #expect(state["sequence"] == .integer(4))
            let got = try Self.json(try await Self.run(
                ["entry", "get", "--user", "7", "--id", second.id], server, token: admin, scratch: scratch))
            #expect(got["id"]?.string == second.id)

            let deleted = try Self.json(try await Self.run(
                ["entry", "delete", "--user", "7", "--id", second.id], server, token: admin, scratch: scratch))
            #expect(deleted["unseenCount"] == .integer(0))
            Self.expectFailed(
                try await Self.run(["entry", "get", "--user", "7", "--id", second.id], server, token: admin, scratch: scratch),
                "NOT_FOUND", "NOTIFICATION_NOT_FOUND")
            let group = try Self.json(try await Self.run(
                ["entry", "delete-group", "--user", "7", "--group", "none"], server, token: admin, scratch: scratch))
            #expect(group["sequence"] == .integer(0))
            Self.expectFailed(
                try await Self.run(["entry", "read", "--user", "7", "--id", "not-a-uuid"], server, token: admin, scratch: scratch),
                "INVALID_ARGUMENT", "INVALID_FIELDS")

            // A device endpoint's part of the feed: the Notify entry that is left.
            let subscription = try await server.subscription(user: 7, app: "app.example")
            let list = try await Self.run(["list", "--subscription", subscription.id], server, token: admin, scratch: scratch)
            #expect(list.status == 0, "\(list.standardError)")
            let ids = list.standardOutput.split(separator: "\n").compactMap { JSONValue.parse(text: String($0))?["id"]?.string }
            #expect(ids == [first.id])

            let ticket = try Self.json(try await Self.run(["ticket"], server, token: admin, scratch: scratch))
            #expect(ticket["ticket"]?.string?.isEmpty == false)
            #expect(ticket["expiresDateTime"]?.string.flatMap { Timestamp(rfc3339: $0) } != nil)
        }
    }

    @Test("health, notify and send still work beside the new subcommands")
    func existing() async throws {
        try await Self.withServer { server, admin, scratch in
            let health = try await Self.run(["health"], server, token: nil, scratch: scratch)
            #expect(health.status == 0, "\(health.standardError)")
            #expect(health.standardOutput.contains("serving"))
            try await server.users(6)
            let notified = try Self.json(try await Self.run(
                ["notify", "--json", #"{"type":"wishlist","title":"Hi","description":null,"user":6,"recipients_type":"user"}"#],
                server, token: admin, scratch: scratch))
            #expect(notified["recipients"] == .integer(1))
            let subscription = try await server.subscription(user: 6, app: "app.example")
            let sent = try Self.json(try await Self.run(
                ["send", "--uns-id", subscription.id, "--json", #"{"payload":{"rawContent":"x"},"targetPolicy":{"platformTypes":["ios","ios"]},"fallbackPolicy":{"a":1}}"#],
                server, token: admin, scratch: scratch))
            #expect(sent["fallbackPolicy"] == .object(["a": .integer(1)]))
        }
    }
}

extension JSONValue {
    /// A member of an object; nil for anything else.
    fileprivate subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    fileprivate var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}
