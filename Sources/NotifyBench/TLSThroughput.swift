import Foundation
import NIOCore
import NIOEmbedded
import NotifyTLS

/// Application data through a client and a server ``TLSHandler`` joined by
/// memory: encryption, decryption and the handlers' buffering, with no
/// socket. Compare it with `openssl speed -evp` for the negotiated cipher.
struct TLSPair {
    private let client: EmbeddedChannel
    private let server: EmbeddedChannel
    private let sink: ByteCounter

    init(certificates directory: String) throws {
        let files = try DevelopmentCertificates.ensure(in: directory)
        let serverContext = try TLSContext(configuration: .server(
            certificateChainFile: files.serverCertificate, privateKeyFile: files.serverKey,
            applicationProtocols: ["notify/1"]
        ))
        let clientContext = try TLSContext(configuration: .client(
            trustRootsFile: files.caCertificate, serverName: "localhost", applicationProtocols: ["notify/1"]
        ))
        sink = ByteCounter()
        client = EmbeddedChannel(handlers: [TLSHandler(context: clientContext)])
        server = EmbeddedChannel(handlers: [TLSHandler(context: serverContext), sink])
        _ = try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        _ = try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        for _ in 0..<10 { try pump() }
    }

    /// Sends `payload` from client to server; returns the plaintext bytes that arrived.
    func send(_ payload: ByteBuffer) throws -> Int {
        let before = sink.bytes
        client.writeAndFlush(payload, promise: nil)
        try pump()
        return sink.bytes - before
    }

    /// Writes `payload` `count` times, then flushes once.
    func sendBatch(_ payload: ByteBuffer, count: Int) throws -> Int {
        let before = sink.bytes
        for _ in 0..<count { client.write(payload, promise: nil) }
        client.flush()
        try pump()
        return sink.bytes - before
    }

    /// Moves ciphertext both ways until both sides are quiet.
    private func pump() throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                try server.writeInbound(bytes)
                moved = true
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                try client.writeInbound(bytes)
                moved = true
            }
        }
        _ = try server.readInbound(as: ByteBuffer.self)
    }
}

/// Counts plaintext bytes that reach the end of the server pipeline.
private final class ByteCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var bytes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytes
    }
}
