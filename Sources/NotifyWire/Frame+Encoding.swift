internal import CNotifyProto
public import NIOCore
import NotifyCore

extension Frame {
    /// Appends this frame to `buffer`: the 5-byte header, then the packed `notify.v1.Frame`.
    ///
    /// protobuf-c packs straight into `buffer`'s writable bytes after one `reserveCapacity`, and the C
    /// structs point into Swift-owned memory (a ``ScratchArena`` for strings, the `ByteBuffer`s'
    /// readable bytes for payloads) only for the duration of the call, so a frame costs no heap
    /// allocation beyond the output buffer's growth unless its strings are too large for the stack.
    ///
    /// `buffer` is unchanged when this throws.
    ///
    /// - Parameter buffer: The buffer to append to.
    /// - Throws: ``WireError/Code/invalidString`` if a string contains a NUL byte;
    ///   ``WireError/Code/messageTooLarge`` if the body would not fit the 4-byte length.
    public func encode(into buffer: inout ByteBuffer) throws(WireError) {
        switch self {
        case .settings(let settings):
            try Self.encode(settings, into: &buffer)
        case .request(let request):
            try Self.encode(request, into: &buffer)
        case .response(let response):
            try Self.encode(response, into: &buffer)
        case .message(let message):
            try Self.encode(message, into: &buffer)
        case .ping(let opaque):
            try Self.encodePing(opaque, kind: NOTIFY__V1__FRAME__KIND_PING, into: &buffer)
        case .pong(let opaque):
            try Self.encodePing(opaque, kind: NOTIFY__V1__FRAME__KIND_PONG, into: &buffer)
        case .goAway(let goAway):
            try Self.encode(goAway, into: &buffer)
        case .cancel(let callID):
            try Self.encodeCancel(callID, into: &buffer)
        }
    }

    private static func encode(_ settings: Settings, into buffer: inout ByteBuffer) throws(WireError) {
        var size = ScratchArena.Size()
        size.add(string: settings.server)
        try ScratchArena.with(size) { arena throws(WireError) in
            var message = Notify__V1__Settings()
            notify__v1__settings__init(&message)
            message.has_max_concurrent_calls = 1
            message.max_concurrent_calls = settings.maxConcurrentCalls
            message.has_max_message_size = 1
            message.max_message_size = settings.maxMessageSize
            message.has_idle_timeout_ms = 1
            message.idle_timeout_ms = settings.idleTimeoutMilliseconds
            message.server = try arena.cString(settings.server, field: "settings server")
            try withUnsafeMutablePointer(to: &message) { pointer throws(WireError) in
                var frame = Notify__V1__Frame()
                notify__v1__frame__init(&frame)
                frame.kind_case = NOTIFY__V1__FRAME__KIND_SETTINGS
                frame.settings = pointer
                try Self.pack(&frame, into: &buffer).get()
            }
        }
    }

    private static func encode(_ request: RequestFrame, into buffer: inout ByteBuffer) throws(WireError) {
        var size = ScratchArena.Size()
        size.add(string: request.method)
        size.add(metadata: request.metadata)
        try ScratchArena.with(size) { arena throws(WireError) in
            var message = Notify__V1__Request()
            notify__v1__request__init(&message)
            message.has_call_id = 1
            message.call_id = request.callID
            message.method = try arena.cString(request.method, field: "method")
            (message.n_metadata, message.metadata) = try arena.metadata(request.metadata)
            if let timeout = request.timeoutMilliseconds, timeout != 0 {
                message.has_timeout_ms = 1
                message.timeout_ms = timeout
            }
            let emptyPayload = arena.nonNullPointer
            let result = request.payload.withUnsafeReadableBytes { payload in
                message.has_payload = 1
                message.payload = ProtobufCBinaryData(payload, orIfEmpty: emptyPayload)
                return withUnsafeMutablePointer(to: &message) { pointer in
                    var frame = Notify__V1__Frame()
                    notify__v1__frame__init(&frame)
                    frame.kind_case = NOTIFY__V1__FRAME__KIND_REQUEST
                    frame.request = pointer
                    return Self.pack(&frame, into: &buffer)
                }
            }
            try result.get()
        }
    }

    private static func encode(_ response: ResponseFrame, into buffer: inout ByteBuffer) throws(WireError) {
        var size = ScratchArena.Size()
        size.add(string: response.message)
        size.add(string: response.reason?.rawValue ?? "")
        size.add(metadata: response.metadata)
        size.add(fieldViolations: response.fieldViolations)
        try ScratchArena.with(size) { arena throws(WireError) in
            var message = Notify__V1__Response()
            notify__v1__response__init(&message)
            message.has_call_id = 1
            message.call_id = response.callID
            message.has_status_code = 1
            message.status_code = response.status.rawValue
            // An empty message is the common case for OK; leaving it absent saves bytes and decodes to "".
            if !response.message.isEmpty {
                message.status_message = try arena.cString(response.message, field: "status message")
            }
            (message.n_metadata, message.metadata) = try arena.metadata(response.metadata)
            message.reason = try arena.optionalCString(response.reason?.rawValue, field: "reason")
            (message.n_field_violations, message.field_violations) = try arena.fieldViolations(response.fieldViolations)

            let emptyPayload = arena.nonNullPointer
            func pack(payload: UnsafeRawBufferPointer?) -> Result<Void, WireError> {
                if let payload {
                    message.has_payload = 1
                    message.payload = ProtobufCBinaryData(payload, orIfEmpty: emptyPayload)
                }
                return withUnsafeMutablePointer(to: &message) { pointer in
                    var frame = Notify__V1__Frame()
                    notify__v1__frame__init(&frame)
                    frame.kind_case = NOTIFY__V1__FRAME__KIND_RESPONSE
                    frame.response = pointer
                    return Self.pack(&frame, into: &buffer)
                }
            }
            let result =
                if let payload = response.payload {
                    payload.withUnsafeReadableBytes { pack(payload: $0) }
                } else {
                    pack(payload: nil)
                }
            try result.get()
        }
    }

