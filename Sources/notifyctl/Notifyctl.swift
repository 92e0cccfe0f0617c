import ArgumentParser
import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyJSON

/// notifyctl: calls the notify RPCs from a shell.
@main
struct Notifyctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifyctl",
        abstract: "Call the notify service over its TLS RPC protocol.",
        discussion: """
            One subcommand per RPC: health, notify, send, list and watch (feed is both), user put|delete, \
            connection put|delete, subscription create|renew|delete, block, unblock, token create|revoke, \
            entry read|unseen|state|delete|delete-group|get, ticket. \
            A failed call prints its status, reason and message on stderr and exits 1.
            """,
        subcommands: [
            Health.self, NotifyCommand.self, Send.self, Feed.self, List.self, Watch.self, UserCommand.self,
            ConnectionCommand.self, SubscriptionCommand.self, Block.self, Unblock.self, TokenCommand.self,
            EntryCommand.self, Ticket.self,
        ]
    )
}

/// Where the server is and who is calling.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "The server's host. [NOTIFY_HOST, default 127.0.0.1]") var host: String?
    @Option(help: "The server's RPC port. [NOTIFY_RPC_PORT, default 7443]") var port: Int?
    @Option(help: "PEM CA file that signed the server certificate. [NOTIFY_CA, default ./data/tls/ca.crt]") var ca: String?
    @Option(help: "The name the server certificate must carry. [default: the host]") var serverName: String?
    @Option(help: "PEM client certificate, for a server that requires mTLS.") var cert: String?
    @Option(help: "PEM key of --cert.") var key: String?
    @Option(help: "Bearer token. [NOTIFY_TOKEN]") var token: String?
    @Option(help: "Idempotency key: a retried call with the same key stores once.") var idempotencyKey: String?
    @Option(help: "Deadline in seconds.") var timeout: Double = 10

    func client() -> NotifyClient {
        let env = ProcessInfo.processInfo.environment
        let host = host ?? env["NOTIFY_HOST"] ?? "127.0.0.1"
        var configuration = ClientConfiguration(
            host: host,
            port: port ?? env["NOTIFY_RPC_PORT"].flatMap(Int.init) ?? 7443,
            trustRootsFile: ca ?? env["NOTIFY_CA"] ?? "./data/tls/ca.crt",
            serverName: serverName,
            certificateChainFile: cert,
            privateKeyFile: key
        )
        configuration.keepaliveInterval = nil
        return NotifyClient(configuration: configuration)
    }

    var metadata: Metadata {
        var metadata = Metadata()
        if let token = token ?? ProcessInfo.processInfo.environment["NOTIFY_TOKEN"] {
            metadata.add("authorization", "Bearer \(token)")
        }
        if let idempotencyKey { metadata.add("idempotency-key", idempotencyKey) }
        return metadata
    }

    /// `--timeout` as a duration, held to 1 ms ... 1e9 s so that no value
    /// traps the conversion (a NaN counts as the longest).
    var deadline: Duration {
        let seconds = timeout.isNaN ? 1e9 : Swift.min(Swift.max(timeout, 0.001), 1e9)
        return .milliseconds(Int64(seconds * 1000))
    }

    /// Runs one call on a fresh client and closes it; a failed call prints
    /// its status, reason and message and exits 1.
    func perform<T>(_ body: (NotifyClient) async throws(RPCError) -> T) async throws -> T {
        let client = client()
        let result: Result<T, RPCError>
        do {
            result = .success(try await body(client))
        } catch {
            result = .failure(error)
        }
        await client.close()
        switch result {
        case .success(let value):
            return value
        case .failure(let error):
            throw Self.report(error)
        }
    }

    /// Prints a failed call's status, reason and message on stderr; exit 1.
    static func report(_ error: RPCError) -> ExitCode {
        var text = "error: \(error.code.name)"
        if let reason = error.reason { text += " \(reason)" }
        text += ": \(error.message)"
        for violation in error.fieldViolations { text += "\n  \(violation.field): \(violation.description)" }
        FileHandle.standardError.write(Data((text + "\n").utf8))
        return ExitCode(1)
    }
}

func readJSON(_ argument: String) throws -> Data {
    if argument.hasPrefix("@") {
        return try Data(contentsOf: URL(fileURLWithPath: String(argument.dropFirst())))
    }
    return Data(argument.utf8)
}

func printViolations(_ error: NotifyDomain.ValidationError) -> ExitCode {
    var text = "error: INVALID_ARGUMENT: the JSON body does not match the contract"
    for violation in error.violations { text += "\n  \(violation.field): \(violation.message)" }
    FileHandle.standardError.write(Data((text + "\n").utf8))
    return ExitCode(1)
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check the server's health (exit 0 when serving).")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "A service name; empty for the whole server.") var service: String?

    func run() async throws {
        let response = try await connection.perform { client async throws(RPCError) in
            try await client.health(service: service, timeout: connection.deadline)
        }
        print(response.status)
        if response.status != .serving { throw ExitCode(2) }
    }
}

struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Notify: SelfCommunity's custom notification (admin token).",
        discussion: #"Example: notifyctl notify --json '{"type":"wishlist","title":"Hi","description":null,"user":1}'"#
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The documented JSON body, or @file.") var json: String

    func run() async throws {
        let request: NotifyRequest
        do {
            request = try ContractJSON.notifyRequest(try readJSON(json))
        } catch let error as NotifyDomain.ValidationError {
            throw printViolations(error)
        }
        let response = try await connection.perform { client async throws(RPCError) in
            try await client.notify(request, metadata: connection.metadata, timeout: connection.deadline)
        }
        print(JSONValue.object(["id": .string(response.id), "recipients": .integer(Int64(clamping: response.recipients))]).text)
    }
}

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "SendNotification: Graph's create and send, to the user of a subscription.",
        discussion: #"Example: notifyctl send --uns-id ID --json '{"payload":{"visualContent":{"title":"Hello"}}}'"#
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The subscription id (X-UNS-ID).") var unsId: String
    @Option(help: "The documented JSON body, or @file.") var json: String

    func run() async throws {
        let request: SendNotificationRequest
        do {
            request = try ContractJSON.sendNotificationRequest(try readJSON(json))
        } catch let error as NotifyDomain.ValidationError {
            throw printViolations(error)
        }
        let response = try await connection.perform { client async throws(RPCError) in
            try await client.sendNotification(
                request, subscriptionID: unsId, metadata: connection.metadata, timeout: connection.deadline
            )
        }
        print(response.notification.graphEntityText() ?? "{}")
    }
}

struct Feed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a user's feed, one JSON object per line, oldest first.",
        discussion: """
            With --follow it keeps reading: entries are printed as they are stored, and after a \
            lost connection or a server restart it resumes from the last one printed, with no gap \
            and no repeat. It stops on another error or when interrupted.
            """
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Only entries after this sequence number.") var after: UInt64 = 0
    @OptionGroup var feed: FeedSelection
    @Option(help: "At most this many entries (1 to 1000); with --follow, per message.") var limit: UInt32 = 100
    @Flag(help: "Keep reading, live, over a server stream.") var follow = false

    func run() async throws {
        try await Self.read(connection: connection, feed: feed, after: after, limit: limit, follow: follow)
    }

    /// List once, or Watch (`follow`) with resumption; shared by `feed`, `list` and `watch`.
    static func read(connection: ConnectionOptions, feed: FeedSelection, after: UInt64, limit: UInt32, follow: Bool) async throws {
        guard follow else {
            let response = try await connection.perform { client async throws(RPCError) in
                try await client.listFeed(
                    feed.request(after: after, limit: limit), metadata: connection.metadata,
                    timeout: connection.deadline
                )
            }
            for notification in response.notifications {
                print(notification.feedEntryText)
            }
            return
        }
        var cursor = after
        while true {
            let client = connection.client()
            let failure: RPCError
            do {
                let pages = client.watchFeed(
                    feed.request(after: cursor, limit: limit), metadata: connection.metadata)
                for try await page in pages {
                    var lines = ""
                    for notification in page.notifications { lines += notification.feedEntryText + "\n" }
                    FileHandle.standardOutput.write(Data(lines.utf8))
                    cursor = page.nextAfterSequence
                }
                await client.close()
                return
            } catch {
                failure = (error as? RPCError) ?? RPCError(code: .unknown, message: "\(error)")
            }
            await client.close()
            guard failure.code == .unavailable else { throw ConnectionOptions.report(failure) }
            FileHandle.standardError.write(Data("resuming after sequence \(cursor): \(failure.message)\n".utf8))
            try await Task.sleep(for: .seconds(1))
        }
    }
}

/// List: the feed once, as `feed` prints it.
struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a user's feed once (FeedService/List), one JSON object per line, oldest first.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Only entries after this sequence number.") var after: UInt64 = 0
    @OptionGroup var feed: FeedSelection
    @Option(help: "At most this many entries (1 to 1000).") var limit: UInt32 = 100

    func run() async throws {
        try await Feed.read(connection: connection, feed: feed, after: after, limit: limit, follow: false)
    }
}

/// Watch: `feed --follow`.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch a user's feed (FeedService/Watch): the backlog, then entries as they are stored.",
        discussion: "As feed --follow: resumes after a lost connection with no gap and no repeat.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Only entries after this sequence number.") var after: UInt64 = 0
    @OptionGroup var feed: FeedSelection
    @Option(help: "At most this many entries per message (1 to 1000).") var limit: UInt32 = 100

    func run() async throws {
        try await Feed.read(connection: connection, feed: feed, after: after, limit: limit, follow: true)
    }
}

/// Whose feed: a user's (`--user`), or one device endpoint's part of it
/// (`--subscription`, the X-UNS-ID), optionally one view (`--source`).
struct FeedSelection: ParsableArguments {
    @Option(help: "The user.") var user: Int64?
    @Option(help: "A subscription id: only the entries of that device endpoint.") var subscription: String?
    @Option(help: "Only notify (Notify) or graph (SendNotification) entries.") var source: String?

    func validate() throws {
        guard user != nil || subscription != nil else { throw ValidationError("Give --user, --subscription or both.") }
    }

    func request(after: UInt64, limit: UInt32) -> ListFeedRequest {
        ListFeedRequest(user: user, afterSequence: after, limit: limit, subscription: subscription, source: source)
    }
}
