import AsyncHTTPClient
import Foundation
import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NotifyClient
import NotifyDomain
import NotifyJSON
import NotifyGateway
import NotifyServer
import NotifyStorageSQLite
import NotifyTLS
import NotifyTesting
import ServiceLifecycle
import Testing

/// A running gateway in front of a running RPC server, both real, over real
/// TLS between them; the gateway listens on 127.0.0.1 with a port of its own.
struct Harness: Sendable {
    let server: TestServer
    let port: Int
    let http: HTTPClient

    var base: String { "http://127.0.0.1:\(port)" }

    /// Sends one request with a real HTTP client and reads the whole answer.
    func send(
        _ method: HTTPMethod = .POST, _ path: String, headers: [(String, String)] = [], body: ByteBuffer? = nil
    ) async throws -> Answer {
        try await Harness.send(http, url: base + path, method: method, headers: headers, body: body)
    }

    static func send(
        _ http: HTTPClient, url: String, method: HTTPMethod, headers: [(String, String)], body: ByteBuffer?
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
        return Answer(status: Int(response.status.code), headers: response.headers, body: bytes)
    }

    /// A user with a user-role token, created in the store.
    func userToken(_ id: Int64) async throws -> String {
        try await server.token(for: .user(id), roles: [.user])
    }

    /// A subscription of `user` to `app`, valid for a day; returns its id (the X-UNS-ID).
    func subscription(user: Int64, app: String = "graphnotifications.sample.windows.com") async throws -> String {
        if try await server.store.user(id: user) == nil { try await server.store.putUser(User(id: user)) }
        let id = UUID().uuidString.lowercased()
        try await server.store.createSubscription(Subscription(
            id: id, user: user, app: app, platform: .windows, deviceID: nil, expiresAt: Timestamp.now().adding(seconds: 86_400)
        ))
        return id
    }
}

/// One HTTP answer, body read.
struct Answer: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: ByteBuffer

    var text: String { String(buffer: body) }

    /// The body parsed as JSON.
    var json: JSONValue? { JSONValue.parse(Data(body.readableBytesView)) }

    func header(_ name: String) -> String? { headers.first(name: name) }
}

extension JSONValue {
    subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    subscript(index: Int) -> JSONValue? {
        if case .array(let values) = self, values.indices.contains(index) { return values[index] }
        return nil
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var array: [JSONValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}

/// The gateway configuration tests use: upstream at `port`, trusting `caFile`.
func gatewayConfiguration(upstreamPort: Int, caFile: String) -> GatewayConfiguration {
    var upstream = ClientConfiguration(host: "127.0.0.1", port: upstreamPort, trustRootsFile: caFile, serverName: "localhost")
    upstream.initialBackoff = .milliseconds(50)
    upstream.maximumBackoff = .milliseconds(200)
    // Generous: the suites run in parallel, and a loaded machine can take seconds per TLS handshake.
    upstream.connectTimeout = .seconds(30)
    var configuration = GatewayConfiguration(host: "127.0.0.1", port: 0, upstream: upstream)
    configuration.rpcTimeout = .seconds(5)
    return configuration
}

/// Runs `body` with a gateway started from `configuration`, then shuts it down gracefully.
func withGateway<T: Sendable>(
    _ configuration: GatewayConfiguration, _ body: (_ port: Int) async throws -> T
) async throws -> T {
    var logger = Logger(label: "notify.gateway.test")
    logger.logLevel = .critical
    let gateway = GatewayServer(configuration: configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: [.init(service: gateway)], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let outcome: Result<T, any Error>
        do {
            let port = try await gateway.localAddress.port ?? 0
            outcome = .success(try await body(port))
        } catch {
            outcome = .failure(error)
        }
        await group.triggerGracefulShutdown()
        try? await tasks.waitForAll()
        return try outcome.get()
    }
}

/// How a test's gateway reaches its RPC server.
enum UpstreamKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
    /// Over loopback TLS, as `notifyd gateway --upstream` does.
    case remote
    /// In-process, as the gateway inside `notifyd serve` does.
    case local

    var testDescription: String { rawValue }
}

/// A gateway in front of a fresh RPC server.
func withHarness<T: Sendable>(
    upstream: UpstreamKind = .remote,
    server configureServer: (inout ServerConfiguration) throws -> Void = { _ in },
    gateway configureGateway: (inout GatewayConfiguration) -> Void = { _ in },
    store storeConfiguration: SQLiteStoreConfiguration = SQLiteStoreConfiguration(),
    memoryBacked: Bool = false,
    _ body: (Harness) async throws -> T
) async throws -> T {
    try await withTestServer(configure: configureServer, storeConfiguration: storeConfiguration, memoryBacked: memoryBacked) { server in
        var configuration = gatewayConfiguration(upstreamPort: server.port, caFile: server.caFile)
        if upstream == .local { configuration.upstream = .local(server.endpoint) }
        configureGateway(&configuration)
        return try await withGateway(configuration) { port in
            var clientConfiguration = HTTPClient.Configuration()
            clientConfiguration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
            clientConfiguration.decompression = .disabled
            // The suites share two cores: a burst's 64 connections can take longer than the default 10 s.
            clientConfiguration.timeout = .init(connect: .seconds(30))
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
            let result: Result<T, any Error>
            do {
                result = .success(try await body(Harness(server: server, port: port, http: http)))
            } catch {
                result = .failure(error)
            }
            try? await http.shutdown()
            return try result.get()
        }
    }
}

/// A connection to the gateway that moves bytes as they are, from `source`
/// (a loopback address) when given, over TLS when `tls` is.
func connectRaw(
    port: Int, tls: TLSContext? = nil, source: String? = nil
) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
    var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
    return try await bootstrap
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls { try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls)) }
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
}