    private static func encode(_ streamMessage: StreamMessageFrame, into buffer: inout ByteBuffer) throws(WireError) {
        var size = ScratchArena.Size()
        size.add(metadata: streamMessage.metadata)
        try ScratchArena.with(size) { arena throws(WireError) in
            var message = Notify__V1__StreamMessage()
            notify__v1__stream_message__init(&message)
            message.has_call_id = 1
            message.call_id = streamMessage.callID
            (message.n_metadata, message.metadata) = try arena.metadata(streamMessage.metadata)
            let emptyPayload = arena.nonNullPointer
            let result = streamMessage.payload.withUnsafeReadableBytes { payload in
                message.has_payload = 1
                message.payload = ProtobufCBinaryData(payload, orIfEmpty: emptyPayload)
                return withUnsafeMutablePointer(to: &message) { pointer in
                    var frame = Notify__V1__Frame()
                    notify__v1__frame__init(&frame)
                    frame.kind_case = NOTIFY__V1__FRAME__KIND_MESSAGE
                    frame.message = pointer
                    return Self.pack(&frame, into: &buffer)
                }
            }
            try result.get()
        }
    }

    private static func encodePing(
        _ opaque: UInt64,
        kind: Notify__V1__Frame__KindCase,
        into buffer: inout ByteBuffer
    ) throws(WireError) {
        var message = Notify__V1__Ping()
        notify__v1__ping__init(&message)
        message.has_opaque = 1
        message.opaque = opaque
        try withUnsafeMutablePointer(to: &message) { pointer throws(WireError) in
            var frame = Notify__V1__Frame()
            notify__v1__frame__init(&frame)
            frame.kind_case = kind
            // `ping` and `pong` share the union slot and the message type; `kind_case` tells them apart.
            frame.ping = pointer
            try Self.pack(&frame, into: &buffer).get()
        }
    }

    private static func encode(_ goAway: GoAwayFrame, into buffer: inout ByteBuffer) throws(WireError) {
        var size = ScratchArena.Size()
        size.add(string: goAway.message)
        try ScratchArena.with(size) { arena throws(WireError) in
            var message = Notify__V1__GoAway()
            notify__v1__go_away__init(&message)
            message.has_last_call_id = 1
            message.last_call_id = goAway.lastCallID
            message.has_status_code = 1
            message.status_code = goAway.status.rawValue
            if !goAway.message.isEmpty {
                message.status_message = try arena.cString(goAway.message, field: "goaway message")
            }
            try withUnsafeMutablePointer(to: &message) { pointer throws(WireError) in
                var frame = Notify__V1__Frame()
                notify__v1__frame__init(&frame)
                frame.kind_case = NOTIFY__V1__FRAME__KIND_GOAWAY
                frame.goaway = pointer
                try Self.pack(&frame, into: &buffer).get()
            }
        }
    }

    private static func encodeCancel(_ callID: UInt64, into buffer: inout ByteBuffer) throws(WireError) {
        var message = Notify__V1__Cancel()
        notify__v1__cancel__init(&message)
        message.has_call_id = 1
        message.call_id = callID
        try withUnsafeMutablePointer(to: &message) { pointer throws(WireError) in
            var frame = Notify__V1__Frame()
            notify__v1__frame__init(&frame)
            frame.kind_case = NOTIFY__V1__FRAME__KIND_CANCEL
            frame.cancel = pointer
            try Self.pack(&frame, into: &buffer).get()
        }
    }

    /// Writes the header and the packed frame. Returns its failure rather than throwing because it runs
    /// inside `ByteBuffer.withUnsafeReadableBytes`, whose `rethrows` would erase the error type.
    private static func pack(
        _ frame: inout Notify__V1__Frame,
        into buffer: inout ByteBuffer
    ) -> Result<Void, WireError> {
        let size = notify__v1__frame__get_packed_size(&frame)
        guard size <= UInt32.max else {
            return .failure(WireError(code: .messageTooLarge, message: "frame body of \(size) bytes exceeds 4 GiB"))
        }
        buffer.reserveCapacity(minimumWritableBytes: Limits.frameHeaderSize + size)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(size))
        let written = withUnsafePointer(to: &frame) { frame in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                // A frame with its kind set packs to at least two bytes, so the region is never empty.
                guard let base = out.baseAddress else { return 0 }
                return notify__v1__frame__pack(frame, base.assumingMemoryBound(to: UInt8.self))
            }
        }
        precondition(written == size, "protobuf-c packed \(written) bytes after sizing \(size)")
        return .success(())
    }
}

extension ProtobufCBinaryData {
    /// Points at `bytes` for the duration of a pack; `fallback` stands in for an empty buffer's
    /// possibly-null base address.
    fileprivate init(_ bytes: UnsafeRawBufferPointer, orIfEmpty fallback: UnsafeMutablePointer<UInt8>) {
        let base = bytes.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: UInt8.self)) }
        self.init(len: bytes.count, data: bytes.isEmpty ? fallback : (base ?? fallback))
    }
}
