import NIOCore
import NIOTestUtils
import NotifyCore
import NotifyWire
import Testing

@Suite("FrameDecoder")
struct FrameDecoderTests {
    static func encoded(_ frame: Frame) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try frame.encode(into: &buffer)
        return buffer
    }

    static func header(flags: UInt8 = 0, length: UInt32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(flags)
        buffer.writeInteger(length, endianness: .big)
        return buffer
    }

    static func expectWireError(_ code: WireError.Code, _ body: () throws -> Void) {
        #expect {
            try body()
        } throws: { error in
            (error as? WireError)?.code == code
        }
    }

    @Test("decodes split, merged and drip-fed input (ByteToMessageDecoderVerifier)")
    func verifier() throws {
        let pairs = try FrameCodecTests.frames.map { frame in
            (try Self.encoded(frame), [frame])
        }
        // Two frames in one input: the decoder must produce both from one read.
        var merged = try Self.encoded(.ping(1))
        try Frame.request(RequestFrame(callID: 2, method: "/m", payload: ByteBuffer(string: "x"))).encode(into: &merged)
        let mergedPair = (merged, [Frame.ping(1), .request(RequestFrame(callID: 2, method: "/m", payload: ByteBuffer(string: "x")))])

        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs + [mergedPair]) {
            FrameDecoder(maximumMessageSize: Limits.defaultMaxMessageSize)
        }
    }

    @Test("an oversized length is refused from the header alone, before any of the body")
    func oversizedHeaderOnly() {
        var decoder = FrameDecoder(maximumMessageSize: 16)
        var buffer = Self.header(length: 17)
        Self.expectWireError(.messageTooLarge) { _ = try decoder.decode(buffer: &buffer) }

        var decoder2 = FrameDecoder(maximumMessageSize: Limits.defaultMaxMessageSize)
        var huge = Self.header(length: .max)
        Self.expectWireError(.messageTooLarge) { _ = try decoder2.decode(buffer: &huge) }
    }

    @Test("a body of exactly the maximum is accepted")
    func exactlyMaximum() throws {
        let frame = Frame.message(StreamMessageFrame(callID: 1, payload: ByteBuffer(repeating: 0xAB, count: 100)))
        var buffer = try Self.encoded(frame)
        let bodyLength = buffer.readableBytes - Limits.frameHeaderSize
        var exact = FrameDecoder(maximumMessageSize: bodyLength)
        #expect(try exact.decode(buffer: &buffer) == frame)

        var again = try Self.encoded(frame)
        var oneShort = FrameDecoder(maximumMessageSize: bodyLength - 1)
        Self.expectWireError(.messageTooLarge) { _ = try oneShort.decode(buffer: &again) }
    }

    @Test("truncated input yields nothing and no error until the rest arrives")
    func truncated() throws {
        let frame = Frame.request(RequestFrame(callID: 5, method: "/notify.v1.NotificationService/Notify", payload: ByteBuffer(repeating: 1, count: 50)))
        let whole = try Self.encoded(frame)
        var decoder = FrameDecoder()
        // Every proper prefix, including a partial header, is "need more data".
        for cut in 0..<whole.readableBytes {
            var prefix = try #require(whole.getSlice(at: whole.readerIndex, length: cut))
            #expect(try decoder.decode(buffer: &prefix) == nil)
            #expect(prefix.readableBytes == cut, "nothing consumed at cut \(cut)")
        }
        var all = whole
        #expect(try decoder.decode(buffer: &all) == frame)
    }

    @Test("end of stream inside a frame is reported as truncated")
    func truncatedAtEOF() throws {
        let whole = try Self.encoded(.ping(9))
        var decoder = FrameDecoder()
        var partial = try #require(whole.getSlice(at: whole.readerIndex, length: whole.readableBytes - 1))
        Self.expectWireError(.truncated) { _ = try decoder.decodeLast(buffer: &partial, seenEOF: true) }

        var empty = ByteBuffer()
        #expect(try decoder.decodeLast(buffer: &empty, seenEOF: true) == nil)

        var complete = whole
        #expect(try decoder.decodeLast(buffer: &complete, seenEOF: true) == .ping(9))
    }

    @Test("the compressed flag and reserved bits are refused from the first byte", arguments: [UInt8(0x01), 0x02, 0x80, 0xFF, 0x03])
    func badFlags(flags: UInt8) {
        var decoder = FrameDecoder()
        var oneByte = ByteBuffer(bytes: [flags])
        Self.expectWireError(.unsupportedFlags) { _ = try decoder.decode(buffer: &oneByte) }

        var full = Self.header(flags: flags, length: 4)
        full.writeBytes([0x2A, 0x02, 0x08, 0x01])
        Self.expectWireError(.unsupportedFlags) { _ = try decoder.decode(buffer: &full) }
    }

    @Test("a valid length around bytes that are not protobuf is malformed")
    func nonProtobufBody() {
        var decoder = FrameDecoder()
        var buffer = Self.header(length: 8)
        buffer.writeBytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        Self.expectWireError(.malformedFrame) { _ = try decoder.decode(buffer: &buffer) }

        var text = Self.header(length: 11)
        text.writeString("hello world")
        Self.expectWireError(.malformedFrame) { _ = try decoder.decode(buffer: &text) }

        var empty = Self.header(length: 0)
        Self.expectWireError(.malformedFrame) { _ = try decoder.decode(buffer: &empty) }
    }

    @Test("random bytes produce frames, need-more-data or a WireError, never a crash")
    func randomGarbage() {
        var random = SplitMix64(seed: 0x5EED)
        var outcomes = (frames: 0, needMore: 0, errors: 0)
        for _ in 0..<2000 {
            let count = Int(random.next() % 64)
            var buffer = ByteBuffer()
            // Mostly zero flags and small lengths so that bodies reach protobuf-c, not just the header checks.
            buffer.writeInteger(UInt8(random.next() % 8 == 0 ? random.next() & 0xFF : 0))
            buffer.writeInteger(UInt32(random.next() % 70))
            for _ in 0..<count {
                buffer.writeInteger(UInt8(truncatingIfNeeded: random.next()))
            }
            var decoder = FrameDecoder(maximumMessageSize: 64)
            do {
                while let _ = try decoder.decode(buffer: &buffer) {
                    outcomes.frames += 1
                }
                outcomes.needMore += 1
            } catch is WireError {
                outcomes.errors += 1
            } catch {
                Issue.record("a non-WireError escaped: \(error)")
            }
        }
        #expect(outcomes.errors > 0)
        #expect(outcomes.needMore > 0)
        #expect(outcomes.frames + outcomes.needMore + outcomes.errors >= 2000)
    }

    @Test("mutating single bytes of valid frames never crashes the decoder")
    func bitFlips() throws {
        var random = SplitMix64(seed: 42)
        let originals = try FrameCodecTests.frames.map { try Self.encoded($0) }
        for original in originals {
            for _ in 0..<50 {
                var bytes = Array(original.readableBytesView)
                let index = Limits.frameHeaderSize + Int(random.next() % UInt64(bytes.count - Limits.frameHeaderSize))
                bytes[index] ^= UInt8(truncatingIfNeeded: random.next() | 1)
                var buffer = ByteBuffer(bytes: bytes)
                var decoder = FrameDecoder()
                do {
                    _ = try decoder.decode(buffer: &buffer)
                } catch let error as WireError {
                    #expect(error.code == .malformedFrame || error.code == .messageTooLarge)
                } catch {
                    Issue.record("a non-WireError escaped: \(error)")
                }
            }
        }
    }
}

/// A small deterministic generator, so a failing garbage case reproduces.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
