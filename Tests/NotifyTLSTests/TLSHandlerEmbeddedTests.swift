import NIOCore
import NIOEmbedded
import NotifyTLS
import NotifyTesting
import Testing

@Suite("TLSHandler between two EmbeddedChannels")
struct TLSHandlerEmbeddedTests {
    @Test("the handshake completes on both sides with ALPN notify/1")
    func handshake() throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let pair = try EmbeddedPair(client: try certificates.clientContext(), server: try certificates.serverContext())
        try pair.connect()
        try pair.pump()
        #expect(pair.clientRecorder.events == [.handshakeCompleted(negotiatedProtocol: "notify/1")])
        #expect(pair.serverRecorder.events == [.handshakeCompleted(negotiatedProtocol: "notify/1")])
        #expect(pair.clientRecorder.errors.isEmpty && pair.serverRecorder.errors.isEmpty)
    }

    @Test("writes made before the handshake completes are delivered after it")
    func bufferedBeforeHandshake() throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let pair = try EmbeddedPair(client: try certificates.clientContext(), server: try certificates.serverContext())
        try pair.connect()
        let written = pair.client.writeAndFlush(ByteBuffer(string: "early"))
        try pair.pump()
        try written.wait()
        #expect(pair.serverRecorder.received == ByteBuffer(string: "early"))
    }

    @Test("data flows both ways: a 1 MiB write and many small writes")
    func dataBothWays() throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let pair = try EmbeddedPair(client: try certificates.clientContext(), server: try certificates.serverContext())
        try pair.connect()
        try pair.pump()

        let large = ByteBuffer(bytes: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let written = pair.client.writeAndFlush(large)
        try pair.pump()
        try written.wait()
        #expect(pair.serverRecorder.received == large)

        // 1000 small writes and one flush: all encrypted records leave as a single buffer.
        var expected = ByteBuffer()
        for index in 0..<1000 {
            let small = ByteBuffer(string: "message \(index);")
            expected.writeImmutableBuffer(small)
            pair.server.write(small, promise: nil)
        }
        pair.server.flush()
        var ciphertextBuffers = 0
        while let ciphertext = try pair.server.readOutbound(as: ByteBuffer.self) {
            ciphertextBuffers += 1
            try pair.client.writeInbound(ciphertext)
        }
        pair.client.pipeline.fireChannelReadComplete()
        #expect(ciphertextBuffers == 1)
        #expect(pair.clientRecorder.received == expected)
        #expect(pair.clientRecorder.errors.isEmpty && pair.serverRecorder.errors.isEmpty)
    }

    @Test("close sends close_notify, the peer answers, both channels close cleanly")
    func closeNotify() throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let pair = try EmbeddedPair(client: try certificates.clientContext(), server: try certificates.serverContext())
        try pair.connect()
        try pair.pump()

        let closed = pair.client.close()
        #expect(pair.client.isActive, "the client waits for the server's close_notify")
        try pair.pump()
        try closed.wait()
        #expect(!pair.client.isActive)
        #expect(!pair.server.isActive)
        #expect(pair.clientRecorder.errors.isEmpty && pair.serverRecorder.errors.isEmpty)
    }

    @Test("close gives up waiting for close_notify after the close timeout")
    func closeTimeout() throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let client = EmbeddedChannel()
        let server = EmbeddedChannel()
        let clientContext = try certificates.clientContext()
        try client.pipeline.syncOperations.addHandler(TLSHandler(context: clientContext, closeTimeout: .seconds(2)))
        try server.pipeline.syncOperations.addHandler(TLSHandler(context: try certificates.serverContext()))
        let pair = (client, server)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try pair.1.connect(to: address).wait()
        try pair.0.connect(to: address).wait()
        for _ in 0..<10 {
            while let bytes = try client.readOutbound(as: ByteBuffer.self) { try server.writeInbound(bytes) }
            server.pipeline.fireChannelReadComplete()
            while let bytes = try server.readOutbound(as: ByteBuffer.self) { try client.writeInbound(bytes) }
            client.pipeline.fireChannelReadComplete()
        }
        let closed = client.close()
        // The server never gets the close_notify.
        client.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(client.isActive)
        client.embeddedEventLoop.advanceTime(by: .seconds(2))
        try closed.wait()
        #expect(!client.isActive)
    }

    @Test("a server that gets no ClientHello fails with handshakeTimeout and closes")
    func handshakeTimeout() throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let server = EmbeddedChannel()
        let recorder = Recorder()
        try server.pipeline.syncOperations.addHandlers([
            TLSHandler(context: try certificates.serverContext(), handshakeTimeout: .seconds(3)), recorder,
        ])
        try server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        server.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(server.isActive)
        server.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!server.isActive)
        #expect(recorder.errors.map(\.code) == [.handshakeTimeout])
    }

    @Test("a client checks the server name: a certificate for localhost does not match example.org")
    func wrongServerName() throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let pair = try EmbeddedPair(
            client: try certificates.clientContext(serverName: "example.org"),
            server: try certificates.serverContext()
        )
        try pair.connect()
        try pair.pump()
        #expect(pair.clientRecorder.errors.first?.code == .certificate)
        #expect(pair.clientRecorder.events.isEmpty)
        #expect(!pair.client.isActive)
    }

    @Test("a client verifies an IP address against the certificate's IP SANs", arguments: ["127.0.0.1", "::1"])
    func ipServerName(address: String) throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let pair = try EmbeddedPair(
            client: try certificates.clientContext(serverName: address),
            server: try certificates.serverContext()
        )
        try pair.connect()
        try pair.pump()
        #expect(pair.clientRecorder.events == [.handshakeCompleted(negotiatedProtocol: "notify/1")])
    }

    @Test("writes after close are failed with code closed")
    func writeAfterClose() throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let pair = try EmbeddedPair(client: try certificates.clientContext(), server: try certificates.serverContext())
        try pair.connect()
        try pair.pump()
        _ = pair.client.close()
        let write = pair.client.writeAndFlush(ByteBuffer(string: "late"))
        #expect(throws: TLSError.self) { try write.wait() }
        try pair.pump()
    }
}
