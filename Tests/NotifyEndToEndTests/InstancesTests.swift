import Foundation
import Logging
import NIOCore
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyServer
import NotifyStoragePostgres
import NotifyTLS
import NotifyTesting
import NotifyWire
import ServiceLifecycle
import Testing

/// One notify RPC server of several sharing one PostgreSQL database: real
/// TLS on loopback, its own store (its own pool and listener) on the shared schema.
private struct Instance: Sendable {
    let port: Int
    let caFile: String
    let store: PostgresNotificationStore

    func client() -> NotifyClient {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: port, trustRootsFile: caFile)
        configuration.connectTimeout = .seconds(30)
        return NotifyClient(configuration: configuration)
    }

    func token(for principal: Principal, roles: Set<Role>) async throws -> TokenIssuer.IssuedToken {
        if case .user(let id) = principal, try await store.user(id: id) == nil {
            try await store.putUser(User(id: id))
        }
        return try await TokenIssuer(store: store).issue(for: principal, roles: roles)
    }
}

/// The URL of the test's PostgreSQL server (scripts/postgres.sh sets it).
private enum TestDatabase {
    static let url: String? = ProcessInfo.processInfo.environment["NOTIFY_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    static let runs = url != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    static let missing = "NOTIFY_TEST_POSTGRES is not set: run the tests through scripts/postgres.sh"
}

/// Runs `body` with `count` servers on one new schema, each with lookup
/// caches that would hold an entry for `cacheLifetime`, then stops them and
/// drops the schema.
private func withInstances(
    _ count: Int, cacheLifetime: Duration, _ body: ([Instance]) async throws -> Void
) async throws {
    let url = try #require(TestDatabase.url, "\(TestDatabase.missing)")
    let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let files = try DevelopmentCertificates.ensure(in: directory.path + "/tls")
    var logger = Logger(label: "notify.test")
    logger.logLevel = .warning
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    var servers: [(RPCServer, PostgresNotificationStore)] = []
    for _ in 0..<count {
        var configuration = ServerConfiguration(
            host: "127.0.0.1", port: 0,
            tls: .server(
                certificateChainFile: files.serverCertificate, privateKeyFile: files.serverKey,
                applicationProtocols: ["notify/1"]))
        configuration.drainTimeout = .seconds(10)
        configuration.rateLimits = .off
        configuration.authFailureLimit = .off
        configuration.lookupCacheLifetime = cacheLifetime
        var storeConfiguration = try PostgresStoreConfiguration(url: url)
        storeConfiguration.schema = schema
        storeConfiguration.maximumConnections = 4
        storeConfiguration.sweepInterval = .zero
        let store = try PostgresNotificationStore(configuration: storeConfiguration, logger: logger)
        let server = RPCServer(
            configuration: configuration,
            router: NotifyService.router(store: store, configuration: configuration, health: HealthState()),
            logger: logger)
        // Each store before its server: it stops after the server has drained.
        services += [.init(service: store), .init(service: server)]
        servers.append((server, store))
    }
    let group = ServiceGroup(configuration: .init(services: services, logger: logger))
    let outcome: Result<Void, any Error> = await withTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try? await group.run() }
        let outcome: Result<Void, any Error>
        do {
            var instances: [Instance] = []
            for (server, store) in servers {
                let port = try await server.localAddress.port ?? 0
                instances.append(Instance(port: port, caFile: files.caCertificate, store: store))
            }
            try await waitUntil("every store listens") { instances.allSatisfy { $0.store.statistics.listening } }
            outcome = .success(try await body(instances))
        } catch {
            outcome = .failure(error)
        }
        await group.triggerGracefulShutdown()
        await tasks.waitForAll()
        return outcome
    }
    try? await PostgresNotificationStore.dropSchema(url: url, schema: schema)
    try outcome.get()
}

@Suite("Several instances on one PostgreSQL: live feeds and lookups across servers, over real TLS")
struct InstancesTests {
    @Test(
        "a Watch on one server receives live what a Notify on the other commits",
        .enabled(if: TestDatabase.runs, "\(TestDatabase.missing)"))
    func watchHearsOtherServer() async throws {
        try await withInstances(2, cacheLifetime: .seconds(2)) { instances in
            let (a, b) = (instances[0], instances[1])
            let admin = Metadata.bearer(try await b.token(for: .user(1_000_000), roles: [.admin]).token)
            let reader = Metadata.bearer(try await a.token(for: .user(2), roles: [.user]).token)
            let (clientA, clientB) = (a.client(), b.client())
            var pages = clientA.watchFeed(ListFeedRequest(user: 2), metadata: reader, timeout: .seconds(60))
                .makeAsyncIterator()
            let marker = try #require(try await pages.next())
            #expect(marker.notifications.isEmpty && marker.caughtUp)
            var sent: [String] = []
            for index in 1...3 {
                sent.append(try await clientB.notify(notifyRequest(issuer: 2, title: "from b \(index)"), metadata: admin).id)
            }
            var live: [NotifyDomain.Notification] = []
            while live.count < 3, let page = try await pages.next() { live += page.notifications }
            #expect(live.map(\.id) == sent)
            #expect(live.map(\.sequence) == [1, 2, 3])
            #expect(a.store.statistics.noticesHeard >= 1)
            await clientA.close()
            await clientB.close()
        }
    }

    @Test(
        "RevokeToken on one server ends the watch on the other at once; Block on one refuses the next call on the other",
        .enabled(if: TestDatabase.runs, "\(TestDatabase.missing)"))
    func credentialsAcrossServers() async throws {
        // Cache entries that outlive the test: only the change told across
        // the instances can make the other server forget them.
        try await withInstances(2, cacheLifetime: .seconds(600)) { instances in
            let (a, b) = (instances[0], instances[1])
            let admin = Metadata.bearer(try await b.token(for: .user(1_000_000), roles: [.admin]).token)
            let (clientA, clientB) = (a.client(), b.client())

            let revoked = try await a.token(for: .user(2), roles: [.user])
            var pages = clientA.watchFeed(ListFeedRequest(user: 2), metadata: .bearer(revoked.token), timeout: .seconds(60))
                .makeAsyncIterator()
            _ = try #require(try await pages.next())
            let started = ContinuousClock.now
            _ = try await clientB.call(
                Methods.revokeToken, RevokeTokenRequest(tokenID: revoked.record.id), metadata: admin, as: RevokeTokenResponse.self)
            await expectFailure(.unauthenticated, "TOKEN_REVOKED") {
                while let page = try await pages.next() { Issue.record("a page after the revocation: \(page)") }
            }
            #expect(ContinuousClock.now - started < .seconds(20))

            let owner = Metadata.bearer(try await a.token(for: .user(3), roles: [.user]).token)
            // Server A caches "user 3 is not blocked" (and his token).
            _ = try await clientA.listFeed(ListFeedRequest(user: 3), metadata: owner)
            _ = try await clientB.call(
                Methods.block, BlockRequest(caller: PrincipalInput(user: 3)), metadata: admin, as: BlockResponse.self)
            // The notice arrives milliseconds after the commit: the first call
            // after it is refused; a call racing it may still pass.
            var refused: RPCError?
            let deadline = ContinuousClock.now + .seconds(20)
            while refused == nil, ContinuousClock.now < deadline {
                do throws(RPCError) {
                    _ = try await clientA.listFeed(ListFeedRequest(user: 3), metadata: owner)
                } catch {
                    refused = error
                }
                if refused == nil { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(refused?.code == .permissionDenied)
            #expect(refused?.reason?.rawValue == "CALLER_BLOCKED")
            await clientA.close()
            await clientB.close()
        }
    }
}
