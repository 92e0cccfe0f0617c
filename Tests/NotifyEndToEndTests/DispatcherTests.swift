import Logging
import NIOCore
import NotifyCore
import NIOPosix
import NotifyClient
import NotifyMessages
import NotifyTLS
import NotifyTesting
import NotifyWire
import ServiceLifecycle
import Synchronization
import Testing

@testable import NotifyServer

/// Methods of a test router: each shows one path of the dispatcher.
private enum TestMethods {
    /// A task that waits at the gate.
    static let hold = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>.unary("/test.Dispatch/Hold")
    /// A staged call that answers once the gate opens.
    static let stagedHold = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>.unary("/test.Dispatch/StagedHold")
    /// Inline: answered on the caller's thread, never admitted.
    static let echo = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>.unary("/test.Dispatch/Echo")
    /// A stream that sends one message, then lasts until it is ended.
    static let watch = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>.serverStream("/test.Dispatch/Watch")
    /// Registered nowhere.
    static let missing = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>.unary("/test.Dispatch/Missing")
}

/// Where held handlers wait until the test lets them go.
private final class Gate: Sendable {
    private let opened = Atomic<Bool>(false)
    private let waiting = Atomic<Int>(0)

    var entered: Int { waiting.load(ordering: .relaxed) }

    func pass() async {
        waiting.add(1, ordering: .relaxed)
        while !opened.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(5)) }
    }

    func open() { opened.store(true, ordering: .relaxed) }
}

/// The two transports the dispatcher serves: one test body runs through each.
enum DispatchTransport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case connection
    case inProcess
    var testDescription: String { rawValue }
}

private struct DispatchServer {
    let server: RPCServer
    let group: ServiceGroup
    let gate: Gate
    let port: Int
    let caFile: String

    func client(_ transport: DispatchTransport) -> NotifyClient {
        switch transport {
        case .inProcess:
            return NotifyClient(local: server)
        case .connection:
            var configuration = ClientConfiguration(host: "127.0.0.1", port: port, trustRootsFile: caFile)
            configuration.connectTimeout = .seconds(30)
            return NotifyClient(configuration: configuration)
        }
    }
}

