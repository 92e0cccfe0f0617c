import NIOCore
import NotifyCore
import NotifyWire
import Testing

@Suite("Frame encoding and decoding")
struct FrameCodecTests {
    static func bytes(_ count: Int, seed: UInt8 = 0) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(count)
        for index in 0..<count {
            buffer.writeInteger(UInt8(truncatingIfNeeded: index &* 31 &+ Int(seed)))
        }
        return buffer
    }

    static let unicodeMetadata: Metadata = [
        "x-trace-id": "abc-123",
        "X-Mixed-Case": "kept as is: ÀÉÎ",
        "x-emoji": "日本語 🚀 ünïcödé",
        "x-repeat": "one",
        "x-Repeat": "two",
        "x-empty": "",
    ]

    /// Every kind of frame, with empty and non-empty variants of the fields whose presence matters.
    static let frames: [Frame] = [
        .settings(Settings(maxConcurrentCalls: 100, maxMessageSize: 4_194_304, idleTimeoutMilliseconds: 30_000, server: "notifyd 1.0")),
        .settings(Settings(maxConcurrentCalls: 0, maxMessageSize: 0, idleTimeoutMilliseconds: 0, server: "")),
        .request(RequestFrame(callID: 1, method: "/notify.v1.NotificationService/Notify")),
        .request(
            RequestFrame(
                callID: .max,
                method: "/notify.v1.NotificationService/Notify",
                metadata: unicodeMetadata,
                timeoutMilliseconds: 1500,
                payload: bytes(300)
            )
        ),
        // The smallest call id: 0 names no call (a decoding error, tested apart).
        .request(RequestFrame(callID: 1, method: "", metadata: ["k": ""], timeoutMilliseconds: nil, payload: ByteBuffer())),
        .response(ResponseFrame(callID: 1)),
        .response(ResponseFrame(callID: 2, status: .ok, payload: ByteBuffer())),
        .response(ResponseFrame(callID: 3, status: .ok, metadata: unicodeMetadata, payload: bytes(64))),
        .response(
            ResponseFrame(
                callID: 4,
                status: .invalidArgument,
                message: "2 fields are invalid — see violations",
                metadata: ["retry-after": "0"],
                payload: nil,
                reason: Reason(rawValue: "INVALID_RECIPIENT"),
                fieldViolations: [
                    FieldViolation(field: "recipient.user_id", description: "must not be empty"),
                    FieldViolation(field: "content.title", description: "too long: ≤ 200 characters"),
                ]
            )
        ),
        .response(ResponseFrame(callID: 5, status: .unavailable, reason: Reason(rawValue: ""))),
        .message(StreamMessageFrame(callID: 9, payload: bytes(10))),
        .message(StreamMessageFrame(callID: 9, payload: ByteBuffer())),
        .ping(0),
        .ping(.max),
        .pong(42),
        .goAway(GoAwayFrame(lastCallID: 77, status: .unavailable, message: "shutting down")),
        .goAway(GoAwayFrame(lastCallID: 0, status: .ok, message: "")),
        .cancel(callID: 12),
    ]

    static func encoded(_ frame: Frame) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try frame.encode(into: &buffer)
        return buffer
    }

    @Test("every frame kind survives encode then decode", arguments: frames)
    func roundTrip(frame: Frame) throws {
        var buffer = try Self.encoded(frame)
        var decoder = FrameDecoder(maximumMessageSize: Limits.defaultMaxMessageSize)
        let decoded = try decoder.decode(buffer: &buffer)
        #expect(decoded == frame)
        #expect(buffer.readableBytes == 0)
    }

    @Test("callID routes call frames and is nil for connection frames")
    func callIDs() {
        #expect(Frame.request(RequestFrame(callID: 4, method: "/m")).callID == 4)
        #expect(Frame.response(ResponseFrame(callID: 5)).callID == 5)
        #expect(Frame.message(StreamMessageFrame(callID: 6, payload: ByteBuffer())).callID == 6)
        #expect(Frame.cancel(callID: 7).callID == 7)
        #expect(Frame.ping(1).callID == nil)
        #expect(Frame.pong(1).callID == nil)
        #expect(Frame.goAway(GoAwayFrame(lastCallID: 1)).callID == nil)
        #expect(Frame.settings(Settings(maxConcurrentCalls: 1)).callID == nil)
    }

    @Test("the header carries zero flags and the body's big-endian length")
    func headerLayout() throws {
        let frame = Frame.request(RequestFrame(callID: 3, method: "/m", metadata: Self.unicodeMetadata, payload: Self.bytes(1000)))
        var buffer = try Self.encoded(frame)
        let flags = buffer.readInteger(as: UInt8.self)
        let length = buffer.readInteger(endianness: .big, as: UInt32.self)
        #expect(flags == 0)
        #expect(length.map(Int.init) == buffer.readableBytes)
        #expect(try Frame.decode(payload: buffer) == frame)
    }

    @Test("a ping encodes to the exact protobuf bytes")
    func pingBytes() throws {
        // Frame.ping is field 5 (tag 0x2A), Ping.opaque field 1 (tag 0x08).
        let buffer = try Self.encoded(.ping(1))
        #expect(Array(buffer.readableBytesView) == [0x00, 0x00, 0x00, 0x00, 0x04, 0x2A, 0x02, 0x08, 0x01])
    }

    @Test("a cancel encodes to the exact protobuf bytes")
    func cancelBytes() throws {
        // Frame.cancel is field 8 (tag 0x42).
        let buffer = try Self.encoded(.cancel(callID: 300))
        #expect(Array(buffer.readableBytesView) == [0x00, 0x00, 0x00, 0x00, 0x05, 0x42, 0x03, 0x08, 0xAC, 0x02])
    }

    @Test("a 1 MiB payload round-trips byte for byte")
    func largePayload() throws {
        let payload = Self.bytes(1 << 20, seed: 7)
        let frame = Frame.response(ResponseFrame(callID: 8, payload: payload))
        var buffer = try Self.encoded(frame)
        #expect(buffer.readableBytes > 1 << 20)
        var decoder = FrameDecoder(maximumMessageSize: Limits.defaultMaxMessageSize)
        let decoded = try decoder.decode(buffer: &buffer)
        guard case .response(let response) = decoded else {
            Issue.record("decoded \(String(describing: decoded))")
            return
        }
        #expect(response.payload == payload)
    }

    @Test("encoding appends after what the buffer already holds")
    func appends() throws {
        var buffer = ByteBuffer(string: "prefix")
        try Frame.ping(5).encode(into: &buffer)
        try Frame.pong(5).encode(into: &buffer)
        #expect(buffer.readString(length: 6) == "prefix")
        var decoder = FrameDecoder()
        #expect(try decoder.decode(buffer: &buffer) == .ping(5))
        #expect(try decoder.decode(buffer: &buffer) == .pong(5))
        #expect(try decoder.decode(buffer: &buffer) == nil)
    }

    @Test("FrameEncoder writes what encode(into:) writes")
    func messageToByteEncoder() throws {
        let frame = FrameCodecTests.frames[3]
        var out = ByteBuffer()
        try FrameEncoder().encode(data: frame, out: &out)
        #expect(out == (try Self.encoded(frame)))
    }

    @Test("a payload that is a slice of a larger buffer encodes only its readable bytes")
    func slicedPayload() throws {
        var big = Self.bytes(100)
        big.moveReaderIndex(forwardBy: 10)
        let slice = try #require(big.getSlice(at: big.readerIndex, length: 20))
        let frame = Frame.message(StreamMessageFrame(callID: 1, payload: slice))
        var buffer = try Self.encoded(frame)
        var decoder = FrameDecoder()
        guard case .message(let message) = try decoder.decode(buffer: &buffer) else {
            Issue.record("not a stream message")
            return
        }
        #expect(message.payload.readableBytes == 20)
        #expect(message.payload == slice)
    }

    @Test(
        "a string with a NUL byte is refused and leaves the buffer untouched",
        arguments: [
            Frame.request(RequestFrame(callID: 1, method: "/a\u{0}b")),
            Frame.request(RequestFrame(callID: 1, method: "/m", metadata: ["key": "va\u{0}lue"])),
            Frame.response(ResponseFrame(callID: 1, status: .internalError, message: "\u{0}")),
            Frame.response(ResponseFrame(callID: 1, fieldViolations: [FieldViolation(field: "a\u{0}", description: "")])),
            Frame.settings(Settings(maxConcurrentCalls: 1, server: "x\u{0}")),
            Frame.goAway(GoAwayFrame(lastCallID: 1, message: "bye\u{0}")),
        ]
    )
    func nulRejected(frame: Frame) {
        var buffer = ByteBuffer(string: "kept")
        #expect(throws: WireError.self) { try frame.encode(into: &buffer) }
        do {
            try frame.encode(into: &buffer)
        } catch {
            #expect(error.code == .invalidString)
        }
        #expect(buffer == ByteBuffer(string: "kept"))
    }

    @Test("metadata keys arrive lower-cased, in order, repeats kept")
    func metadataOnTheWire() throws {
        let frame = Frame.request(RequestFrame(callID: 1, method: "/m", metadata: Self.unicodeMetadata))
        guard case .request(let request) = try Frame.decode(payload: Self.body(of: frame)) else {
            Issue.record("not a request")
            return
        }
        #expect(request.metadata.map(\.key) == ["x-trace-id", "x-mixed-case", "x-emoji", "x-repeat", "x-repeat", "x-empty"])
        #expect(request.metadata["X-EMOJI"] == "日本語 🚀 ünïcödé")
        #expect(request.metadata.values(forKey: "x-repeat") == ["one", "two"])
    }

    @Test("a zero timeout decodes as no timeout")
    func zeroTimeout() throws {
        let frame = Frame.request(RequestFrame(callID: 1, method: "/m", timeoutMilliseconds: 0))
        guard case .request(let request) = try Frame.decode(payload: Self.body(of: frame)) else {
            Issue.record("not a request")
            return
        }
        #expect(request.timeoutMilliseconds == nil)
    }

    static func body(of frame: Frame) throws -> ByteBuffer {
        var buffer = try encoded(frame)
        buffer.moveReaderIndex(forwardBy: Limits.frameHeaderSize)
        return buffer
    }

    // MARK: Bodies written by hand, as another implementation might send them.

    @Test("absent optional fields decode to their defaults")
    func absentFields() throws {
        // Frame.settings (field 1) with an empty Settings.
        #expect(try Frame.decode(payload: ByteBuffer(bytes: [0x0A, 0x00])) == .settings(Settings(maxConcurrentCalls: 0, maxMessageSize: 0)))
        // Frame.ping with no opaque.
        #expect(try Frame.decode(payload: ByteBuffer(bytes: [0x2A, 0x00])) == .ping(0))
        // Frame.goaway (field 7, tag 0x3A) with nothing set.
        #expect(try Frame.decode(payload: ByteBuffer(bytes: [0x3A, 0x00])) == .goAway(GoAwayFrame(lastCallID: 0, status: .ok)))
        // Frame.request with call_id 1 and method "/m", no payload: the payload is empty.
        #expect(
            try Frame.decode(payload: ByteBuffer(bytes: [0x12, 0x06, 0x08, 0x01, 0x12, 0x02, 0x2F, 0x6D]))
                == .request(RequestFrame(callID: 1, method: "/m"))
        )
    }

    @Test(
        "bodies that are not a usable frame are malformed",
        arguments: [
            ("empty body: no kind", [] as [UInt8]),
            ("not protobuf", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            ("length-delimited field running past the end", [0x12, 0x7F, 0x08]),
            ("only an unknown field", [0x48, 0x01]),
            ("request without call_id", [0x12, 0x03, 0x12, 0x01, 0x78]),
            ("request with call_id 0, set explicitly", [0x12, 0x05, 0x08, 0x00, 0x12, 0x01, 0x78]),
            ("request without method", [0x12, 0x02, 0x08, 0x01]),
            ("response without call_id", [0x1A, 0x02, 0x10, 0x00]),
            ("response without status_code", [0x1A, 0x02, 0x08, 0x01]),
            ("stream message without call_id", [0x22, 0x00]),
            ("cancel without call_id", [0x42, 0x00]),
            ("method that is not UTF-8", [0x12, 0x05, 0x08, 0x01, 0x12, 0x01, 0xFF]),
        ]
    )
    func malformed(name: String, body: [UInt8]) {
        #expect {
            try Frame.decode(payload: ByteBuffer(bytes: body))
        } throws: { error in
            (error as? WireError)?.code == .malformedFrame
        }
    }
}
