import Foundation
import NIOCore
import NIOEmbedded
import NotifyTLS
import NotifyTesting
import Synchronization

/// Certificates for one test in its own temporary directory.
struct TestCertificates {
    let directory: TemporaryDirectory
    let files: DevelopmentCertificates.Files

    init() throws {
        directory = try TemporaryDirectory()
        files = try DevelopmentCertificates.ensure(in: directory.path + "/certs")
    }

    var certificateDirectory: String { directory.path + "/certs" }

    func serverContext(clientCA: Bool = false, protocols: [String] = ["notify/1"]) throws -> TLSContext {
        try TLSContext(configuration: .server(
            certificateChainFile: files.serverCertificate,
            privateKeyFile: files.serverKey,
            clientCAFile: clientCA ? files.caCertificate : nil,
            applicationProtocols: protocols
        ))
    }

    func clientContext(
        serverName: String? = "localhost",
        protocols: [String] = ["notify/1"],
        clientCertificate: (certificate: String, key: String)? = nil
    ) throws -> TLSContext {
        try TLSContext(configuration: .client(
            trustRootsFile: files.caCertificate,
            serverName: serverName,
            applicationProtocols: protocols,
            certificateChainFile: clientCertificate?.certificate,
            privateKeyFile: clientCertificate?.key
        ))
    }
}

/// Records what reaches the end of a pipeline: TLS events, errors and plaintext.
final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    var events: [TLSEvent] = []
    var errors: [TLSError] = []
    var received = ByteBuffer()
    var reads = 0

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSEvent { events.append(event) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        reads += 1
        received.writeBuffer(&buffer)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? TLSError { errors.append(error) }
    }
}

/// A client and a server `EmbeddedChannel`, each with a ``TLSHandler`` and a ``Recorder``.
struct EmbeddedPair {
    let client = EmbeddedChannel()
    let server = EmbeddedChannel()
    let clientRecorder = Recorder()
    let serverRecorder = Recorder()

    init(client clientContext: TLSContext, server serverContext: TLSContext) throws {
        try client.pipeline.syncOperations.addHandlers([TLSHandler(context: clientContext), clientRecorder])
        try server.pipeline.syncOperations.addHandlers([TLSHandler(context: serverContext), serverRecorder])
    }

    func connect() throws {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
    }

    /// Moves ciphertext both ways until neither side has anything left to send.
    ///
    /// - Returns: How many ciphertext buffers each side wrote.
    @discardableResult
    func pump() throws -> (fromClient: Int, fromServer: Int) {
        var fromClient = 0
        var fromServer = 0
        for _ in 0..<100 {
            let movedClient = try move(from: client, to: server)
            let movedServer = try move(from: server, to: client)
            fromClient += movedClient
            fromServer += movedServer
            if movedClient == 0 && movedServer == 0 { break }
        }
        return (fromClient, fromServer)
    }

    private func move(from source: EmbeddedChannel, to destination: EmbeddedChannel) throws -> Int {
        var moved = 0
        while let buffer = try source.readOutbound(as: ByteBuffer.self) {
            moved += 1
            if destination.isActive {
                try destination.writeInbound(buffer)
            }
        }
        if moved > 0 && destination.isActive {
            destination.pipeline.fireChannelReadComplete()
        }
        return moved
    }
}

/// Thread-safe list of errors seen by server children on other threads.
final class ErrorLog: Sendable {
    private let errors = Mutex<[TLSError]>([])

    func append(_ error: TLSError) { errors.withLock { $0.append(error) } }
    var all: [TLSError] { errors.withLock { $0 } }

    /// Waits (up to `timeout`) until an error with `code` was logged.
    func waitFor(_ code: TLSError.Code, timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if all.contains(where: { $0.code == code }) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}

/// Echoes plaintext back and records TLS errors.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let log: ErrorLog

    init(log: ErrorLog) { self.log = log }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? TLSError { log.append(error) }
    }
}

/// A client-side probe: completes promises on handshake, on a full response, or on failure.
final class ClientProbe: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var handshake: EventLoopPromise<String?>?
    private var response: EventLoopPromise<ByteBuffer>?
    private let expectedBytes: Int
    private var received = ByteBuffer()

    init(handshake: EventLoopPromise<String?>, response: EventLoopPromise<ByteBuffer>, expectedBytes: Int) {
        self.handshake = handshake
        self.response = response
        self.expectedBytes = expectedBytes
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiated) = event as? TLSEvent {
            handshake?.succeed(negotiated)
            handshake = nil
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received.writeBuffer(&buffer)
        if received.readableBytes >= expectedBytes {
            response?.succeed(received)
            response = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(ChannelError.eof)
    }

    private func fail(_ error: any Error) {
        handshake?.fail(error)
        handshake = nil
        response?.fail(error)
        response = nil
    }
}