/// Runs `body` against a server of ``TestMethods`` with at most one call
/// and one stream in flight, then opens the gate and shuts it down.
private func withDispatchServer(_ body: (DispatchServer) async throws -> Void) async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let files = try DevelopmentCertificates.ensure(in: directory.path + "/tls")
    var configuration = ServerConfiguration(
        host: "127.0.0.1", port: 0,
        tls: .server(
            certificateChainFile: files.serverCertificate, privateKeyFile: files.serverKey,
            applicationProtocols: ["notify/1"]))
    configuration.maxCallsInFlight = 1
    configuration.maxStreams = 1
    configuration.drainTimeout = .seconds(10)
    let gate = Gate()
    var router = RPCRouter()
    router.register(TestMethods.hold) { (_: HealthCheckRequest, _) in
        await gate.pass()
        return HealthCheckResponse(status: .serving)
    }
    router.registerStaged(TestMethods.stagedHold) { (_: HealthCheckRequest, _, completion) in
        Task {
            await gate.pass()
            completion.finish { HealthCheckResponse(status: .serving) }
        }
        return .started
    }
    router.registerInline(TestMethods.echo) { (_: HealthCheckRequest, _) in HealthCheckResponse(status: .serving) }
    router.registerStream(TestMethods.watch) { (_: HealthCheckRequest, _, stream) in
        try await stream.send(HealthCheckResponse(status: .serving))
        while true { try await Task.sleep(for: .milliseconds(20)) }
    }
    let logger = Logger(label: "notify.test", factory: { _ in SwiftLogNoOpLogHandler() })
    let server = RPCServer(configuration: configuration, router: router, logger: logger)
    let group = ServiceGroup(configuration: .init(services: [.init(service: server)], logger: logger))
    try await withThrowingTaskGroup { tasks in
        tasks.addTask { try await group.run() }
        defer { gate.open() }
        let port = try await server.localAddress.port ?? 0
        try await body(DispatchServer(server: server, group: group, gate: gate, port: port, caFile: files.caCertificate))
        gate.open()
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

/// What a call threw, or nil when it answered.
private func failure<Response>(_ call: () async throws(RPCError) -> Response) async -> RPCError? {
    do throws(RPCError) {
        _ = try await call()
        return nil
    } catch {
        return error
    }
}

@Suite("The dispatcher: the same rules through a connection and in-process")
struct DispatcherTests {
    @Test("an unknown method is UNIMPLEMENTED UNKNOWN_METHOD", arguments: DispatchTransport.allCases)
    func unknownMethod(transport: DispatchTransport) async throws {
        try await withDispatchServer { server in
            let client = server.client(transport)
            let error = await failure { () async throws(RPCError) in
                try await client.call(TestMethods.missing, HealthCheckRequest())
            }
            #expect(error?.code == .unimplemented)
            #expect(error?.reason == .unknownMethod)
            #expect(error?.metadata["x-request-id"] != nil)
            await client.close()
        }
    }

    @Test(
        "past the calls in flight a call is refused OVERLOADED with retry-after; an inline call is not admitted; the place is free once the call ends",
        arguments: DispatchTransport.allCases, [TestMethods.hold, TestMethods.stagedHold]
    )
    func overload(
        transport: DispatchTransport, method: MethodDescriptor<HealthCheckRequest, HealthCheckResponse>
    ) async throws {
        try await withDispatchServer { server in
            let client = server.client(transport)
            try await withThrowingTaskGroup { tasks in
                tasks.addTask { _ = try await client.call(method, HealthCheckRequest()) }
                try await waitUntil("the first call holds the only place") { server.gate.entered == 1 }
                let refused = await failure { () async throws(RPCError) in
                    try await client.call(method, HealthCheckRequest())
                }
                #expect(refused?.code == .resourceExhausted)
                #expect(refused?.reason == .overloaded)
                #expect(refused?.metadata["retry-after"] == "1")
                #expect(try await client.call(TestMethods.echo, HealthCheckRequest()).status == .serving)
                server.gate.open()
                try await tasks.waitForAll()
            }
            #expect(try await client.call(method, HealthCheckRequest()).status == .serving)
            await client.close()
        }
    }

    @Test("past the open streams a stream is refused OVERLOADED", arguments: DispatchTransport.allCases)
    func streamLimit(transport: DispatchTransport) async throws {
        try await withDispatchServer { server in
            let client = server.client(transport)
            let first: ServerMessages<HealthCheckResponse> = client.stream(TestMethods.watch.name, HealthCheckRequest())
            var pages = first.makeAsyncIterator()
            #expect(try await pages.next()?.status == .serving)
            let second: ServerMessages<HealthCheckResponse> = client.stream(TestMethods.watch.name, HealthCheckRequest())
            var refused: RPCError?
            do {
                for try await _ in second {}
            } catch let error as RPCError {
                refused = error
            }
            #expect(refused?.code == .resourceExhausted)
            #expect(refused?.reason == .overloaded)
            #expect(server.server.openStreams == 1)
            await client.close()
        }
    }

    @Test("once the drain has begun, a new call is refused UNAVAILABLE", arguments: DispatchTransport.allCases)
    func drainRefusal(transport: DispatchTransport) async throws {
        try await withDispatchServer { server in
            let client = server.client(transport)
            #expect(try await client.call(TestMethods.echo, HealthCheckRequest()).status == .serving)
            try await withThrowingTaskGroup { tasks in
                // A call in flight holds the drain open.
                tasks.addTask { _ = try await client.call(TestMethods.hold, HealthCheckRequest()) }
                try await waitUntil("the call is in flight") { server.gate.entered == 1 }
                await server.group.triggerGracefulShutdown()
                // A connection hears of the drain by its goaway: until it
                // has, its calls are still answered.
                var refused: RPCError?
                let deadline = ContinuousClock.now + .seconds(10)
                while refused == nil, ContinuousClock.now < deadline {
                    refused = await failure { () async throws(RPCError) in
                        try await client.call(TestMethods.echo, HealthCheckRequest())
                    }
                    if refused == nil { try await Task.sleep(for: .milliseconds(20)) }
                }
                #expect(refused?.code == .unavailable)
                if transport == .inProcess { #expect(refused?.reason == .goingAway) }
                server.gate.open()
                try await tasks.waitForAll()
            }
            await client.close()
        }
    }

    @Test("in-process, a stream is not a unary call and a unary method is not a stream")
    func inProcessKinds() async throws {
        try await withDispatchServer { server in
            let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
            let typed = await withCheckedContinuation { continuation in
                server.server.start(
                    TestMethods.watch, request: HealthCheckRequest(), metadata: Metadata(), deadline: nil, memo: nil,
                    on: eventLoop
                ) { continuation.resume(returning: $0) }
            }
            guard case .failure(let unsupported) = typed else {
                Issue.record("a stream was answered as a unary call")
                return
            }
            #expect(unsupported.code == .unimplemented)
            #expect(unsupported.reason == .streamingUnsupported)
            let client = server.client(.inProcess)
            let notAStream: ServerMessages<HealthCheckResponse> = client.stream(TestMethods.echo.name, HealthCheckRequest())
            var refused: RPCError?
            do {
                for try await _ in notAStream {}
            } catch let error as RPCError {
                refused = error
            }
            #expect(refused?.code == .unimplemented)
            #expect(refused?.reason == .notAStream)
            await client.close()
        }
    }
}
