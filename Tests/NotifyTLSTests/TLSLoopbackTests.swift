import Foundation
import NIOCore
import NIOPosix
import NotifyTLS
import NotifyTesting
import Testing

/// A TLS echo server on 127.0.0.1 with a random port.
struct EchoServer {
    let channel: any Channel
    let log = ErrorLog()
    var port: Int { channel.localAddress?.port ?? 0 }

    init(context: TLSContext) async throws {
        let log = self.log
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        TLSHandler(context: context, handshakeTimeout: .seconds(30)), EchoHandler(log: log),
                    ])
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
    }

    func stop() async {
        try? await channel.close()
    }

    /// Connects a TLS client, waits for the handshake, sends `message`, and returns the echo.
    func roundTrip(client: TLSContext, message: String) async throws -> (negotiated: String?, echo: String) {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let handshake = loop.makePromise(of: String?.self)
        let response = loop.makePromise(of: ByteBuffer.self)
        let expected = message.utf8.count
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        TLSHandler(context: client, handshakeTimeout: .seconds(30)),
                        ClientProbe(handshake: handshake, response: response, expectedBytes: expected),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        do {
            let negotiated = try await handshake.futureResult.get()
            try await channel.writeAndFlush(ByteBuffer(string: message))
            let echo = try await response.futureResult.get()
            try await channel.close()
            return (negotiated, String(buffer: echo))
        } catch {
            try? await channel.close()
            throw error
        }
    }
}

/// Runs `body`, expecting a ``TLSError``, and returns its code.
func tlsErrorCode(_ body: () async throws -> Void) async -> TLSError.Code? {
    do {
        try await body()
        return nil
    } catch let error as TLSError {
        return error.code
    } catch {
        return nil
    }
}

@Suite("TLSHandler over loopback TCP")
struct TLSLoopbackTests {
    @Test("a NIOPosix client and echo server round-trip data over TLS with ALPN")
    func echo() async throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let server = try await EchoServer(context: try certificates.serverContext())
        let result = try await server.roundTrip(client: try certificates.clientContext(), message: "hello over TLS")
        #expect(result.negotiated == "notify/1")
        #expect(result.echo == "hello over TLS")
        await server.stop()
    }

    @Test("a plaintext HTTP client is closed by the server, which stays healthy")
    func plaintextClient() async throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let server = try await EchoServer(context: try certificates.serverContext())
        let plain = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: server.port)
            .get()
        try await plain.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        // The server closes the connection: the plain client's channel becomes inactive.
        try await plain.closeFuture.get()
        #expect(await server.log.waitFor(.handshakeFailed))
        let result = try await server.roundTrip(client: try certificates.clientContext(), message: "still alive")
        #expect(result.echo == "still alive")
        await server.stop()
    }

    @Test("clients offering no ALPN or another protocol are refused", arguments: [[], ["h2", "http/1.1"]])
    func alpnRefused(protocols: [String]) async throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let server = try await EchoServer(context: try certificates.serverContext())
        let client = try TLSContext(configuration: .client(
            trustRootsFile: certificates.files.caCertificate, serverName: "localhost", applicationProtocols: protocols
        ))
        let code = await tlsErrorCode { _ = try await server.roundTrip(client: client, message: "x") }
        #expect(code == .alpnMismatch)
        #expect(await server.log.waitFor(.alpnMismatch))
        await server.stop()
    }

    @Test("with a client CA, a client without a certificate is refused and one with a CA-issued certificate is served")
    func mutualTLS() async throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let server = try await EchoServer(context: try certificates.serverContext(clientCA: true))

        // TLS 1.3: the client may finish its side of the handshake before the server refuses,
        // so the refusal shows as a failed round trip on the client.
        await #expect(throws: (any Error).self) {
            _ = try await server.roundTrip(client: try certificates.clientContext(), message: "anonymous")
        }
        #expect(await server.log.waitFor(.certificate))

        let issued = try DevelopmentCertificates.issueClientCertificate(in: certificates.certificateDirectory, name: "service-a")
        let result = try await server.roundTrip(
            client: try certificates.clientContext(clientCertificate: issued), message: "authenticated"
        )
        #expect(result.echo == "authenticated")
        await server.stop()
    }

    @Test("a client that trusts another CA refuses the server")
    func untrustedServer() async throws {
        let certificates = try TestCertificates()
        let other = try TestCertificates()
        defer {
            certificates.directory.remove()
            other.directory.remove()
        }
        let server = try await EchoServer(context: try certificates.serverContext())
        let code = await tlsErrorCode {
            _ = try await server.roundTrip(client: try other.clientContext(), message: "x")
        }
        #expect(code == .certificate)
        await server.stop()
    }

    @Test("openssl s_client completes a handshake with ALPN notify/1", arguments: [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")])
    func opensslClient(flag: String, version: String) async throws {
        let certificates = try TestCertificates()
        defer { certificates.directory.remove() }
        let server = try await EchoServer(context: try certificates.serverContext())
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "s_client", "-connect", "127.0.0.1:\(server.port)", flag, "-alpn", "notify/1",
            "-CAfile", certificates.files.caCertificate, "-servername", "localhost",
        ]
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status == 0, "\(text)")
        #expect(text.contains("ALPN protocol: notify/1"), "\(text)")
        #expect(text.contains(version), "\(text)")
        #expect(text.contains("Verify return code: 0 (ok)"), "\(text)")
        await server.stop()
    }
}
