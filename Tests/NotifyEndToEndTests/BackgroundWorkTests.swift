import Logging
import NotifyTLS
import NotifyTesting
import Testing

@testable import NotifyServer

@Suite("The RPC server owns its router's background work")
struct BackgroundWorkTests {
    @Test("work submitted while the server serves runs; once the server has stopped, work is refused")
    func serverRunsBackgroundWork() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = try DevelopmentCertificates.ensure(in: directory.path + "/tls")
        let router = RPCRouter()
        let server = RPCServer(
            configuration: ServerConfiguration(
                host: "127.0.0.1", port: 0,
                tls: .server(
                    certificateChainFile: files.serverCertificate, privateKeyFile: files.serverKey,
                    applicationProtocols: ["notify/1"])),
            router: router, logger: Logger(label: "notify.test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await withThrowingTaskGroup { tasks in
            tasks.addTask { try await server.run() }
            _ = try await server.localAddress
            let (ran, mark) = AsyncStream.makeStream(of: Void.self)
            #expect(router.background.submit { mark.yield() })
            for await _ in ran { break }
            // Cancelling stops the server as a failing sibling service would.
            tasks.cancelAll()
            try await tasks.waitForAll()
        }
        #expect(!router.background.submit {})
    }
}
