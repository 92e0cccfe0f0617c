internal import CNotifyProto
public import NIOCore
import NotifyCore

extension Frame {
    /// Decodes one frame body: the bytes after the 5-byte header.
    ///
    /// protobuf-c unpacks into C memory; every string and payload is copied out into Swift values
    /// before that memory is freed, so the returned frame owns all it holds. The size limit is the
    /// caller's (``FrameDecoder`` checks it from the header before the body arrives).
    ///
    /// Before protobuf-c sees the bytes, a walk over their wire format refuses a NUL byte in any
    /// string field and metadata past `limits` (see ``FrameLimits``): protobuf-c would cut the
    /// string at the NUL, and pays an allocation per metadata entry, however empty.
    ///
    /// - Parameters:
    ///   - payload: Exactly one serialized `notify.v1.Frame`.
    ///   - limits: The most metadata the frame may carry.
    /// - Returns: The frame.
    /// - Throws: ``WireError/Code/malformedFrame`` if the bytes are not a `notify.v1.Frame`, no `kind` is
    ///   set, a string is not UTF-8, or a field the kind needs is absent (`call_id` of a request (or 0 there),
    ///   response, stream message or cancel; `method`; a response's `status_code`);
    ///   ``WireError/Code/invalidString`` for a NUL byte in a string field;
    ///   ``WireError/Code/metadataTooLarge`` past `limits`.
    public static func decode(payload: ByteBuffer, limits: FrameLimits = FrameLimits()) throws(WireError) -> Frame {
        let result = payload.withUnsafeReadableBytes { bytes -> Result<Frame, WireError> in
            if case .failure(let error) = Result(catching: { () throws(WireError) in try FrameScan.check(bytes, limits: limits) }) {
                return .failure(error)
            }
            let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
            guard let unpacked = notify__v1__frame__unpack(nil, bytes.count, data) else {
                return .failure(.malformed("the frame body is not a notify.v1.Frame"))
            }
            defer { notify__v1__frame__free_unpacked(unpacked, nil) }
            return Result { () throws(WireError) in try Frame(unpacked.pointee) }
        }
        return try result.get()
    }

    private init(_ frame: Notify__V1__Frame) throws(WireError) {
        switch frame.kind_case {
        case NOTIFY__V1__FRAME__KIND_SETTINGS:
            let message = try Self.submessage(frame.settings, "settings")
            self = .settings(
                Settings(
                    maxConcurrentCalls: message.has_max_concurrent_calls != 0 ? message.max_concurrent_calls : 0,
                    maxMessageSize: message.has_max_message_size != 0 ? message.max_message_size : 0,
                    idleTimeoutMilliseconds: message.has_idle_timeout_ms != 0 ? message.idle_timeout_ms : 0,
                    server: try Self.string(message.server, "settings server") ?? ""
                )
            )

        case NOTIFY__V1__FRAME__KIND_REQUEST:
            let message = try Self.submessage(frame.request, "request")
            guard message.has_call_id != 0 else { throw .malformed("request without call_id") }
            // 0 names no call: a goaway's last_call_id 0 means "none processed" (docs/PROTOCOL.md).
            guard message.call_id != 0 else { throw .malformed("request with call_id 0") }
            guard let method = try Self.string(message.method, "method") else {
                throw .malformed("request \(message.call_id) without method")
            }
            self = .request(
                RequestFrame(
                    callID: message.call_id,
                    method: method,
                    metadata: try Self.metadata(count: message.n_metadata, entries: message.metadata),
                    timeoutMilliseconds: message.has_timeout_ms != 0 && message.timeout_ms != 0 ? message.timeout_ms : nil,
                    payload: message.has_payload != 0 ? Self.bytes(message.payload) : ByteBuffer()
                )
            )

        case NOTIFY__V1__FRAME__KIND_RESPONSE:
            let message = try Self.submessage(frame.response, "response")
            guard message.has_call_id != 0 else { throw .malformed("response without call_id") }
            // proto2 would read an absent code as 0, OK; a peer that forgot it must not look successful.
            guard message.has_status_code != 0 else {
                throw .malformed("response \(message.call_id) without status_code")
            }
            self = .response(
                ResponseFrame(
                    callID: message.call_id,
                    status: StatusCode(rawValue: message.status_code),
                    message: try Self.string(message.status_message, "status message") ?? "",
                    metadata: try Self.metadata(count: message.n_metadata, entries: message.metadata),
                    payload: message.has_payload != 0 ? Self.bytes(message.payload) : nil,
                    reason: try Self.string(message.reason, "reason").map(Reason.init(rawValue:)),
                    fieldViolations: try Self.fieldViolations(
                        count: message.n_field_violations,
                        entries: message.field_violations
                    )
                )
            )

        case NOTIFY__V1__FRAME__KIND_MESSAGE:
            let message = try Self.submessage(frame.message, "message")
            guard message.has_call_id != 0 else { throw .malformed("stream message without call_id") }
            self = .message(
                StreamMessageFrame(
                    callID: message.call_id,
                    payload: message.has_payload != 0 ? Self.bytes(message.payload) : ByteBuffer(),
                    metadata: try Self.metadata(count: message.n_metadata, entries: message.metadata)
                )
            )

        case NOTIFY__V1__FRAME__KIND_PING:
            let message = try Self.submessage(frame.ping, "ping")
            self = .ping(message.has_opaque != 0 ? message.opaque : 0)

        case NOTIFY__V1__FRAME__KIND_PONG:
            let message = try Self.submessage(frame.pong, "pong")
            self = .pong(message.has_opaque != 0 ? message.opaque : 0)

        case NOTIFY__V1__FRAME__KIND_GOAWAY:
            let message = try Self.submessage(frame.goaway, "goaway")
            self = .goAway(
                GoAwayFrame(
                    lastCallID: message.has_last_call_id != 0 ? message.last_call_id : 0,
                    status: StatusCode(rawValue: message.has_status_code != 0 ? message.status_code : 0),
                    message: try Self.string(message.status_message, "goaway message") ?? ""
                )
            )

        case NOTIFY__V1__FRAME__KIND_CANCEL:
            let message = try Self.submessage(frame.cancel, "cancel")
            guard message.has_call_id != 0 else { throw .malformed("cancel without call_id") }
            self = .cancel(callID: message.call_id)

        default:
            // NOT_SET, or a kind from a newer schema that this build cannot interpret.
            throw .malformed("frame sets no known kind (kind_case \(frame.kind_case.rawValue))")
        }
    }

