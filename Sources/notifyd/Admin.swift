import ArgumentParser
import Foundation
import Logging
import NotifyDomain
import NotifyServer
import NotifyStorage
import NotifyStoragePostgres
import NotifyStorageSQLite

/// `notifyd admin`: bootstrap commands that work on the store directly (the
/// data folder's SQLite file, or the `--store` PostgreSQL database).
///
/// They exist so that a first admin token, users and subscriptions can be
/// made before any RPC is possible. SQLite in WAL mode with a busy timeout,
/// and PostgreSQL's transactions, make them safe while servers run on the same store.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bootstrap administration on the data folder or --store (safe while the server runs).",
        subcommands: [
            TokenCommand.self, UserCommand.self, ConnectionCommand.self, SubscriptionCommand.self, BlockCommand.self,
            UnblockCommand.self,
        ]
    )
}

struct DataDirOption: ParsableArguments {
    @Option(name: Setting.dataDir.name, help: Setting.dataDir.help) var dataDir: String?
    @Option(name: Setting.store.name, help: Setting.store.help) var store: String?

    /// Opens the store, runs it while `body` runs, then stops it (every
    /// append committed) and closes it. A short-lived command: the store is
    /// an existential here, off any call's path.
    func withStore<T>(_ body: (any NotificationStore) async throws -> T) async throws -> T {
        let store = try openStore()
        return try await store.withRunning { try await body($0) }
    }

    private func openStore() throws -> any NotificationStore {
        var flags = FlagValues()
        flags.set(.dataDir, self.dataDir)
        flags.set(.store, self.store)
        let settings = Settings(flags: flags)
        let dataDir = try settings.string(.dataDir, default: Defaults.dataDir)
        let location = try StoreLocation.read(settings, dataDir: dataDir) { warning in
            FileHandle.standardError.write(Data("notifyd: \(warning)\n".utf8))
        }
        let logger = Logger(label: "notifyd.admin", factory: { _ in SwiftLogNoOpLogHandler() })
        switch location {
        case .sqlite(let path):
            try Storage.prepareDataDirectory(dataDir)
            // Fan-out jobs, sweeping and hearing others' changes are the
            // server's to run; a short-lived command leaves them.
            var configuration = SQLiteStoreConfiguration()
            configuration.runsBackgroundFanOut = false
            configuration.sweepInterval = .zero
            configuration.directoryPollInterval = .zero
            return try SQLiteNotificationStore(path: path, configuration: configuration, logger: logger)
        case .postgres(var configuration):
            // The same for PostgreSQL; the command's few calls need few connections.
            configuration.sweepInterval = .zero
            configuration.subscriptionSweepInterval = .zero
            configuration.maximumConnections = 3
            configuration.writers = 1
            return try PostgresNotificationStore(configuration: configuration, logger: logger)
        }
    }
}

/// A command that cannot do what it was asked: its message is printed as
/// "Error: <message>" and notifyd exits 1.
struct AdminFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `--create-user`: whether a command may create the users it names.
///
/// Without it, a command naming a user that does not exist fails and says
/// so, instead of creating the user behind the operator's back (a typo would
/// otherwise make a new user, or bring back a deleted one).
struct CreateUserOption: ParsableArguments {
    @Flag(help: "Create the named users that do not exist yet (without it, an unknown user is an error).")
    var createUser = false

    /// Makes sure `ids` exist: creates the missing ones with --create-user,
    /// else fails naming the first missing one.
    func ensureUsers(_ ids: [Int64], in store: some Directory) async throws {
        for id in ids where try await store.user(id: id) == nil {
            guard id > 0 else { throw AdminFailure("user ids are positive integers, not \(id)") }
            guard createUser else {
                throw AdminFailure(
                    "user \(id) does not exist: create it first (notifyd admin user add --id \(id)) or pass --create-user")
            }
            try await store.putUser(User(id: id))
        }
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", subcommands: [Create.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a bearer token and print it alone on stdout (it is shown once)."
        )
        @OptionGroup var options: DataDirOption
        @Option(help: "The user the token belongs to.") var user: Int64?
        @Option(help: "The application (targetHostName) the token belongs to.") var app: String?
        @Option(help: "A role: admin, app or user; repeatable. Default: user for --user, app for --app.")
        var role: [String] = []
        @Option(help: "Lifetime in days, 1 to 3650.") var days: Int = 90
        @OptionGroup var users: CreateUserOption

        /// The longest lifetime, in days: CreateToken's maximum.
        static let maximumDays = Int(TokenIssuer.maximumLifetimeSeconds / (24 * 3600))

        func validate() throws {
            guard (user == nil) != (app == nil) else { throw ValidationError("give exactly one of --user and --app") }
            for name in role where Role(rawValue: name) == nil {
                throw ValidationError("unknown role \(name): use admin, app or user")
            }
            guard (1...Self.maximumDays).contains(days) else {
                throw ValidationError("--days must be between 1 and \(Self.maximumDays)")
            }
        }

        func run() async throws {
            let principal: Principal = if let user { .user(user) } else { .app(app ?? "") }
            var roles = Set(role.compactMap(Role.init(rawValue:)))
            if roles.isEmpty { roles = TokenIssuer.defaultRoles(for: principal) }
            let lifetime = Int64(days) * 24 * 3600
            let issued = try await options.withStore { store in
                if case .user(let id) = principal { try await users.ensureUsers([id], in: store) }
                return try await TokenIssuer(store: store).issue(for: principal, roles: roles, lifetime: lifetime)
            }
            print(issued.token)
        }
    }
}

