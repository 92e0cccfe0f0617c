import ArgumentParser
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyJSON
import NotifyProtobuf

// The AdminService RPCs, one subcommand each (grouped by what they manage).
// An answer that carries a value prints it as one JSON object; an answer
// with nothing in it prints nothing: the exit status says it worked.

extension ConnectionOptions {
    /// Calls one unary method with the caller's metadata and deadline; a
    /// failure prints its status and reason and exits 1 (``perform(_:)``).
    func call<Request: WireMessage, Response: WireMessage>(
        _ method: MethodDescriptor<Request, Response>, _ request: Request
    ) async throws -> Response {
        try await perform { client async throws(RPCError) in
            try await client.call(method, request, metadata: metadata, timeout: deadline)
        }
    }
}

extension User {
    var json: JSONValue {
        .object(["id": .integer(id), "name": name.map(JSONValue.string) ?? .null])
    }
}

extension Subscription {
    var json: JSONValue {
        .object([
            "id": .string(id), "user": .integer(user), "app": .string(app), "platform": .string(platform.rawValue),
            "deviceId": deviceID.map(JSONValue.string) ?? .null, "expirationDateTime": .string(expiresAt.rfc3339),
        ])
    }
}

/// `--app NAME` or `--user ID`: the caller a block or a token is for.
struct PrincipalOptions: ParsableArguments {
    @Option(help: "An application (a targetHostName).") var app: String?
    @Option(help: "A user id.") var user: Int64?

    func validate() throws {
        guard (app == nil) != (user == nil) else { throw ValidationError("Give exactly one of --app and --user.") }
    }

    var input: PrincipalInput { PrincipalInput(app: app, user: user) }
}

// MARK: Users

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Create, rename or delete a user (admin token).",
        subcommands: [Put.self, Delete.self])

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "PutUser: create the user, or rename him; prints {id, name}.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user id.") var id: Int64
        @Option(help: "His name.") var name: String?

        func run() async throws {
            let response = try await connection.call(NotifyMethods.putUser, PutUserRequest(user: User(id: id, name: name)))
            print((response.user ?? User(id: id, name: name)).json.text)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "DeleteUser: delete the user, his connections, subscriptions and feed; revoke his tokens.",
            discussion: "His feed's head is kept: the id created again continues its sequence.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user id.") var id: Int64

        func run() async throws {
            _ = try await connection.call(NotifyMethods.deleteUser, DeleteUserRequest(id: id))
        }
    }
}

// MARK: Connections

struct ConnectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connection", abstract: "Add or remove a friendship or a follow (admin token).",
        subcommands: [Put.self, Delete.self])

    struct Edge: ParsableArguments {
        @Option(help: "The first user (the follower, for a follow).") var user: Int64
        @Option(help: "The second user (the one followed).") var to: Int64
        @Option(help: "friend or follow.") var kind: String

        var input: ConnectionInput { ConnectionInput(user: user, to: to, kind: kind) }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "PutConnection: add it (again is fine).")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var edge: Edge

        func run() async throws {
            _ = try await connection.call(NotifyMethods.putConnection, PutConnectionRequest(connection: edge.input))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "DeleteConnection: remove it.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var edge: Edge

        func run() async throws {
            _ = try await connection.call(NotifyMethods.deleteConnection, DeleteConnectionRequest(connection: edge.input))
        }
    }
}

// MARK: Subscriptions

struct SubscriptionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscription", abstract: "Create, renew or delete a device subscription (the X-UNS-ID).",
        subcommands: [Create.self, Renew.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "CreateSubscription: prints the subscription; its id is the X-UNS-ID.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user.") var user: Int64
        @Option(help: "The application (targetHostName).") var app: String
        @Option(help: "windows, ios, android or webPush.") var platform: String
        @Option(help: "The device id.") var deviceId: String?
        @Option(help: "Lifetime in seconds. [server default]") var ttl: UInt64?

        func run() async throws {
            let response = try await connection.call(
                NotifyMethods.createSubscription,
                CreateSubscriptionRequest(user: user, app: app, platform: platform, deviceID: deviceId, ttlSeconds: ttl))
            print(response.subscription.json.text)
        }
    }

    struct Renew: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "RenewSubscription: a new lifetime from now; prints the subscription.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The subscription id.") var id: String
        @Option(help: "Lifetime in seconds. [server default]") var ttl: UInt64?

        func run() async throws {
            let response = try await connection.call(
                NotifyMethods.renewSubscription, RenewSubscriptionRequest(id: id, ttlSeconds: ttl))
            print(response.subscription.json.text)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "DeleteSubscription.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The subscription id.") var id: String

        func run() async throws {
            _ = try await connection.call(NotifyMethods.deleteSubscription, DeleteSubscriptionRequest(id: id))
        }
    }
}

// MARK: Blocking

struct Block: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Block: refuse every call of an application or a user (admin token).")
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var caller: PrincipalOptions

    func run() async throws {
        _ = try await connection.call(NotifyMethods.block, BlockRequest(caller: caller.input))
    }
}

struct Unblock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Unblock: lift a block (admin token).")
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var caller: PrincipalOptions

    func run() async throws {
        _ = try await connection.call(NotifyMethods.unblock, BlockRequest(caller: caller.input))
    }
}

// MARK: Tokens

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create or revoke a bearer token (admin token).",
        subcommands: [Create.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "CreateToken: prints {token, tokenId, expirationDateTime}; the token is shown only here.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var principal: PrincipalOptions
        @Option(help: "A role (admin, app, user); repeat for more.") var role: [String] = []
        @Option(help: "Lifetime in seconds. [server default]") var ttl: UInt64?

        func run() async throws {
            let response = try await connection.call(
                NotifyMethods.createToken, CreateTokenRequest(principal: principal.input, roles: role, ttlSeconds: ttl))
            print(JSONValue.object([
                "token": .string(response.token), "tokenId": .string(response.tokenID),
                "expirationDateTime": .string(response.expirationDateTime),
            ]).text)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "RevokeToken: calls with it fail from now on.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The token id (tokenId of token create).") var id: String

        func run() async throws {
            _ = try await connection.call(NotifyMethods.revokeToken, RevokeTokenRequest(tokenID: id))
        }
    }
}
