import Foundation
import NIOCore
import NIOPosix
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyServer
import NotifyStorageSQLite
import NotifyTLS
import NotifyTesting
import NotifyWire
import Testing

@Suite("Transport over real TLS on loopback")
struct TransportTests {
    @Test("the first frame is settings, announcing the limits")
    func settingsFirst() async throws {
        try await withTestServer(configure: { $0.maxConcurrentCallsPerConnection = 17 }) { server in
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            let first = try #require(try await connection.next())
            await connection.close()
            guard case .settings(let settings) = first else {
                Issue.record("expected settings, got \(first)")
                return
            }
            #expect(settings.maxConcurrentCalls == 17)
            #expect(settings.maxMessageSize == 4 * 1024 * 1024)
        }
    }

    @Test("health answers SERVING through NotifyClient")
    func health() async throws {
        try await withTestServer { server in
            let client = server.client()
            let response = try await client.health()
            #expect(response.status == .serving)
            let unknown = try await client.health(service: "no.such.Service")
            #expect(unknown.status == .serviceUnknown)
            await client.close()
        }
    }

    @Test("an unknown method answers UNIMPLEMENTED")
    func unknownMethod() async throws {
        try await withTestServer { server in
            let client = server.client()
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.callRaw("/notify.v1.Nope/Nothing", payload: ByteBuffer())
            }
            #expect(error?.code == .unimplemented)
            #expect(error?.reason == .unknownMethod)
            await client.close()
        }
    }

    @Test("a garbage request answers INVALID_ARGUMENT with the reason")
    func garbageRequest() async throws {
        try await withTestServer { server in
            let client = server.client()
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.callRaw(Methods.healthCheck, payload: ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0x01]))
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.reason == .undecodableRequest)
            #expect(error?.message.contains("HealthCheckRequest") == true)
            await client.close()
        }
    }

    @Test("1,000 pipelined calls on one connection are all answered, each with its own call id")
    func pipelined() async throws {
        try await withTestServer(configure: { $0.maxConcurrentCallsPerConnection = 1000 }) { server in
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            guard case .settings? = try await connection.next() else {
                Issue.record("no settings frame")
                return
            }
            let payload = HealthCheckRequest().serializedBuffer()
            let frames = (1...1000).map { id in
                Frame.request(RequestFrame(callID: UInt64(id), method: Methods.healthCheck, payload: payload))
            }
            try await connection.write(frames)
            var answered = Set<UInt64>()
            while answered.count < 1000, let frame = try await connection.next() {
                guard case .response(let response) = frame else { continue }
                #expect(response.status == .ok)
                answered.insert(response.callID)
            }
            #expect(answered == Set((1...1000).map { UInt64($0) }))
            await connection.close()
        }
    }

    @Test("a client that stops reading is no longer read from; once it reads again every call is answered and stored")
    func clientStopsReading() async throws {
        // The server's socket holds 64 KiB: a few answers of 16 KiB fill it.
        // The first calls' answers are more than every buffer on the way can
        // hold; the rest are sent once those answers are written.
        let (first, calls) = (64, 400)
        try await withTestServer(configure: {
            $0.socketSendBufferSize = 64 * 1024
            $0.maxConcurrentCallsPerConnection = 4096
            $0.maxCallsInFlight = 4096
        }, memoryBacked: true) { server in
            let app = "graphnotifications.sample.windows.com"
            let subscription = try await server.subscription(user: 2, app: app)
            var metadata = Metadata.bearer(try await server.token(for: .app(app), roles: [.app]))
            metadata.replace("x-uns-id", subscription.id)
            let connection = try await RawConnection.connect(
                port: server.port, caFile: server.caFile, receiveBufferSize: 64 * 1024
            )
            guard case .settings? = try await connection.next() else {
                Issue.record("no settings frame")
                return
            }
            try await connection.stopReading()
            // Each answer is the whole notification, its 16 KiB of raw content
            // included; the call's number is its appNotificationID.
            let content = PayloadInput(rawContent: String(repeating: "x", count: 16 * 1024))
            let expiration = Timestamp.now().adding(seconds: 3600).rfc3339
            // Written without waiting: whatever the server does not read waits
            // in the sockets' buffers.
            func send(_ ids: ClosedRange<Int>) throws -> EventLoopFuture<Void> {
                var bytes = connection.channel.allocator.buffer(capacity: ids.count * (17 * 1024))
                for id in ids {
                    let request = SendNotificationRequest(
                        targetHostName: app, appNotificationID: "\(id)", groupName: "g", expirationDateTime: expiration,
                        payload: content, platformTypes: ["windows"], priority: "Low", displayTimeToLive: 60
                    )
                    try Frame.request(RequestFrame(
                        callID: UInt64(id), method: Methods.sendNotification, metadata: metadata,
                        payload: request.serializedBuffer()
                    )).encode(into: &bytes)
                }
                let written = connection.channel.eventLoop.makePromise(of: Void.self)
                connection.channel.writeAndFlush(bytes, promise: written)
                return written.futureResult
            }

            // The first calls' answers fill the sockets and the server stops
            // handling what it reads; the later calls stay unread or held.
            let firstWritten = try send(1...first)
            try await waitUntil("the first calls are stored") { server.store.statistics.appends > 0 }
            _ = try await server.settledAppendCount()
            let laterWritten = try send((first + 1)...calls)
            let stalled = try await server.settledAppendCount()
            let handled = try await server.store.feed(user: 2, after: 0, limit: 10_000).compactMap { notification in
                if case .graph(let graph) = notification.content { graph.appNotificationID.flatMap { Int($0) } } else { nil }
            }
            #expect(handled.allSatisfy { $0 <= first }, "the server handled \(handled.filter { $0 > first }.count) calls sent after its answers filled the sockets")
            #expect(stalled <= first, "the server handled \(stalled) of \(calls) calls whose answers nobody read")

            try await connection.startReading()
            var answered = Set<UInt64>()
            while answered.count < calls, let frame = try await connection.next() {
                guard case .response(let response) = frame else { continue }
                #expect(response.status == .ok, "\(response.message)")
                answered.insert(response.callID)
            }
            try await firstWritten.get()
            try await laterWritten.get()
            #expect(answered == Set((1...calls).map { UInt64($0) }))
            #expect(try await server.store.feed(user: 2, after: 0, limit: 10_000).count == calls)
            await connection.close()
        }
    }

    @Test("calls past the per-connection limit answer RESOURCE_EXHAUSTED; the rest succeed")
    func concurrencyLimit() async throws {
        try await withTestServer(configure: { $0.maxConcurrentCallsPerConnection = 2 }) { server in
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            let token = try await server.adminToken()
            // Notify calls touch the store, so the first two are still in flight when the rest arrive.
            var request = NotifyRequest(recipientsType: "user", type: "t", title: .null, description: .null, user: 1_000_000)
            request.title = .value("x")
            let frames = (1...50).map { id in
                Frame.request(RequestFrame(
                    callID: UInt64(id), method: Methods.notify, metadata: .bearer(token),
                    payload: request.serializedBuffer()
                ))
            }
            try await connection.write(frames)
            var responses: [ResponseFrame] = []
            while responses.count < 50, let frame = try await connection.next() {
                if case .response(let response) = frame { responses.append(response) }
            }
            let statuses = responses.map(\.status)
            #expect(statuses.contains(.ok))
            #expect(statuses.contains(.resourceExhausted))
            #expect(statuses.allSatisfy { $0 == .ok || $0 == .resourceExhausted })
            // Refused calls carry a request id like every answer (docs/PROTOCOL.md).
            #expect(responses.allSatisfy { $0.metadata["x-request-id"] != nil })
            await connection.close()
        }
    }

    @Test("an oversized frame gets a goaway with RESOURCE_EXHAUSTED and the connection closes")
    func oversized() async throws {
        try await withTestServer(configure: { $0.maxMessageSize = 64 * 1024 }) { server in
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            var header = ByteBuffer()
            header.writeInteger(UInt8(0))
            header.writeInteger(UInt32(10 * 1024 * 1024))
            try await connection.writeRaw(header)
            var goAway: GoAwayFrame?
            while let frame = try? await connection.next() {
                if case .goAway(let frame) = frame { goAway = frame }
            }
            #expect(goAway?.status == .resourceExhausted)
            #expect(!connection.channel.isActive)
            try await expectHealthy(server)
        }
    }

    @Test("garbage bytes get a goaway with INVALID_ARGUMENT and leave the server healthy")
    func garbageFrames() async throws {
        try await withTestServer { server in
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            try await connection.writeRaw(ByteBuffer(bytes: [0, 0, 0, 0, 6, 0xDE, 0xAD, 0xBE, 0xEF, 0x13, 0x37]))
            var goAway: GoAwayFrame?
            while let frame = try? await connection.next() {
                if case .goAway(let frame) = frame { goAway = frame }
            }
            #expect(goAway?.status == .invalidArgument)
            try await expectHealthy(server)
        }
    }

    @Test("a client that disconnects mid-call leaves the server healthy and loses nothing acknowledged")
    func disconnectMidCall() async throws {
        try await withTestServer { server in
            let token = try await server.adminToken()
            for round in 0..<5 {
                let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
                _ = try await connection.next()
                let request = NotifyRequest(recipientsType: "user", type: "t\(round)", title: .value("x"), description: .null, user: 1_000_000)
                let frames = (1...200).map { id in
                    Frame.request(RequestFrame(
                        callID: UInt64(id), method: Methods.notify, metadata: .bearer(token),
                        payload: request.serializedBuffer()
                    ))
                }
                try await connection.write(frames)
                await connection.close()
            }
            try await expectHealthy(server)
        }
    }

    @Test("a deadline that passes answers DEADLINE_EXCEEDED")
    func deadline() async throws {
        try await withTestServer { server in
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            // 1 ms is gone by the time the request is decoded on a loaded machine or not:
            // either way the answer must be OK or DEADLINE_EXCEEDED, never a hang.
            let token = try await server.adminToken()
            let request = NotifyRequest(recipientsType: "user", type: "t", title: .value("x"), description: .null, user: 1_000_000)
            try await connection.write((1...20).map { id in
                .request(RequestFrame(
                    callID: UInt64(id), method: Methods.notify, metadata: .bearer(token), timeoutMilliseconds: 1,
                    payload: request.serializedBuffer()
                ))
            })
            var statuses: [StatusCode] = []
            while statuses.count < 20, let frame = try await connection.next() {
                if case .response(let response) = frame { statuses.append(response.status) }
            }
            #expect(statuses.count == 20)
            #expect(statuses.allSatisfy { $0 == .ok || $0 == .deadlineExceeded })
            await connection.close()
        }
    }

    @Test("while the store is held, each call past its deadline fails at it, on the server and in NotifyClient; the others answer OK once, later")
    func deadlinesWhileTheStoreWaits() async throws {
        try await withTestServer { server in
            try await server.users(1)
            let token = try await server.adminToken()
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            let payload = NotifyRequest(
                recipientsType: "user", type: "t", title: .value("x"), description: .null, user: 1
            ).serializedBuffer()
            func notify(_ id: UInt64, timeout: UInt64?) -> Frame {
                .request(RequestFrame(
                    callID: id, method: Methods.notify, metadata: .bearer(token), timeoutMilliseconds: timeout,
                    payload: payload
                ))
            }
            // One call first, so the lookups are cached and the calls below wait for the store only.
            try await connection.write([notify(100, timeout: nil)])
            guard case .response(let first)? = try await connection.next() else {
                Issue.record("no answer to the first call")
                return
            }
            #expect(first.status == .ok)

            // Another connection holds SQLite's write lock: the store's writer waits for it.
            let holder = try server.holdWriteLock()
            let clock = ContinuousClock()
            let sent = clock.now
            // Deadlines out of order, so an earlier one arrives after a later one was armed.
            let timeouts: [UInt64: UInt64] = [1: 300, 2: 10_000, 3: 150, 4: 10_000, 5: 450, 6: 10_000]
            try await connection.write(timeouts.keys.sorted().map { notify($0, timeout: timeouts[$0]) })
            var expired: [UInt64] = []
            while expired.count < 3, case .response(let response)? = try await connection.next() {
                #expect(response.status == .deadlineExceeded, "call \(response.callID): \(response.status)")
                #expect(response.metadata["x-request-id"] != nil)
                // Never before its deadline.
                let deadline = Duration.milliseconds(Int64(timeouts[response.callID] ?? 0))
                #expect(clock.now - sent >= deadline, "call \(response.callID)")
                expired.append(response.callID)
            }
            #expect(expired == [3, 1, 5])
            // NotifyClient's own deadlines, out of order too: each call fails at its deadline.
            let client = server.client()
            await withTaskGroup(of: Void.self) { calls in
                for milliseconds in [400, 200, 300] {
                    calls.addTask {
                        let start = clock.now
                        let request = NotifyRequest(
                            recipientsType: "user", type: "t", title: .value("x"), description: .null, user: 1
                        )
                        await expectFailure(.deadlineExceeded, "DEADLINE_EXCEEDED") {
                            try await client.notify(request, metadata: .bearer(token), timeout: .milliseconds(milliseconds))
                        }
                        #expect(clock.now - start >= .milliseconds(milliseconds))
                    }
                }
            }

            try holder.release()
            var answered: [UInt64] = []
            while answered.count < 3, case .response(let response)? = try await connection.next() {
                #expect(response.status == .ok, "call \(response.callID): \(response.status)")
                answered.append(response.callID)
            }
            #expect(answered.sorted() == [2, 4, 6])
            // The expired calls' own answers were dropped: the next frame is the pong.
            try await connection.write([.ping(7)])
            #expect(try await connection.next() == .pong(7))
            await connection.close()
            // The client's connection outlives its expired calls.
            let after = try await client.notify(
                NotifyRequest(recipientsType: "user", type: "t", title: .value("x"), description: .null, user: 1),
                metadata: .bearer(token), timeout: .seconds(10)
            )
            #expect(after.recipients == 1)
            await client.close()
        }
    }

    @Test("ping is answered with pong carrying the same value")
    func ping() async throws {
        try await withTestServer { server in
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            try await connection.write([.ping(0xC0FFEE)])
            let frame = try await connection.next()
            #expect(frame == .pong(0xC0FFEE))
            await connection.close()
        }
    }

    @Test("an idle connection is closed after the idle timeout with a goaway")
    func idleTimeout() async throws {
        try await withTestServer(configure: { $0.idleTimeout = .milliseconds(300) }) { server in
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            let frame = try await connection.next()
            guard case .goAway(let goAway)? = frame else {
                Issue.record("expected goaway, got \(String(describing: frame))")
                return
            }
            #expect(goAway.status == .ok)
            #expect(try await connection.next() == nil)
        }
    }

    @Test("a client that connects and never starts TLS is closed after the handshake timeout")
    func handshakeTimeout() async throws {
        try await withTestServer(configure: { $0.handshakeTimeout = .seconds(1) }) { server in
            // Before the connect: the server's second starts at its accept, which
            // a loaded machine may report to this side late.
            let opened = ContinuousClock.now
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: server.port).get()
            // The default timeout is 10 s: closed well before it means the setting was used.
            try await waitForClose(channel, within: .seconds(8))
            #expect(!channel.isActive)
            #expect(ContinuousClock.now - opened >= .milliseconds(900))
            // The check's own handshake has the same second: when the whole
            // suite loads the machine, it may be cut too, so it gets three tries.
            for attempt in 1...3 {
                let client = server.client()
                let status = try? await client.health().status
                await client.close()
                if status == .serving || attempt == 3 {
                    #expect(status == .serving)
                    break
                }
            }
        }
    }

    @Test("a plaintext client is refused and the server stays healthy")
    func plaintext() async throws {
        try await withTestServer { server in
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: server.port).get()
            try await channel.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
            try await waitForClose(channel, within: .seconds(10))
            #expect(!channel.isActive)
            try await expectHealthy(server)
        }
    }

    @Test("a TLS client without the ALPN, or with another one, is refused")
    func noALPN() async throws {
        try await withTestServer { server in
            for alpn in [[], ["h2"]] {
                var failed = false
                do {
                    let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile, alpn: alpn)
                    // The handshake may complete on the client before the server closes.
                    let frame = try await connection.next()
                    failed = frame == nil
                } catch {
                    failed = true
                }
                #expect(failed, "ALPN \(alpn) was accepted")
            }
            try await expectHealthy(server)
        }
    }

    @Test("with --client-ca, a client without a certificate is refused and one with a certificate is served")
    func mutualTLS() async throws {
        let ca = try TemporaryDirectory()
        defer { ca.remove() }
        let caFiles = try DevelopmentCertificates.ensure(in: ca.path)
        let clientCertificate = try DevelopmentCertificates.issueClientCertificate(in: ca.path, name: "client")
        try await withTestServer(configure: { $0.tls.trustRootsFile = caFiles.caCertificate }) { server in
            let anonymous = server.client()
            await #expect(throws: RPCError.self) { _ = try await anonymous.health() }
            await anonymous.close()

            let authenticated = server.client {
                $0.tls.certificateChainFile = clientCertificate.certificate
                $0.tls.privateKeyFile = clientCertificate.key
            }
            let status = try await authenticated.health().status
            #expect(status == .serving)
            await authenticated.close()
        }
    }

    @Test("openssl s_client completes a TLS 1.3 handshake with ALPN notify/1")
    func opensslClient() async throws {
        try await withTestServer { server in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_3", "-alpn", "notify/1",
                "-CAfile", server.caFile, "-servername", "localhost", "-verify_return_error",
            ]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            #expect(text.contains("ALPN protocol: notify/1"), "\(text)")
            #expect(text.contains("TLSv1.3"))
            #expect(text.contains("Verify return code: 0 (ok)"))
        }
    }

    @Test("NotifyClient keeps many calls in flight on one connection")
    func clientConcurrency() async throws {
        try await withTestServer { server in
            let client = server.client()
            try await withThrowingTaskGroup(of: HealthCheckResponse.ServingStatus.self) { group in
                for _ in 0..<500 {
                    group.addTask { try await client.health().status }
                }
                var count = 0
                for try await status in group {
                    #expect(status == .serving)
                    count += 1
                }
                #expect(count == 500)
            }
            await client.close()
        }
    }

    @Test("NotifyClient fails fast while the server is down and reconnects when it is back")
    func reconnect() async throws {
        let caFile: String
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // A port with nothing listening, where the server starts later.
        let port = try await unusedPortOutsideEphemeralRange()
        let files = try DevelopmentCertificates.ensure(in: directory.path)
        caFile = files.caCertificate
        var configuration = ClientConfiguration(port: port, trustRootsFile: caFile)
        configuration.initialBackoff = .milliseconds(50)
        configuration.defaultTimeout = .seconds(60)
        let client = NotifyClient(configuration: configuration)
        let start = ContinuousClock.now
        let error = await #expect(throws: RPCError.self) { _ = try await client.health() }
        #expect(error?.code == .unavailable)
        // Fast means long before the call's deadline; the bound leaves room
        // for a machine loaded by the other suites.
        #expect(ContinuousClock.now - start < .seconds(20))
        let serverTLS = TLSConfiguration.server(
            certificateChainFile: files.serverCertificate, privateKeyFile: files.serverKey, applicationProtocols: ["notify/1"]
        )
        try await withTestServer(configure: { $0.port = port; $0.tls = serverTLS }) { _ in
            // Past the backoff, the next call connects to the server that is now there.
            var status: HealthCheckResponse.ServingStatus?
            for _ in 0..<50 where status == nil {
                status = try? await client.health().status
                if status == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(status == .serving)
        }
        await client.close()
    }
}

/// Waits until the server closes `channel`; throws when `bound` passes first.
func waitForClose(_ channel: any Channel, within bound: Duration) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await channel.closeFuture.get() }
        group.addTask {
            try await Task.sleep(for: bound)
            throw CancellationError()
        }
        try await group.next()
        group.cancelAll()
    }
}

/// Checks, on a new connection, that the server still answers.
func expectHealthy(_ server: TestServer) async throws {
    let client = server.client()
    #expect(try await client.health().status == .serving)
    await client.close()
}