extension TokenCommand {
    /// Revokes a token by its id (as CreateToken answers it) or by the token
    /// itself, read from standard input so that it stays out of the process
    /// list and the shell's history: a leaked token is the one an operator holds.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token and print its id (exit 1 when there is no such token).",
            discussion: "Running servers refuse it from their next call and end its running streams."
        )
        @OptionGroup var options: DataDirOption
        @Option(help: "The token's id (tok_...).") var id: String?
        @Flag(help: "Read the token itself (ntf_...) from standard input.") var withToken = false

        func validate() throws {
            guard (id != nil) != withToken else { throw ValidationError("give exactly one of --id and --with-token") }
        }

        func run() async throws {
            let token = withToken ? try Self.readToken() : nil
            let revoked = try await options.withStore { store -> String? in
                guard let token else {
                    let id = id ?? ""
                    return try await store.revokeToken(id: id) ? id : nil
                }
                guard let record = try await store.token(hash: TokenIssuer.hash(of: token)) else { return nil }
                return try await store.revokeToken(id: record.id) ? record.id : nil
            }
            guard let revoked else {
                throw AdminFailure(token == nil ? "there is no token \(id ?? "")" : "the store knows no such token")
            }
            print(revoked)
        }

        /// The first line of standard input, without its surrounding blanks.
        private static func readToken() throws -> String {
            let token = (readLine(strippingNewline: true) ?? "").trimmingCharacters(in: .whitespaces)
            guard !token.isEmpty else { throw AdminFailure("--with-token reads the token from standard input, which was empty") }
            return token
        }
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", subcommands: [Add.self, Delete.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or update a user.")
        @OptionGroup var options: DataDirOption
        @Option(help: "The user's id (a positive integer).") var id: Int64
        @Option(help: "A display name.") var name: String?

        func run() async throws {
            guard id > 0 else { throw ValidationError("--id must be positive") }
            try await options.withStore { try await $0.putUser(User(id: id, name: name)) }
            print(id)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a user: his connections, subscriptions and feed go, his tokens are revoked.",
            discussion: "Exit 1 when there is no such user. docs/PROTOCOL.md, \"Deleting a user\"."
        )
        @OptionGroup var options: DataDirOption
        @Option(help: "The user's id.") var id: Int64

        func run() async throws {
            guard try await options.withStore({ try await $0.deleteUser(id: id) }) else {
                throw AdminFailure("user \(id) does not exist")
            }
        }
    }
}

struct ConnectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "connection", subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect two users: friends (symmetric) or --user follows --to."
        )
        @OptionGroup var options: DataDirOption
        @Option(help: "The first user.") var user: Int64
        @Option(help: "The second user.") var to: Int64
        @Option(help: "friend or follow.") var kind: String = "friend"
        @OptionGroup var users: CreateUserOption

        func run() async throws {
            guard let kind = ConnectionKind(rawValue: kind) else { throw ValidationError("--kind is friend or follow") }
            guard user != to else { throw ValidationError("a user cannot connect to himself") }
            let connection = Connection(user: user, to: to, kind: kind)
            try await options.withStore { store in
                try await users.ensureUsers([connection.user, connection.to], in: store)
                try await store.putConnection(connection)
            }
        }
    }
}

struct SubscriptionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "subscription", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a subscription and print its id (the X-UNS-ID) alone on stdout."
        )
        @OptionGroup var options: DataDirOption
        @Option(help: "The subscribed user.") var user: Int64
        @Option(help: "The application (its targetHostName).") var app: String
        @Option(help: "windows, ios, android or webPush.") var platform: String
        @Option(help: "The device's id.") var device: String?
        @Option(help: "Lifetime in days (at most 30).") var days: Int = 30
        @OptionGroup var users: CreateUserOption

        func run() async throws {
            guard let platform = Platform(caseInsensitive: platform) else {
                throw ValidationError("--platform is windows, ios, android or webPush")
            }
            guard (1...30).contains(days) else { throw ValidationError("--days is 1 to 30") }
            let subscription = Subscription(
                id: UUIDText.random(), user: user, app: app, platform: platform, deviceID: device,
                expiresAt: Timestamp.now().truncatedToMilliseconds.adding(seconds: Int64(days) * 24 * 3600)
            )
            try await options.withStore { store in
                try await users.ensureUsers([subscription.user], in: store)
                try await store.createSubscription(subscription)
            }
            print(subscription.id)
        }
    }
}

/// `--app NAME` or `--user ID`: the caller `block` and `unblock` name.
struct CallerOption: ParsableArguments {
    @Option(help: "An application name.") var app: String?
    @Option(help: "A user id.") var user: Int64?

    func validate() throws {
        guard (user == nil) != (app == nil) else { throw ValidationError("give exactly one of --user and --app") }
    }

    var principal: Principal { if let user { .user(user) } else { .app(app ?? "") } }
}

struct BlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "block", abstract: "Put a caller on the blocked list.")
    @OptionGroup var options: DataDirOption
    @OptionGroup var caller: CallerOption

    func run() async throws {
        let principal = caller.principal
        try await options.withStore { try await $0.block(principal) }
    }
}

/// The way back from `block`, so that an operator who blocked by mistake
/// needs no admin token to undo it.
struct UnblockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unblock", abstract: "Take a caller off the blocked list (exit 1 when it was not on it).")
    @OptionGroup var options: DataDirOption
    @OptionGroup var caller: CallerOption

    func run() async throws {
        let principal = caller.principal
        guard try await options.withStore({ try await $0.unblock(principal) }) else {
            throw AdminFailure("\(principal) was not blocked")
        }
    }
}
