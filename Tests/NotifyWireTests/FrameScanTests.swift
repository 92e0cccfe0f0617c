import NIOCore
import NotifyCore
import NotifyWire
import Testing

/// The walk over a frame's protobuf bytes that runs before protobuf-c unpacks it.
@Suite("Frame decoding refuses NUL strings and too much metadata before unpacking")
struct FrameScanTests {
    /// Frame { request = 2 { call_id = 1, method = 2, metadata = 3..., payload = 5 } }.
    static func request(method: [UInt8] = Array("/m".utf8), entries: [[UInt8]] = [], payload: [UInt8] = []) -> ByteBuffer {
        var body: [UInt8] = [0x08, 0x01, 0x12, UInt8(method.count)] + method
        for entry in entries { body += [0x1a] + varint(entry.count) + entry }
        body += [0x2a] + varint(payload.count) + payload
        return ByteBuffer(bytes: [0x12] + varint(body.count) + body)
    }

    static func varint(_ value: Int) -> [UInt8] {
        var value = UInt64(value)
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7f) | 0x80)
            value >>= 7
        }
        return bytes + [UInt8(value)]
    }

    static func entry(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let key = Array(key.utf8)
        return [0x0a, UInt8(key.count)] + key + [0x12] + varint(value.count) + value
    }

    static func code(_ body: ByteBuffer, limits: FrameLimits = FrameLimits()) -> WireError.Code? {
        do {
            _ = try Frame.decode(payload: body, limits: limits)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("a NUL in the method, a metadata key or value, or a response's reason is refused")
    func nul() {
        #expect(Self.code(Self.request(method: Array("/m".utf8) + [0]) ) == .invalidString)
        #expect(Self.code(Self.request(entries: [Self.entry("authorization", Array("Bearer t".utf8) + [0, 0x67])])) == .invalidString)
        #expect(Self.code(Self.request(entries: [Self.entry("x\u{0}y", [0x61])])) == .invalidString)
        // Frame { response = 3 { call_id 1, status_code 3, reason "A\0" } }.
        #expect(Self.code(ByteBuffer(bytes: [0x1a, 0x08, 0x08, 0x01, 0x10, 0x03, 0x32, 0x02, 0x41, 0x00])) == .invalidString)
    }

    @Test("a NUL in a payload is just a byte")
    func nulInPayload() throws {
        guard case .request(let request) = try Frame.decode(payload: Self.request(payload: [0, 0, 1])) else {
            Issue.record("not a request")
            return
        }
        #expect(request.payload == ByteBuffer(bytes: [0, 0, 1]))
    }

    @Test("the entry and byte limits of metadata hold exactly")
    func limits() throws {
        let empty: [UInt8] = []
        let limits = FrameLimits(maxMetadataEntries: 64, maxMetadataBytes: 16 * 1024)
        #expect(Self.code(Self.request(entries: Array(repeating: empty, count: 64)), limits: limits) == nil)
        #expect(Self.code(Self.request(entries: Array(repeating: empty, count: 65)), limits: limits) == .metadataTooLarge)
        // One entry of exactly the byte limit, then one byte more.
        let header = Self.entry("k", Array(repeating: 0x61, count: 200)).count - 200
        let exact = Self.entry("k", Array(repeating: 0x61, count: 1024 - header))
        #expect(exact.count == 1024)
        let small = FrameLimits(maxMetadataEntries: 8, maxMetadataBytes: 1024)
        #expect(Self.code(Self.request(entries: [exact]), limits: small) == nil)
        let over = Self.entry("k", Array(repeating: 0x61, count: 1025 - header))
        #expect(Self.code(Self.request(entries: [over]), limits: small) == .metadataTooLarge)
    }

    @Test("two million empty entries are refused at the 65th")
    func bomb() {
        let bomb = Self.request(entries: Array(repeating: [], count: 2_000_000))
        let started = ContinuousClock.now
        #expect(Self.code(bomb) == .metadataTooLarge)
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
