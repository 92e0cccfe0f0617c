import Foundation
import NIOCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf

#if DEBUG || FUZZING
// BodyReading (form bodies, Content-Encoding) is internal to the gateway. A
// debug build (the test build) is compiled for testing, and so is a fuzz build
// (scripts/fuzz.sh passes -enable-testing); a plain release build of this
// target skips those two paths.
@testable import NotifyGateway
import NotifyJSON
#endif

/// The gateway's translation of a request body into an RPC request, as its
/// responders do it: parse, read the contract's fields, validate, then encode
/// the request exactly as the client sends it upstream.
enum GatewayJSONTarget {
    /// The decoded-size bound used for Content-Encoding, small so that the
    /// fuzzer meets it.
    static let decodedLimit = 64 * 1024

    /// The first byte picks the path, the rest is the body:
    /// 0 `POST /api/v2/notification/notify/` as `application/json`,
    /// 1 `POST /me/notifications/` (SendNotification JSON),
    /// 2 the notify route as `application/x-www-form-urlencoded`,
    /// 3 gzip, 4 deflate: the body is decoded first, then read as 0.
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let selector = bytes.first else { return }
        let body = ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes.dropFirst()))
        switch selector % 5 {
        case 0:
            notifyJSON(body)
        case 1:
            sendNotificationJSON(body)
        case 2:
            #if DEBUG || FUZZING
            if BodyReading.looksLikeJSON(body) {
                notifyJSON(body)
            } else if let object = BodyReading.formObject(body) {
                translate(ContractJSON.readNotifyRequest(object: object))
            }
            #endif
        default:
            #if DEBUG || FUZZING
            let encoding: BodyReading.Encoding = selector % 5 == 3 ? .gzip : .deflate
            guard let decoded = try? BodyReading.decode(body, encoding: encoding, limit: decodedLimit) else { return }
            FuzzCheck.require(decoded.readableBytes <= decodedLimit, "a decoded body exceeds its limit")
            notifyJSON(decoded)
            #endif
        }
    }

    static func notifyJSON(_ body: ByteBuffer) {
        guard case .object(let object)? = body.withUnsafeReadableBytes(JSONValue.parse(bytes:)) else { return }
        translate(ContractJSON.readNotifyRequest(object: object))
    }

    static func sendNotificationJSON(_ body: ByteBuffer) {
        guard case .object(let object)? = body.withUnsafeReadableBytes(JSONValue.parse(bytes:)) else { return }
        let reading = ContractJSON.readSendNotificationRequest(object: object)
        let validation: [Violation]
        do {
            let graph = try SendNotificationValidation.validate(reading.request, now: RequestTarget.now)
            // The 201 body the gateway writes for it, and the feed's JSON.
            let notification = Notification(
                id: "00000000-0000-4000-8000-000000000000", sequence: 1, user: 1, createdAt: RequestTarget.now,
                content: .graph(graph)
            )
            var out = JSONWriter()
            FuzzCheck.require(notification.writeGraphEntity(context: nil, to: &out), "a Graph notification has no entity")
            FuzzCheck.require(JSONValue.parse(Data(out.bytes)) != nil, "the entity written is not JSON")
            FuzzCheck.require(JSONValue.parse(text: notification.feedEntryText) != nil, "the feed entry written is not JSON")
            validation = []
        } catch {
            validation = error.violations
        }
        finish(reading, validation: validation)
    }

    private static func translate(_ reading: ContractReading<NotifyRequest>) {
        let validation: [Violation]
        do {
            _ = try NotifyValidation.validate(reading.request)
            validation = []
        } catch {
            validation = error.violations
        }
        finish(reading, validation: validation)
    }

    /// What the gateway does after validation: merge the violations, and
    /// send a request read without any upstream.
    private static func finish<Request: WireMessage & Equatable>(_ reading: ContractReading<Request>, validation: [Violation]) {
        _ = ContractJSON.merging(reading.violations, validation)
        guard reading.violations.isEmpty else { return }
        sendUpstream(reading.request)
    }

    /// A body the gateway read without a violation goes upstream: it must
    /// encode exactly (the gateway refuses U+0000 in JSON strings for this)
    /// and reach the server as the same request.
    private static func sendUpstream<Request: WireMessage & Equatable>(_ request: Request) {
        do {
            let encoded = try request.exactlySerializedBuffer()
            let decoded = try Request(serializedBytes: encoded)
            FuzzCheck.require(decoded == request, "\(Request.self) changed on its way upstream")
        } catch {
            FuzzCheck.require(false, "a \(Request.self) read without violation does not go upstream: \(error)")
        }
    }
}
