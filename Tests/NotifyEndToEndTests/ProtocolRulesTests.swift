import NotifyCore
import Foundation
import NIOCore
import NotifyClient
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyStorageSQLite
import NotifyTesting
import NotifyWire
import Testing

/// Rules of docs/PROTOCOL.md a client writer relies on, checked frame by
/// frame: call ids, what a cancel leaves on the wire, the reason of an
/// expired deadline, the health check's service names.
@Suite("The protocol's rules, frame by frame over real TLS")
struct ProtocolRulesTests {
    @Test("call id 0 names no call: a request with it is a protocol error (goaway 3, no response), like one with none")
    func callIDZero() async throws {
        try await withTestServer { server in
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            try await connection.write([
                .request(RequestFrame(callID: 0, method: Methods.healthCheck, payload: HealthCheckRequest().serializedBuffer()))
            ])
            let answer = try await connection.next()
            guard case .goAway(let goAway)? = answer else {
                Issue.record("expected a goaway and nothing else, got \(String(describing: answer))")
                await connection.close()
                return
            }
            #expect(goAway.status == .invalidArgument)
            #expect(goAway.message.contains("call_id 0"), "\(goAway)")
            #expect(try await connection.next() == nil)
            #expect(!connection.channel.isActive)
            // Call ids start at 1, as NotifyClient counts them.
            #expect(try await server.client().health().status == .serving)
        }
    }

    @Test("after a cancel nothing more is sent for the call, not even CANCELLED: unary or stream, the next frame is another call's")
    func cancelSendsNothing() async throws {
        try await withTestServer { server in
            let (connection, admin, payload) = try await notifyReady(server)
            // A first call, so that the lookups are cached and the next waits for the store only.
            try await connection.write([.request(RequestFrame(callID: 1, method: Methods.notify, metadata: .bearer(admin), payload: payload))])
            guard case .response(let first)? = try await connection.next() else {
                Issue.record("no answer to the first call")
                return
            }
            #expect(first.status == .ok)

            // A unary call that is still waiting for the store when it is cancelled.
            let holder = try server.holdWriteLock()
            try await connection.write([
                .request(RequestFrame(callID: 2, method: Methods.notify, metadata: .bearer(admin), payload: payload)),
                .cancel(callID: 2),
            ])
            try holder.release()
            // The cancelled unary call was stored all the same (work started is not interrupted).
            var stored = 0
            for _ in 0..<200 where stored < 2 {
                stored = try await server.store.feed(user: 2, after: 0, limit: 10).count
                if stored < 2 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(stored == 2)
            // A stream, cancelled after its first page. It starts once both
            // entries are stored, so that no live page can cross the cancel.
            try await connection.write([
                .request(RequestFrame(
                    callID: 3, method: Methods.watchFeed, metadata: .bearer(admin),
                    payload: ListFeedRequest(user: 2).serializedBuffer()))
            ])
            guard case .message(let page)? = try await connection.next() else {
                Issue.record("the Watch sent no page")
                return
            }
            #expect(page.callID == 3)
            try await connection.write([.cancel(callID: 3)])
            try await connection.write([.request(RequestFrame(
                callID: 4, method: Methods.healthCheck, payload: HealthCheckRequest().serializedBuffer()))])
            guard case .response(let health)? = try await connection.next() else {
                Issue.record("no answer to the health check")
                return
            }
            #expect(health.callID == 4)
            #expect(health.status == .ok)
            try await connection.write([.ping(9)])
            #expect(try await connection.next() == .pong(9))
            await connection.close()
        }
    }

    @Test("a server deadline answers DEADLINE_EXCEEDED with reason DEADLINE_EXCEEDED and the call's request id")
    func deadlineReason() async throws {
        try await withTestServer { server in
            let (connection, admin, payload) = try await notifyReady(server)
            try await connection.write([.request(RequestFrame(callID: 1, method: Methods.notify, metadata: .bearer(admin), payload: payload))])
            _ = try await connection.next()
            let holder = try server.holdWriteLock()
            let metadata = Metadata.bearer(admin).adding("x-request-id", "deadline-1")
            try await connection.write([.request(RequestFrame(
                callID: 2, method: Methods.notify, metadata: metadata, timeoutMilliseconds: 200, payload: payload))])
            guard case .response(let expired)? = try await connection.next() else {
                Issue.record("no answer")
                return
            }
            try holder.release()
            #expect(expired.status == .deadlineExceeded)
            #expect(expired.reason == .deadlineExceeded)
            #expect(expired.metadata["x-request-id"] == "deadline-1")
            await connection.close()
        }
    }

    @Test(
        "the health check knows exactly the service names docs/PROTOCOL.md lists",
        arguments: [
            ("", true), ("notify.v1.Health", true), ("notify.v1.NotificationService", true),
            ("notify.v1.FeedService", true), ("notify.v1.AdminService", true), ("notify.v1.Readiness", true),
            ("notify.v1.Nope", false), ("Notify.v1.Health", false), ("/notify.v1.Health/Check", false),
        ]
    )
    func healthServiceNames(service: String, known: Bool) async throws {
        try await withTestServer { server in
            let client = server.client()
            let answer = try await client.health(service: service)
            #expect(answer.status == (known ? .serving : .serviceUnknown))
            await client.close()
        }
    }

    /// Users 1 and 2, an admin token, a connection past its settings frame,
    /// and the payload of a Notify to user 2.
    private func notifyReady(_ server: TestServer) async throws -> (RawConnection, String, ByteBuffer) {
        try await server.users(2)
        let admin = try await server.adminToken()
        let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
        _ = try await connection.next()
        let payload = NotifyRequest(
            recipientsType: "user", type: "t", title: .value("x"), description: .null, user: 2
        ).serializedBuffer()
        return (connection, admin, payload)
    }
}
