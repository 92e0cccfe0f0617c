import Foundation
import NIOCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf

/// Every request message the server decodes, through protobuf-c, then the
/// validation the server runs on it before touching the store.
enum RequestTarget {
    /// The fixed "now" of SendNotification's validation, so that a run does not
    /// depend on the clock: 2027-01-15T08:00:00Z.
    static let now = Timestamp(secondsSince1970: 1_800_000_000)

    /// One decoder per request type the server registers (Watch shares
    /// List's, Unblock shares Block's), in the order of ``Methods/all``.
    static let decoders: [(name: String, run: @Sendable (ByteBuffer) -> Void)] = [
        ("HealthCheckRequest", { check(HealthCheckRequest.self, $0) }),
        ("NotifyRequest", { bytes in
            guard let request = check(NotifyRequest.self, bytes) else { return }
            _ = try? NotifyValidation.validate(request)
        }),
        ("SendNotificationRequest", { bytes in
            guard let request = check(SendNotificationRequest.self, bytes) else { return }
            if let expiration = request.expirationDateTime {
                _ = Timestamp(rfc3339: expiration, maximumFractionDigits: Limits.fractionDigitsMax)
            }
            _ = try? SendNotificationValidation.validate(request, now: now)
        }),
        ("ListFeedRequest", { check(ListFeedRequest.self, $0) }),
        ("PutUserRequest", { check(PutUserRequest.self, $0) }),
        ("DeleteUserRequest", { check(DeleteUserRequest.self, $0) }),
        ("PutConnectionRequest", { bytes in
            guard let request = check(PutConnectionRequest.self, bytes) else { return }
            _ = request.connection?.kind.flatMap(ConnectionKind.init(rawValue:))
        }),
        ("DeleteConnectionRequest", { check(DeleteConnectionRequest.self, $0) }),
        ("CreateSubscriptionRequest", { bytes in
            guard let request = check(CreateSubscriptionRequest.self, bytes) else { return }
            _ = request.platform.flatMap(Platform.init(rawValue:))
        }),
        ("RenewSubscriptionRequest", { check(RenewSubscriptionRequest.self, $0) }),
        ("DeleteSubscriptionRequest", { check(DeleteSubscriptionRequest.self, $0) }),
        ("BlockRequest", { bytes in
            guard let request = check(BlockRequest.self, bytes) else { return }
            _ = request.caller?.principal
        }),
        ("CreateTokenRequest", { bytes in
            guard let request = check(CreateTokenRequest.self, bytes) else { return }
            _ = request.roles.map(Role.init(rawValue:))
        }),
        ("RevokeTokenRequest", { check(RevokeTokenRequest.self, $0) }),
    ]

    /// The first byte picks the message; the rest is its protobuf encoding.
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let selector = bytes.first else { return }
        let decoder = decoders[Int(selector) % decoders.count]
        decoder.run(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes.dropFirst())))
    }

    /// Decodes `bytes` as a `Message`; what decodes must encode exactly (no
    /// string is cut) and decode again to the same value.
    @discardableResult
    static func check<Message: WireMessage & Equatable>(_ type: Message.Type, _ bytes: ByteBuffer) -> Message? {
        guard let message = try? Message(serializedBytes: bytes) else { return nil }
        let encoded: ByteBuffer
        do {
            encoded = try message.exactlySerializedBuffer()
        } catch {
            FuzzCheck.require(false, "a decoded \(Message.self) does not encode exactly: \(error)")
            return nil
        }
        do {
            let again = try Message(serializedBytes: encoded)
            FuzzCheck.require(again == message, "a \(Message.self) changed through encode and decode")
        } catch {
            FuzzCheck.require(false, "an encoded \(Message.self) does not decode: \(error)")
        }
        return message
    }
}
