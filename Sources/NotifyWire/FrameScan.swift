import NIOCore

/// What a frame's metadata may hold, checked before protobuf-c decodes the frame.
///
/// protobuf-c allocates a struct for every metadata entry it reads, even an
/// empty one (two bytes on the wire): a 4 MiB frame of empty entries cost
/// about 180 MB before any of it was looked at. ``Frame/decode(payload:limits:)``
/// walks the protobuf wire format first and refuses such a frame at no cost.
public struct FrameLimits: Hashable, Sendable {
    /// Metadata entries one request or response may carry.
    public var maxMetadataEntries: Int
    /// The encoded size of one frame's metadata entries, keys and values with
    /// their few bytes of framing, in bytes.
    public var maxMetadataBytes: Int

    /// 64 entries and 16 KiB: what an HTTP/2 peer accepts by default, and
    /// far more than the four keys a call uses.
    public static let defaultMaxMetadataEntries = 64
    public static let defaultMaxMetadataBytes = 16 * 1024

    public init(
        maxMetadataEntries: Int = FrameLimits.defaultMaxMetadataEntries,
        maxMetadataBytes: Int = FrameLimits.defaultMaxMetadataBytes
    ) {
        self.maxMetadataEntries = maxMetadataEntries
        self.maxMetadataBytes = maxMetadataBytes
    }
}

/// A walk over the protobuf wire format of one `notify.v1.Frame`, before it is unpacked.
///
/// It refuses what protobuf-c would get wrong or pay too much for:
/// - a NUL byte in any string field of the envelope (`method`, metadata keys and values, status
///   messages, `reason`, field violations, `settings.server`): protobuf-c hands strings over as C
///   strings, which end at the first NUL, so `Bearer <token>\0garbage` would read as `Bearer <token>`;
/// - more metadata than ``FrameLimits`` allows.
/// Everything else (wire types protobuf-c would refuse, lengths past the end) is left to protobuf-c,
/// except that the walk stops at a length past the end (it cannot go on) and refuses groups, which
/// protobuf-c does not support either.
enum FrameScan {
    /// The messages of wire.proto whose fields the walk needs to know.
    private enum Message {
        case frame, settings, request, response, streamMessage, goAway, metadataEntry, fieldViolation
    }

    /// What a length-delimited field of a message is.
    private enum Field {
        case string
        case message(Message)
        case metadataEntry
        case other
    }

    private static func field(_ number: UInt64, of message: Message) -> Field {
        switch (message, number) {
        case (.frame, 1): .message(.settings)
        case (.frame, 2): .message(.request)
        case (.frame, 3): .message(.response)
        case (.frame, 4): .message(.streamMessage)
        case (.frame, 7): .message(.goAway)
        case (.settings, 4): .string
        case (.request, 2): .string
        case (.request, 3): .metadataEntry
        case (.response, 3), (.response, 6): .string
        case (.response, 4): .metadataEntry
        case (.response, 7): .message(.fieldViolation)
        case (.streamMessage, 3): .metadataEntry
        case (.goAway, 3): .string
        case (.metadataEntry, 1), (.metadataEntry, 2): .string
        case (.fieldViolation, 1), (.fieldViolation, 2): .string
        default: .other
        }
    }

    /// Counts of what the walk has seen so far, across the frame.
    private struct Totals {
        var entries = 0
        var bytes = 0
    }

    /// - Throws: ``WireError/Code/invalidString`` for a NUL byte in a string field,
    ///   ``WireError/Code/metadataTooLarge`` past a limit, ``WireError/Code/malformedFrame`` for a
    ///   group or a length past the end.
    static func check(_ bytes: UnsafeRawBufferPointer, limits: FrameLimits) throws(WireError) {
        var totals = Totals()
        try walk(bytes, as: .frame, limits: limits, totals: &totals)
    }

    private static func walk(
        _ bytes: UnsafeRawBufferPointer, as message: Message, limits: FrameLimits, totals: inout Totals
    ) throws(WireError) {
        var index = 0
        while index < bytes.count {
            let tag = try varint(bytes, &index)
            switch tag & 7 {
            case 0:
                _ = try varint(bytes, &index)
            case 1:
                try skip(8, bytes, &index)
            case 5:
                try skip(4, bytes, &index)
            case 2:
                let length = try varint(bytes, &index)
                guard length <= UInt64(bytes.count - index) else {
                    throw WireError(code: .malformedFrame, message: "a field's length runs past the end of the frame")
                }
                let start = index
                index += Int(length)
                let body = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                switch field(tag >> 3, of: message) {
                case .string:
                    if body.contains(0) {
                        throw WireError(
                            code: .invalidString,
                            message: "a string field of the frame (method, metadata, ...) holds a NUL byte"
                        )
                    }
                case .message(let inner):
                    try walk(body, as: inner, limits: limits, totals: &totals)
                case .metadataEntry:
                    totals.entries += 1
                    totals.bytes += body.count
                    guard totals.entries <= limits.maxMetadataEntries else {
                        throw WireError(
                            code: .metadataTooLarge,
                            message: "more than \(limits.maxMetadataEntries) metadata entries"
                        )
                    }
                    guard totals.bytes <= limits.maxMetadataBytes else {
                        throw WireError(
                            code: .metadataTooLarge,
                            message: "metadata larger than \(limits.maxMetadataBytes) bytes"
                        )
                    }
                    try walk(body, as: .metadataEntry, limits: limits, totals: &totals)
                case .other:
                    break
                }
            default:
                throw WireError(code: .malformedFrame, message: "the frame uses a wire type protobuf-c does not read (\(tag & 7))")
            }
        }
    }

    private static func varint(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) throws(WireError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count, shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw WireError(code: .malformedFrame, message: "a varint of the frame is cut or too long")
    }

    private static func skip(_ count: Int, _ bytes: UnsafeRawBufferPointer, _ index: inout Int) throws(WireError) {
        guard bytes.count - index >= count else {
            throw WireError(code: .malformedFrame, message: "a fixed-size field runs past the end of the frame")
        }
        index += count
    }
}
