import Foundation
import NIOCore
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyServer
import NotifyTesting
import NotifyWire
import Testing

@Suite("FeedService/Watch: the feed as a live stream, over real TLS against the real server and SQLite")
struct FeedWatchTests {
    @Test("the backlog after the cursor comes page by page, then each commit live, in order, with no gap")
    func backlogThenLive() async throws {
        try await withTestServer { server in
            try await server.users(1, 2)
            try await server.connect(1, to: 2, kind: .friend)
            let admin = Metadata.bearer(try await server.adminToken())
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let client = server.client()
            var ids: [String] = []
            for index in 1...5 {
                ids.append(try await client.notify(notifyRequest(issuer: 2, title: "old \(index)"), metadata: admin).id)
            }

            var pages = client.watchFeed(ListFeedRequest(user: 2, afterSequence: 2, limit: 2), metadata: owner)
                .makeAsyncIterator()
            let first = try #require(try await pages.next())
            #expect(first.notifications.map(\.sequence) == [3, 4])
            #expect(first.nextAfterSequence == 4)
            #expect(!first.caughtUp)
            let second = try #require(try await pages.next())
            // caughtUp: the reader has caught up, what follows is live.
            #expect(second.notifications.map(\.sequence) == [5])
            #expect(second.caughtUp)

            // Live: to the user, and to the issuer's friends (the store picks
            // those in SQL, so it wakes every watcher).
            ids.append(try await client.notify(notifyRequest(issuer: 2, title: "live 1"), metadata: admin).id)
            ids.append(try await client.notify(notifyRequest(issuer: 1, recipients: "connections"), metadata: admin).id)
            ids.append(try await client.notify(notifyRequest(issuer: 2, title: "live 2"), metadata: admin).id)
            var live: [NotifyDomain.Notification] = []
            while live.count < 3, let page = try await pages.next() {
                live += page.notifications
                #expect(page.nextAfterSequence == live.last?.sequence ?? 5)
            }
            #expect(live.map(\.sequence) == [6, 7, 8])
            #expect((first.notifications + second.notifications + live).map(\.id) == Array(ids[2...]))
            #expect(live.allSatisfy { $0.user == 2 })
            await client.close()
        }
    }

    @Test("an empty feed answers one empty page at once, so the reader knows it is live")
    func emptyFeedMarksLive() async throws {
        try await withReader { server, client, admin in
            var pages = client.watchFeed(ListFeedRequest(user: 2), metadata: admin).makeAsyncIterator()
            let marker = try #require(try await pages.next())
            #expect(marker.notifications.isEmpty)
            #expect(marker.nextAfterSequence == 0)
            #expect(marker.caughtUp)
            let id = try await client.notify(notifyRequest(issuer: 2), metadata: admin).id
            let page = try #require(try await pages.next())
            #expect(page.notifications.map(\.id) == [id])
            #expect(page.nextAfterSequence == 1)
        }
    }

    @Test("a reader that stops and resumes from the last nextAfterSequence gets the rest, no gap, no repeat; the server frees the stream")
    func resumeAfterStopping() async throws {
        try await withReader { server, client, admin in
            var ids: [String] = []
            for _ in 0..<3 { ids.append(try await client.notify(notifyRequest(issuer: 2), metadata: admin).id) }

            var seen: [NotifyDomain.Notification] = []
            var cursor: UInt64 = 0
            for try await page in client.watchFeed(ListFeedRequest(user: 2, limit: 2), metadata: admin) {
                seen += page.notifications
                cursor = page.nextAfterSequence
                break  // the device goes away after its first page
            }
            #expect(cursor == 2)
            try await waitUntil("the stream is released") { server.endpoint.openStreams == 0 }

            // Stored while no one was reading.
            for _ in 0..<2 { ids.append(try await client.notify(notifyRequest(issuer: 2), metadata: admin).id) }
            for try await page in client.watchFeed(ListFeedRequest(user: 2, afterSequence: cursor), metadata: admin) {
                seen += page.notifications
                if seen.count >= 5 { break }
            }
            #expect(seen.map(\.sequence) == [1, 2, 3, 4, 5])
            #expect(seen.map(\.id) == ids)
            try await waitUntil("the stream is released") { server.endpoint.openStreams == 0 }
        }
    }

