import NIOCore
import NotifyCore
import NotifyServer
import NotifyWire

/// Targets for the RPC wire: the frame decoder, the envelope and the metadata.
enum FrameTargets {
    /// The largest frame the fuzzer's frames may announce: small, so that a
    /// length prefix does not make every input "incomplete".
    static let maximumMessageSize = 64 * 1024

    /// Decodes `bytes` as an inbound stream, then again fed in two parts split
    /// in the middle: both must yield the same frames and the same verdict
    /// (ByteToMessageDecoder hands a decoder arbitrary pieces).
    static func frameStream(_ bytes: UnsafeRawBufferPointer) {
        let whole = decodeStream([ByteBuffer(bytes: bytes)])
        let middle = bytes.count / 2
        let split = decodeStream([
            ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<middle])),
            ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[middle...])),
        ])
        FuzzCheck.require(whole.frames == split.frames, "split input decoded to other frames")
        FuzzCheck.require(whole.error == split.error, "split input got another verdict: \(String(describing: whole.error)) vs \(String(describing: split.error))")

        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 4)
        for frame in whole.frames {
            checkRoundTrip(frame)
            switch frame {
            case .request(let request):
                if machine.receivedRequest(callID: request.callID) == .dispatch, request.callID % 2 == 0 {
                    _ = machine.callCompleted(callID: request.callID)
                }
            case .cancel(let callID):
                _ = machine.receivedCancel(callID: callID)
            case .goAway:
                _ = machine.receivedGoAway()
            case .pong(let opaque):
                _ = machine.receivedPong(opaque: opaque)
            case .settings, .response, .message, .ping:
                break
            }
        }
    }

    private struct StreamResult {
        var frames: [Frame] = []
        var error: WireError.Code?
    }

    private static func decodeStream(_ parts: [ByteBuffer]) -> StreamResult {
        var decoder = FrameDecoder(maximumMessageSize: maximumMessageSize)
        var result = StreamResult()
        var buffer = ByteBuffer()
        do {
            for part in parts {
                var part = part
                buffer.writeBuffer(&part)
                while let frame = try decoder.decode(buffer: &buffer) {
                    result.frames.append(frame)
                }
            }
            while let frame = try decoder.decodeLast(buffer: &buffer, seenEOF: true) {
                result.frames.append(frame)
            }
        } catch let error as WireError {
            result.error = error.code
        } catch {
            FuzzCheck.require(false, "the frame decoder threw something else than a WireError: \(error)")
        }
        return result
    }

    /// Decodes one frame body, as ``FrameDecoder`` does after the header.
    static func envelope(_ bytes: UnsafeRawBufferPointer) {
        guard let frame = try? Frame.decode(payload: ByteBuffer(bytes: bytes)) else { return }
        checkRoundTrip(frame)
    }

    /// A request frame whose body is `call_id`, `method`, then the input as
    /// more fields of the `Request` message: mostly repeated metadata entries
    /// (field 3) once the fuzzer has learnt the tag.
    static func metadata(_ bytes: UnsafeRawBufferPointer) {
        let prefix = requestPrefix
        var request: [UInt8] = []
        request.reserveCapacity(prefix.count + bytes.count)
        request += prefix
        request += bytes
        var body: [UInt8] = [0x12]  // Frame.request, length-delimited
        appendVarint(UInt64(request.count), to: &body)
        body += request
        guard let frame = try? Frame.decode(payload: ByteBuffer(bytes: body)) else { return }
        checkRoundTrip(frame)
        guard case .request(let decoded) = frame else { return }
        exercise(decoded.metadata)
    }

    /// What the server and the gateway read from metadata, and the edits they make.
    static func exercise(_ metadata: Metadata) {
        var count = 0
        for (key, _) in metadata {
            count += 1
            FuzzCheck.require(!key.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }, "a key kept upper case")
        }
        FuzzCheck.require(count == metadata.count, "iteration and count disagree")
        for key in ["authorization", "x-request-id", "idempotency-key", "x-uns-id", "Authorization"] {
            let all = metadata.values(forKey: key)
            FuzzCheck.require(metadata[key] == all.first, "subscript and values(forKey:) disagree on \(key)")
        }
        _ = metadata.description
        var edited = metadata
        edited.replace("Authorization", "Bearer x")
        FuzzCheck.require(edited.values(forKey: "authorization") == ["Bearer x"], "replace left other values")
        edited.removeAll("x-request-id")
        FuzzCheck.require(edited["x-request-id"] == nil, "removeAll left a value")
    }

    /// `call_id = 1`, `method = "/notify.v1.Health/Check"`.
    static let requestPrefix: [UInt8] = {
        var bytes: [UInt8] = [0x08, 0x01, 0x12]
        let method = Array("/notify.v1.Health/Check".utf8)
        appendVarint(UInt64(method.count), to: &bytes)
        return bytes + method
    }()

    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// A decoded frame encodes, and its encoding decodes to the same frame.
    static func checkRoundTrip(_ frame: Frame) {
        var encoded = ByteBuffer()
        do {
            try frame.encode(into: &encoded)
        } catch {
            FuzzCheck.require(false, "a decoded frame does not encode: \(error)")
            return
        }
        var decoder = FrameDecoder(maximumMessageSize: Int(UInt32.max))
        do {
            let again = try decoder.decode(buffer: &encoded)
            FuzzCheck.require(again == frame, "a frame changed through encode and decode")
            FuzzCheck.require(encoded.readableBytes == 0, "encode wrote bytes past the frame")
        } catch {
            FuzzCheck.require(false, "an encoded frame does not decode: \(error)")
        }
    }
}
