import NIOCore
import NotifyCore
import NotifyClient
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import NotifyWire
import Testing

/// How a connection ends, frame by frame: after a connection error, after the
/// client's goaway, and after the server's; and the answer to a call past the
/// connection's limit.
@Suite("Connection goaways on the wire: what each promises, kept", .timeLimit(.minutes(2)))
struct ConnectionGoAwayTests {
    /// A Notify to the admin's own feed: it waits for the store's writer, so
    /// a held write lock keeps it in flight.
    private func notify(_ callID: UInt64, token: String) -> Frame {
        .request(RequestFrame(
            callID: callID, method: Methods.notify, metadata: .bearer(token),
            payload: notifyRequest(issuer: 1_000_000).serializedBuffer()
        ))
    }

    /// Every frame until the server closes the connection.
    private func rest(of connection: RawConnection) async -> [Frame] {
        var frames: [Frame] = []
        while let frame = try? await connection.next() { frames.append(frame) }
        return frames
    }

    private func responses(_ frames: [Frame]) -> [ResponseFrame] {
        frames.compactMap { if case .response(let response) = $0 { response } else { nil } }
    }

    private func goAways(_ frames: [Frame]) -> [GoAwayFrame] {
        frames.compactMap { if case .goAway(let goAway) = $0 { goAway } else { nil } }
    }

    @Test("after a frame that does not decode, the goaway names the highest id admitted and those calls are answered and stored")
    func undecodableFrame() async throws {
        try await withTestServer { server in
            let token = try await server.adminToken()
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            let lock = try server.holdWriteLock()
            try await connection.write([notify(1, token: token), notify(3, token: token), notify(2, token: token)])
            try await connection.writeRaw(ByteBuffer(bytes: [0, 0, 0, 0, 6, 0xDE, 0xAD, 0xBE, 0xEF, 0x13, 0x37]))
            let first = try #require(try await connection.next())
            guard case .goAway(let goAway) = first else {
                Issue.record("expected a goaway first, got \(first)")
                return
            }
            #expect(goAway.status == .invalidArgument)
            #expect(goAway.lastCallID == 3, "calls 1 to 3 were admitted: a client must not retry them as unseen")
            try lock.release()
            let rest = await rest(of: connection)
            #expect(Set(responses(rest).map(\.callID)) == [1, 2, 3])
            #expect(responses(rest).allSatisfy { $0.status == .ok })
            #expect(!connection.channel.isActive)
            #expect(try await server.store.feed(user: 1_000_000, after: 0, limit: 100).count == 3)
            try await expectHealthy(server)
        }
    }

    @Test("after a reused call id, the goaway names the highest id admitted and the first call with that id is answered once")
    func reusedCallID() async throws {
        try await withTestServer { server in
            let token = try await server.adminToken()
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            let lock = try server.holdWriteLock()
            try await connection.write([notify(4, token: token), notify(4, token: token)])
            let first = try #require(try await connection.next())
            guard case .goAway(let goAway) = first else {
                Issue.record("expected a goaway first, got \(first)")
                return
            }
            #expect(goAway.status == .invalidArgument)
            #expect(goAway.lastCallID == 4)
            try lock.release()
            let answers = responses(await rest(of: connection))
            #expect(answers.map(\.callID) == [4])
            #expect(answers.first?.status == .ok)
            #expect(try await server.store.feed(user: 1_000_000, after: 0, limit: 100).count == 1)
        }
    }

