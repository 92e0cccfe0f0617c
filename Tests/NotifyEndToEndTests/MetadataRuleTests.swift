import NIOCore
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyTesting
import NotifyWire
import Testing

/// docs/PROTOCOL.md's one rule for metadata keys, over real frames: keys compare ASCII
/// case-insensitively, and where a key repeats the first pair wins.
@Suite("Metadata keys on the wire: case-insensitive, first wins")
struct MetadataRuleTests {
    static func answer(
        _ server: TestServer, method: String, metadata: [(String, String)], payload: ByteBuffer = ByteBuffer()
    ) async throws -> ResponseFrame? {
        let connection = try await FrameAbuseTests.connect(server)
        try await connection.writeRaw(FrameAbuseTests.requestFrame(
            method: Array(method.utf8), metadata: metadata.map { (Array($0.0.utf8), Array($0.1.utf8)) },
            payload: Array(payload.readableBytesView)
        ))
        var answer: ResponseFrame?
        while answer == nil, let frame = try await connection.next() {
            if case .response(let response) = frame { answer = response }
        }
        await connection.close()
        return answer
    }

    @Test("x-request-id sent twice, in two spellings: the first is echoed")
    func requestID() async throws {
        try await withTestServer { server in
            let response = try await Self.answer(
                server, method: Methods.healthCheck, metadata: [("X-Request-ID", "first"), ("x-request-id", "second")],
                payload: HealthCheckRequest().serializedBuffer()
            )
            #expect(response?.status == .ok)
            #expect(response?.metadata["x-request-id"] == "first")
            #expect(response?.metadata.values(forKey: "x-request-id") == ["first"])
        }
    }

    @Test("authorization sent twice: the first decides, a later one cannot replace it")
    func authorization() async throws {
        try await withTestServer { server in
            let token = try await server.adminToken()
            var request = NotifyRequest(recipientsType: "user", type: "t", title: .null, description: .null, user: 1_000_000)
            request.title = .value("x")
            let validFirst = try await Self.answer(
                server, method: Methods.notify,
                metadata: [("Authorization", "Bearer \(token)"), ("authorization", "Bearer not-a-token")],
                payload: request.serializedBuffer()
            )
            #expect(validFirst != nil)
            #expect(validFirst?.status != .unauthenticated)
            let invalidFirst = try await Self.answer(
                server, method: Methods.notify,
                metadata: [("AUTHORIZATION", "Bearer not-a-token"), ("authorization", "Bearer \(token)")],
                payload: request.serializedBuffer()
            )
            #expect(invalidFirst?.status == .unauthenticated)
            #expect(invalidFirst?.reason == .invalidToken)
        }
    }
}
