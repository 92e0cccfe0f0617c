import Foundation
public import Logging
public import NotifyClient
public import NotifyDomain
public import NotifyServer
public import NotifyStorageSQLite
import NIOCore
import NotifyTLS
import ServiceLifecycle

/// A real notify RPC server for one test: real TLS on 127.0.0.1 with a
/// port of its own, a real SQLite file in a directory of its own.
public struct TestServer: Sendable {
    public let port: Int
    /// The development CA that signed the server certificate.
    public let caFile: String
    /// The temporary directory holding the database and the certificates.
    public let directory: String
    public let store: SQLiteNotificationStore
    public let configuration: ServerConfiguration
    /// The server itself, for in-process calls (`NotifyClient(local:)`).
    public let endpoint: RPCServer

    /// A client of this server, trusting its CA.
    public func client(configure: (inout ClientConfiguration) -> Void = { _ in }) -> NotifyClient {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: port, trustRootsFile: caFile)
        // The suites run in parallel on two cores: while the heavy ones hold
        // both, a loopback TLS handshake has waited longer than the default 5 s.
        configuration.connectTimeout = .seconds(30)
        configure(&configuration)
        return NotifyClient(configuration: configuration)
    }

    /// Creates a token straight in the store (and its user when missing), as
    /// `notifyd admin token create --create-user` does.
    public func token(for principal: Principal, roles: Set<Role>) async throws -> String {
        if case .user(let id) = principal, try await store.user(id: id) == nil {
            try await store.putUser(User(id: id))
        }
        return try await TokenIssuer(store: store).issue(for: principal, roles: roles).token
    }

    /// An admin's token (user 1000000, created when missing).
    public func adminToken() async throws -> String {
        try await token(for: .user(1_000_000), roles: [.admin])
    }
}

/// Runs `body` against a fresh server, then shuts the server down gracefully
/// and removes its files.
///
/// - Parameters:
///   - configure: adjusts the server configuration (limits, mTLS, community mode).
///   - storeConfiguration: adjusts the SQLite store.
///   - memoryBacked: the files on tmpfs (``TemporaryDirectory/init(memoryBacked:)``).
///   - database: a `notify.sqlite` to start from, copied first (a data folder
///     written by an earlier release: the upgrade test).
public func withTestServer<T: Sendable>(
    configure: (inout ServerConfiguration) throws -> Void = { _ in },
    storeConfiguration: SQLiteStoreConfiguration = SQLiteStoreConfiguration(),
    memoryBacked: Bool = false,
    database: String? = nil,
    logger: Logger? = nil,
    _ body: (TestServer) async throws -> T
) async throws -> T {
    let directory = try TemporaryDirectory(memoryBacked: memoryBacked)
    defer { directory.remove() }
    if let database { try FileManager.default.copyItem(atPath: database, toPath: directory.path + "/notify.sqlite") }
    let files = try DevelopmentCertificates.ensure(in: directory.path + "/tls")
    var configuration = ServerConfiguration(
        host: "127.0.0.1", port: 0,
        tls: .server(
            certificateChainFile: files.serverCertificate, privateKeyFile: files.serverKey,
            applicationProtocols: ["notify/1"]
        )
    )
    configuration.drainTimeout = .seconds(10)
    // Tests make many calls from one caller and one address: the per-caller
    // and failed-authentication limits are off unless a test sets them.
    configuration.rateLimits = .off
    configuration.authFailureLimit = .off
    try configure(&configuration)
    let logger = logger ?? {
        var logger = Logger(label: "notify.test")
        logger.logLevel = .warning
        return logger
    }()
    let store = try SQLiteNotificationStore(
        path: directory.path + "/notify.sqlite", configuration: storeConfiguration, logger: logger
    )
    let server = RPCServer(
        configuration: configuration,
        router: NotifyService.router(store: store, configuration: configuration, health: HealthState()),
        logger: logger
    )
    // The store first: it stops last, after the server has drained.
    let group = ServiceGroup(configuration: .init(services: [.init(service: store), .init(service: server)], logger: logger))
    let result: Result<T, any Error> = await withTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try? await group.run() }
        let outcome: Result<T, any Error>
        do {
            let port = try await server.localAddress.port ?? 0
            let testServer = TestServer(
                port: port, caFile: files.caCertificate, directory: directory.path, store: store,
                configuration: configuration, endpoint: server
            )
            outcome = .success(try await body(testServer))
        } catch {
            outcome = .failure(error)
        }
        await group.triggerGracefulShutdown()
        await tasks.waitForAll()
        return outcome
    }
    return try result.get()
}