    @Test("a reader that falls behind its buffer is not cut: the watch resumes from its cursor, no gap, no repeat")
    func slowReader() async throws {
        try await withReader { server, client, admin in
            for _ in 0..<40 { _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin) }

            // 40 pages of 1 into a buffer of one page, read only after they all had time to arrive.
            var pages = client.watchFeed(ListFeedRequest(user: 2, limit: 1), metadata: admin, bufferBytes: 1)
                .makeAsyncIterator()
            try await Task.sleep(for: .milliseconds(500))
            var seen: [UInt64] = []
            while seen.count < 40, let page = try await pages.next() {
                seen += page.notifications.map(\.sequence)
            }
            #expect(seen == Array(1...40))
            #expect(pages.resumptions > 0)
            _ = consume pages
            try await waitUntil("the streams are released") { server.endpoint.openStreams == 0 }
        }
    }

    @Test("Watch checks its caller like List does, before any message")
    func access() async throws {
        try await withTestServer { server in
            try await server.users(2, 3)
            let admin = Metadata.bearer(try await server.adminToken())
            let stranger = Metadata.bearer(try await server.token(for: .user(3), roles: [.user]))
            let client = server.client()
            _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin)
            for (metadata, code, reason) in [
                (stranger, StatusCode.permissionDenied, "NOT_AUTHORIZED_FOR_USER"),
                (Metadata(), .unauthenticated, "MISSING_TOKEN"),
            ] {
                await expectFailure(code, reason) {
                    for try await page in client.watchFeed(ListFeedRequest(user: 2), metadata: metadata) {
                        Issue.record("a message reached a refused reader: \(page)")
                    }
                }
            }
            let noUser = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                for try await _ in client.watchFeed(ListFeedRequest(), metadata: admin) {}
            }
            #expect(noUser?.fieldViolations.map(\.field) == ["user"])
            try await waitUntil("the streams are released") { server.endpoint.openStreams == 0 }
            await client.close()
        }
    }

    @Test("revoking the reader's token or blocking the reader ends a running watch at once, with nothing appended")
    func credentialsChangeMidStream() async throws {
        try await withReader { server, client, admin in
            _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin)

            let created = try await client.call(
                Methods.createToken, CreateTokenRequest(principal: PrincipalInput(user: 2), roles: ["user"]),
                metadata: admin, as: CreateTokenResponse.self)
            // A deadline, so that a watch left running fails the test instead of holding it.
            var revoked = client.watchFeed(
                ListFeedRequest(user: 2), metadata: .bearer(created.token), timeout: .seconds(10)
            ).makeAsyncIterator()
            #expect(try await revoked.next()?.notifications.count == 1)
            _ = try await client.call(
                Methods.revokeToken, RevokeTokenRequest(tokenID: created.tokenID), metadata: admin,
                as: RevokeTokenResponse.self)
            await expectFailure(.unauthenticated, "TOKEN_REVOKED") {
                while let page = try await revoked.next() { Issue.record("a page after the revocation: \(page)") }
            }

            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            var blocked = client.watchFeed(ListFeedRequest(user: 2), metadata: owner, timeout: .seconds(10))
                .makeAsyncIterator()
            #expect(try await blocked.next()?.notifications.count == 1)
            _ = try await client.call(
                Methods.block, BlockRequest(caller: PrincipalInput(user: 2)), metadata: admin, as: BlockResponse.self)
            await expectFailure(.permissionDenied, "CALLER_BLOCKED") {
                while let page = try await blocked.next() { Issue.record("a page after the block: \(page)") }
            }
            // A reader whose caller did not change reads on through those wake-ups.
            var other = client.watchFeed(ListFeedRequest(user: 2), metadata: admin).makeAsyncIterator()
            #expect(try await other.next()?.notifications.count == 1)
            _ = try await client.call(
                Methods.unblock, BlockRequest(caller: PrincipalInput(user: 2)), metadata: admin, as: BlockResponse.self)
            let id = try await client.notify(notifyRequest(issuer: 2), metadata: admin).id
            var live: [String] = []
            while live.isEmpty, let page = try await other.next() { live += page.notifications.map(\.id) }
            #expect(live == [id])
        }
    }

    @Test("a watch on a quiet feed ends TOKEN_EXPIRED once its token expires, and the server frees it")
    func tokenExpiresMidStream() async throws {
        try await withReader { server, client, admin in
            let created = try await client.call(
                Methods.createToken,
                // Long enough for the watch to start on a machine the parallel suites keep busy.
                CreateTokenRequest(principal: PrincipalInput(user: 2), roles: ["user"], ttlSeconds: 4),
                metadata: admin, as: CreateTokenResponse.self)
            let started = ContinuousClock.now
            // A deadline, so that a watch left running fails the test instead of holding it.
            var pages = client.watchFeed(ListFeedRequest(user: 2), metadata: .bearer(created.token), timeout: .seconds(20))
                .makeAsyncIterator()
            #expect(try await pages.next()?.notifications.isEmpty == true)
            // Nothing is written to this feed: only the expiry can end the stream.
            await expectFailure(.unauthenticated, "TOKEN_EXPIRED") {
                while let page = try await pages.next() { Issue.record("a page after the expiry: \(page)") }
            }
            #expect(ContinuousClock.now - started < .seconds(15))
            try await waitUntil("the stream is released") { server.endpoint.openStreams == 0 }
        }
    }

    @Test("past its deadline a watch ends DEADLINE_EXCEEDED and the server frees it")
    func deadline() async throws {
        try await withReader { server, client, admin in
            let started = ContinuousClock.now
            await expectFailure(.deadlineExceeded, "DEADLINE_EXCEEDED") {
                for try await _ in client.watchFeed(ListFeedRequest(user: 2), metadata: admin, timeout: .milliseconds(300)) {}
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            try await waitUntil("the stream is released") { server.endpoint.openStreams == 0 }
        }
    }

    @Test("past --max-streams a new watch is refused OVERLOADED, and unary calls still run")
    func streamLimit() async throws {
        try await withReader(configure: { $0.maxStreams = 1 }) { server, client, admin in
            var open = client.watchFeed(ListFeedRequest(user: 2), metadata: admin).makeAsyncIterator()
            _ = try #require(try await open.next())
            await expectFailure(.resourceExhausted, "OVERLOADED") {
                for try await _ in client.watchFeed(ListFeedRequest(user: 2), metadata: admin) {}
            }
            #expect(try await client.notify(notifyRequest(issuer: 2), metadata: admin).recipients == 1)
            #expect(try await open.next()?.notifications.count == 1)
        }
    }

    @Test("an in-process stream's messages go over typed, yet its reader's buffer is bounded by their encoded size as over a connection; raw payloads are refused in-process")
    func inProcessBound() async throws {
        try await withTestServer { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = NotifyClient(local: server.endpoint)
            for _ in 0..<3 { _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin) }
            // Three pages of one entry into a buffer of one byte: the first is
            // always taken, the second does not fit while the first waits.
            let messages = client.stream(
                NotifyMethods.watchFeed, ListFeedRequest(user: 2, limit: 1), metadata: admin, bufferBytes: 1)
            var pages = messages.makeAsyncIterator()
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await pages.next()?.notifications.map(\.sequence) == [1])
            let error = await expectFailure(.resourceExhausted, "CONSUMER_TOO_SLOW") { try await pages.next() }
            #expect(error?.message.contains("1 bytes unread") == true)
            try await waitUntil("the stream is released") { server.endpoint.openStreams == 0 }

            let raw = await expectFailure(.unimplemented, "UNKNOWN_METHOD") {
                try await client.callRaw(Methods.healthCheck, payload: HealthCheckRequest().serializedBuffer())
            }
            #expect(raw?.message.contains("typed messages") == true)
            await client.close()
        }
    }

    @Test("an in-process client (the gateway's) watches with no connection: backlog, live, its limit, and a stop that frees the stream")
    func inProcess() async throws {
        try await withTestServer(configure: { $0.maxStreams = 1 }) { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = NotifyClient(local: server.endpoint)
            let first = try await client.notify(notifyRequest(issuer: 2), metadata: admin).id
            var pages = client.watchFeed(ListFeedRequest(user: 2), metadata: admin).makeAsyncIterator()
            #expect(try await pages.next()?.notifications.map(\.id) == [first])
            await expectFailure(.resourceExhausted, "OVERLOADED") {
                for try await _ in client.watchFeed(ListFeedRequest(user: 2), metadata: admin) {}
            }
            let second = try await client.notify(notifyRequest(issuer: 2), metadata: admin).id
            #expect(try await pages.next()?.notifications.map(\.id) == [second])
            await expectFailure(.unimplemented, "NOT_A_STREAM") {
                for try await _ in client.stream(
                    Methods.listFeed, ListFeedRequest(user: 2), metadata: admin, as: ListFeedResponse.self
                ) {}
            }
            // Dropping the reader ends the call.
            _ = consume pages
            try await waitUntil("the stream is released") { server.endpoint.openStreams == 0 }
            await expectFailure(.deadlineExceeded, "DEADLINE_EXCEEDED") {
                for try await _ in client.watchFeed(ListFeedRequest(user: 2), metadata: admin, timeout: .milliseconds(200)) {}
            }
            try await waitUntil("the stream is released") { server.endpoint.openStreams == 0 }
        }
    }

    @Test("graceful shutdown ends a watch at once with UNAVAILABLE GOING_AWAY instead of holding the drain")
    func shutdownEndsStreams() async throws {
        let (reader, bodyEnded) = try await withTestServer { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let (ready, isReady) = AsyncStream.makeStream(of: Void.self)
            // Left reading when the body returns: the server then drains.
            let reader = Task { () -> RPCError? in
                defer { isReady.finish() }
                do {
                    for try await _ in client.watchFeed(ListFeedRequest(user: 2), metadata: admin) {
                        isReady.yield()
                    }
                    return nil
                } catch {
                    return error as? RPCError
                }
            }
            for await _ in ready { break }
            return (reader, ContinuousClock.now)
        }
        // The test server's drain timeout is 10 s: a stream that held it would take that long.
        #expect(ContinuousClock.now - bodyEnded < .seconds(8))
        let error = await reader.value
        #expect(error?.code == .unavailable)
        #expect(error?.reason == .goingAway)
    }

    @Test("on the wire: message frames carry the call id before the final response; a cancel frame frees the stream")
    func rawFrames() async throws {
        try await withTestServer { server in
            try await server.users(2)
            let admin = try await server.adminToken()
            let client = server.client()
            _ = try await client.notify(notifyRequest(issuer: 2), metadata: .bearer(admin))
            let raw = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            guard case .settings = try await raw.next() else {
                Issue.record("the first frame was not settings")
                return
            }
            var metadata = Metadata.bearer(admin)
            metadata.add("x-request-id", "watch-1")
            try await raw.write([.request(RequestFrame(
                callID: 7, method: Methods.watchFeed, metadata: metadata, timeoutMilliseconds: nil,
                payload: ListFeedRequest(user: 2).serializedBuffer()
            ))])
            guard case .message(let message) = try await raw.next() else {
                Issue.record("expected a stream message")
                return
            }
            #expect(message.callID == 7)
            let page = try ListFeedResponse(serializedBytes: message.payload)
            #expect(page.notifications.map(\.sequence) == [1])
            #expect(server.endpoint.openStreams == 1)

            try await raw.write([
                .cancel(callID: 7),
                .request(RequestFrame(
                    callID: 8, method: Methods.healthCheck, metadata: Metadata(), timeoutMilliseconds: nil,
                    payload: HealthCheckRequest().serializedBuffer()
                )),
            ])
            // The cancelled call gets nothing more; the connection serves on.
            guard case .response(let health) = try await raw.next() else {
                Issue.record("expected the health answer")
                return
            }
            #expect(health.callID == 8)
            #expect(health.status == .ok)
            try await waitUntil("the stream is released") { server.endpoint.openStreams == 0 }
            _ = try await client.notify(notifyRequest(issuer: 2), metadata: .bearer(admin))
            try await raw.write([.ping(42)])
            guard case .pong(42) = try await raw.next() else {
                Issue.record("after a cancel, a message of the cancelled call arrived before the pong")
                return
            }
            // An undecodable request is refused before any message.
            try await raw.write([.request(RequestFrame(
                callID: 9, method: Methods.watchFeed, metadata: metadata, timeoutMilliseconds: nil,
                payload: ByteBuffer(bytes: [0xFF, 0xFF])
            ))])
            guard case .response(let refused) = try await raw.next() else {
                Issue.record("expected the refusal")
                return
            }
            #expect(refused.callID == 9)
            #expect(refused.status == .invalidArgument)
            #expect(refused.reason == .undecodableRequest)
            await raw.close()
            await client.close()
        }
    }

    /// A fresh server with user 2, an admin's metadata and a client of its
    /// own, closed after `body`.
    private func withReader(
        configure: (inout ServerConfiguration) throws -> Void = { _ in },
        _ body: (TestServer, NotifyClient, Metadata) async throws -> Void
    ) async throws {
        try await withTestServer(configure: configure) { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            do {
                try await body(server, client, admin)
            } catch {
                await client.close()
                throw error
            }
            await client.close()
        }
    }
}