    @Test("calls past the per-connection limit answer RESOURCE_EXHAUSTED TOO_MANY_CALLS with retry-after")
    func tooManyCallsRetryAfter() async throws {
        try await withTestServer(configure: { $0.maxConcurrentCallsPerConnection = 1 }) { server in
            let token = try await server.adminToken()
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            let lock = try server.holdWriteLock()
            try await connection.write([notify(1, token: token), notify(2, token: token)])
            let refused = try #require(try await connection.next())
            guard case .response(let response) = refused else {
                Issue.record("expected a response, got \(refused)")
                return
            }
            #expect(response.callID == 2)
            #expect(response.status == .resourceExhausted)
            #expect(response.reason == .tooManyCalls)
            #expect(response.metadata["retry-after"] == "1")
            #expect(response.metadata["x-request-id"] != nil)
            try lock.release()
            guard case .response(let answered) = try #require(try await connection.next()) else {
                Issue.record("expected call 1's response")
                return
            }
            #expect(answered.callID == 1 && answered.status == .ok)
            await connection.close()
        }
    }

    @Test("a client's goaway is answered with a goaway of status 0 naming the highest id admitted; those calls are answered, then the connection closes")
    func clientGoAway() async throws {
        try await withTestServer { server in
            let token = try await server.adminToken()
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            let lock = try server.holdWriteLock()
            try await connection.write([
                notify(1, token: token), notify(2, token: token),
                .goAway(GoAwayFrame(lastCallID: 0, status: .ok, message: "client done")),
            ])
            let first = try #require(try await connection.next())
            guard case .goAway(let goAway) = first else {
                Issue.record("expected the server's goaway, got \(first)")
                return
            }
            #expect(goAway.status == .ok)
            #expect(goAway.lastCallID == 2)
            // A client that sends one more anyway is told to go elsewhere.
            try await connection.write([notify(3, token: token)])
            guard case .response(let late) = try #require(try await connection.next()) else {
                Issue.record("expected call 3's answer")
                return
            }
            #expect(late.callID == 3 && late.status == .unavailable && late.reason == .goingAway)
            try lock.release()
            let answers = responses(await rest(of: connection))
            #expect(Set(answers.map(\.callID)) == [1, 2])
            #expect(answers.allSatisfy { $0.status == .ok })
            #expect(!connection.channel.isActive)
            try await expectHealthy(server)
        }
    }

    @Test("after the server's shutdown goaway, requests that cross it are answered UNAVAILABLE GOING_AWAY until the client answers the ping behind it")
    func requestsAfterShutdownGoAway() async throws {
        let (ready, isReady) = AsyncStream.makeStream(of: Void.self)
        let (client, bodyEnded) = try await withTestServer { server in
            let (port, caFile) = (server.port, server.caFile)
            let client = Task { () -> (goAway: GoAwayFrame?, answers: [ResponseFrame], closed: Bool) in
                defer { isReady.finish() }
                let connection = try await RawConnection.connect(port: port, caFile: caFile)
                _ = try await connection.next()
                isReady.yield()
                var goAway: GoAwayFrame?
                var pingOpaque: UInt64?
                while goAway == nil || pingOpaque == nil, let frame = try await connection.next() {
                    switch frame {
                    case .goAway(let frame): goAway = frame
                    case .ping(let opaque): pingOpaque = opaque
                    default: break
                    }
                }
                // Requests written before this client read the goaway, as a busy client's would be.
                try await connection.write((10...12).map { id in
                    .request(RequestFrame(
                        callID: UInt64(id), method: Methods.healthCheck, payload: HealthCheckRequest().serializedBuffer()
                    ))
                })
                var answers: [ResponseFrame] = []
                while answers.count < 3, let frame = try await connection.next() {
                    if case .response(let response) = frame { answers.append(response) }
                }
                try await connection.write([.pong(pingOpaque ?? 0)])
                let closed = await rest(of: connection).isEmpty
                return (goAway, answers, closed && !connection.channel.isActive)
            }
            for await _ in ready { break }
            // The server drains once this returns.
            return (client, ContinuousClock.now)
        }
        // The test server's drain timeout is 10 s: a connection held to it would take that long.
        #expect(ContinuousClock.now - bodyEnded < .seconds(8))
        let (goAway, answers, closed) = try await client.value
        #expect(goAway?.status == .unavailable)
        #expect(goAway?.lastCallID == 0)
        #expect(answers.map(\.callID) == [10, 11, 12])
        #expect(answers.allSatisfy { $0.status == .unavailable && $0.reason == .goingAway })
        #expect(answers.allSatisfy { $0.metadata["x-request-id"] != nil })
        #expect(closed, "the server closes once the ping is answered")
    }

    @Test("every message frame of a Watch carries the call's x-request-id, the client's or the server's, as its response does")
    func watchMessagesCarryRequestID() async throws {
        try await withTestServer { server in
            try await server.users(2)
            let admin = try await server.adminToken()
            _ = try await server.client().notify(notifyRequest(issuer: 2), metadata: .bearer(admin))
            let raw = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await raw.next()
            var named = Metadata.bearer(admin)
            named.add("x-request-id", "watch-1")
            try await raw.write([
                .request(RequestFrame(
                    callID: 1, method: Methods.watchFeed, metadata: named, payload: ListFeedRequest(user: 2).serializedBuffer()
                )),
                .request(RequestFrame(
                    callID: 2, method: Methods.watchFeed, metadata: .bearer(admin), timeoutMilliseconds: 500,
                    payload: ListFeedRequest(user: 2).serializedBuffer()
                )),
            ])
            var messages: [UInt64: [String?]] = [:]
            var final: ResponseFrame?
            while final == nil, let frame = try await raw.next() {
                switch frame {
                case .message(let message): messages[message.callID, default: []].append(message.metadata["x-request-id"])
                case .response(let response) where response.callID == 2: final = response
                default: break
                }
            }
            #expect(messages[1]?.isEmpty == false)
            #expect(messages[1]?.allSatisfy { $0 == "watch-1" } == true)
            let made = try #require(final?.metadata["x-request-id"])
            #expect(messages[2]?.isEmpty == false)
            #expect(messages[2]?.allSatisfy { $0 == made } == true, "the id the server made, on every frame of the call")
            try await raw.write([.cancel(callID: 1)])
            await raw.close()
        }
    }
}