/// Writes bytes on a plain or TLS TCP connection and reads until the peer
/// closes or `timeout` passes: for what a well-behaved client never sends
/// (pipelined bursts, trickled bodies, oversized heads).
///
/// - Parameters:
///   - source: the local address to connect from (another loopback address
///     stands for another client); the kernel's choice when nil.
func rawExchange(
    port: Int, chunks: [(bytes: String, pauseAfter: Duration)], tls: TLSContext? = nil, timeout: Duration = .seconds(30),
    source: String? = nil
) async throws -> String {
    let channel = try await connectRaw(port: port, tls: tls, source: source)
    return try await channel.executeThenClose { inbound, outbound in
        try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                var received = ""
                do {
                    for try await buffer in inbound { received += String(buffer: buffer) }
                } catch {}
                return received
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            for chunk in chunks {
                try? await outbound.write(ByteBuffer(string: chunk.bytes))
                if chunk.pauseAfter > .zero { try await Task.sleep(for: chunk.pauseAfter) }
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first ?? "<timeout>"
        }
    }
}


/// Statuses of the HTTP/1.1 responses in a raw byte stream, in order.
func statuses(in text: String) -> [Int] {
    text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
}

/// The same for bytes, found with `strstr` (the answers hold no NUL): for
/// streams of megabytes, which `components(separatedBy:)` takes seconds over
/// in a debug build.
func statuses(in bytes: ByteBuffer) -> [Int] {
    var text = bytes.getBytes(at: bytes.readerIndex, length: bytes.readableBytes) ?? []
    text.append(0)
    return text.withUnsafeBufferPointer { raw in
        raw.withMemoryRebound(to: CChar.self) { chars -> [Int] in
            guard let base = chars.baseAddress else { return [] }
            let end = base + chars.count - 1
            var found: [Int] = []
            var cursor = base
            while let hit = strstr(cursor, "HTTP/1.1 "), UnsafePointer(hit) + 12 <= end {
                let start = UnsafePointer(hit) + 9
                guard let status = Int(String(decoding: UnsafeRawBufferPointer(start: start, count: 3), as: UTF8.self)) else { break }
                found.append(status)
                cursor = start
            }
            return found
        }
    }
}

/// The titles in user 1's feed once `notifyd` is started again on `data`,
/// and how many entries the feed holds: what the process tests compare with
/// the notifications they saw acknowledged and refused. The server is then
/// stopped with SIGTERM and must exit 0.
func titlesAfterRestart(executable: URL, data: String, token: String) async throws -> (titles: Set<String>, entries: Int) {
    let restarted = try await NotifydProcess.serve(executable: executable, dataDirectory: data)
    defer { restarted.signal(SIGKILL) }
    var configuration = ClientConfiguration(host: "127.0.0.1", port: restarted.port, trustRootsFile: restarted.caFile)
    configuration.defaultTimeout = .seconds(20)
    let reader = NotifyClient(configuration: configuration)
    let feed = try await reader.wholeFeed(of: 1, metadata: .bearer(token))
    await reader.close()
    let titles = Set(feed.compactMap { entry -> String? in
        guard case .custom(let custom) = entry.content else { return nil }
        return custom.title
    })
    restarted.signal(SIGTERM)
    #expect(await restarted.waitForExit(timeout: .seconds(20)) == 0)
    return (titles, feed.count)
}