    private static func submessage<Message>(
        _ pointer: UnsafeMutablePointer<Message>?,
        _ name: StaticString
    ) throws(WireError) -> Message {
        // protobuf-c allocates the member whenever it sets kind_case; the check guards that invariant.
        guard let pointer else { throw .malformed("\(name) is set but empty") }
        return pointer.pointee
    }

    private static func string(_ pointer: UnsafeMutablePointer<CChar>?, _ field: StaticString) throws(WireError) -> String? {
        guard let pointer else { return nil }
        guard let string = String(validatingCString: pointer) else {
            throw .malformed("\(field) is not valid UTF-8")
        }
        return string
    }

    private static func bytes(_ data: ProtobufCBinaryData) -> ByteBuffer {
        guard data.len > 0, let base = data.data else { return ByteBuffer() }
        return ByteBuffer(bytes: UnsafeRawBufferPointer(start: base, count: data.len))
    }

    private static func metadata(
        count: Int,
        entries: UnsafeMutablePointer<UnsafeMutablePointer<Notify__V1__MetadataEntry>?>?
    ) throws(WireError) -> Metadata {
        var metadata = Metadata()
        guard count > 0, let entries else { return metadata }
        metadata.reserveCapacity(count)
        for index in 0..<count {
            guard let entry = entries[index] else { throw .malformed("metadata entry \(index) is null") }
            let key = try Self.string(entry.pointee.key, "metadata key") ?? ""
            let value = try Self.string(entry.pointee.value, "metadata value") ?? ""
            metadata.add(key, value)
        }
        return metadata
    }

    private static func fieldViolations(
        count: Int,
        entries: UnsafeMutablePointer<UnsafeMutablePointer<Notify__V1__FieldViolation>?>?
    ) throws(WireError) -> [FieldViolation] {
        guard count > 0, let entries else { return [] }
        var violations: [FieldViolation] = []
        violations.reserveCapacity(count)
        for index in 0..<count {
            guard let entry = entries[index] else { throw .malformed("field violation \(index) is null") }
            violations.append(
                FieldViolation(
                    field: try Self.string(entry.pointee.field, "field violation field") ?? "",
                    description: try Self.string(entry.pointee.description, "field violation description") ?? ""
                )
            )
        }
        return violations
    }
}

extension WireError {
    fileprivate static func malformed(_ message: String) -> WireError {
        WireError(code: .malformedFrame, message: message)
    }
}
