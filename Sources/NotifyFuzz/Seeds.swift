import Foundation
import NIOCore
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyWire

/// Seed inputs made by the codecs themselves, written by `notify-fuzz seeds
/// DIR` into `DIR/<target>/`: real frames and messages as a client sends them,
/// from which libFuzzer mutates. The JSON and RFC 3339 seeds are files
/// committed by hand (from docs/openapi.yaml and the contracts' examples).
enum Seeds {
    static let notify = NotifyRequest(
        recipientsType: "connections", type: "wishlist",
        embed: EmbedInput(embedType: "item", embedID: "42", url: "https://example.com/item/42", metadataJSON: #"{"price":3}"#),
        title: .value("A title"), description: .null, user: 3
    )

    static let sendNotification = SendNotificationRequest(
        targetHostName: "graphnotifications.sample.windows.com", appNotificationID: "testDirectToastNotification",
        groupName: "TestGroup", expirationDateTime: "2019-10-30T23:59:00.000Z",
        payload: PayloadInput(visualContent: VisualContentInput(title: "Hello World!", body: "Notifications are Great!")),
        platformTypes: ["windows", "ios", "android"], fallbackPolicyJSON: #"{"platformTypes":["windows"]}"#,
        priority: "High", displayTimeToLive: 60
    )

    /// One encoded request per decoder of ``RequestTarget``, its selector first.
    static var requests: [[UInt8]] {
        let messages: [any WireMessage] = [
            HealthCheckRequest(service: ""),
            notify,
            sendNotification,
            ListFeedRequest(user: 3, afterSequence: 10, limit: 100),
            PutUserRequest(user: User(id: 3, name: "Ada")),
            DeleteUserRequest(id: 3),
            PutConnectionRequest(connection: ConnectionInput(user: 3, to: 4, kind: "friend")),
            DeleteConnectionRequest(connection: ConnectionInput(user: 3, to: 4, kind: "follow")),
            CreateSubscriptionRequest(user: 3, app: "app1", platform: "windows", deviceID: "device-1", ttlSeconds: 3600),
            RenewSubscriptionRequest(id: "6f1c0b1e-3a9e-4b7e-9a55-1f0e8d1f0a11", ttlSeconds: 86_400),
            DeleteSubscriptionRequest(id: "6f1c0b1e-3a9e-4b7e-9a55-1f0e8d1f0a11"),
            BlockRequest(caller: PrincipalInput(app: "app1")),
            CreateTokenRequest(principal: PrincipalInput(user: 3), roles: ["user"], ttlSeconds: 86_400),
            RevokeTokenRequest(tokenID: "tok_0123456789abcdef"),
        ]
        return messages.enumerated().map { index, message in
            [UInt8(index)] + Array(buffer: message.serializedBuffer())
        }
    }

    static let metadata: Metadata = [
        "authorization": "Bearer ntk_abcdefghijklmnopqrstuvwxyz0123456789",
        "x-request-id": "7c1d2f0e-1111-4222-8333-944455566677",
        "idempotency-key": "key-1",
        "x-uns-id": "6f1c0b1e-3a9e-4b7e-9a55-1f0e8d1f0a11",
    ]

    static var frames: [Frame] {
        [
            .settings(Settings(maxConcurrentCalls: 100, maxMessageSize: 4_194_304, idleTimeoutMilliseconds: 300_000, server: "notifyd")),
            .request(RequestFrame(callID: 1, method: Methods.healthCheck, metadata: [:], payload: HealthCheckRequest().serializedBuffer())),
            .request(RequestFrame(callID: 2, method: Methods.notify, metadata: metadata, timeoutMilliseconds: 5_000, payload: notify.serializedBuffer())),
            .request(RequestFrame(callID: 3, method: Methods.watchFeed, metadata: ["authorization": "Bearer t"], payload: ListFeedRequest(user: 3).serializedBuffer())),
            .response(ResponseFrame(callID: 2, status: .ok, metadata: ["x-request-id": "r"], payload: NotifyResponse(id: "id", recipients: 2).serializedBuffer())),
            .response(ResponseFrame(
                callID: 4, status: .invalidArgument, message: "invalid fields", reason: .invalidFields,
                fieldViolations: [FieldViolation(field: "type", description: "Is required.")]
            )),
            .message(StreamMessageFrame(callID: 3, payload: ByteBuffer(bytes: [0x0a, 0x00]))),
            .ping(0x0102_0304_0506_0708),
            .pong(7),
            .goAway(GoAwayFrame(lastCallID: 3, status: .unavailable, message: "shutting down")),
            .cancel(callID: 3),
        ]
    }

    /// Writes every codec-made seed under `directory`, one folder per target.
    static func write(to directory: URL) throws {
        var written = 0
        func save(_ target: String, _ name: String, _ bytes: [UInt8]) throws {
            let folder = directory.appendingPathComponent(target, isDirectory: true)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(bytes).write(to: folder.appendingPathComponent("codec-" + name))
            written += 1
        }
        var stream = ByteBuffer()
        for (index, frame) in frames.enumerated() {
            var encoded = ByteBuffer()
            try frame.encode(into: &encoded)
            let bytes = Array(buffer: encoded)
            try save("frame", "\(index)", bytes)
            try save("envelope", "\(index)", Array(bytes.dropFirst(Limits.frameHeaderSize)))
            stream.writeImmutableBuffer(encoded)
        }
        try save("frame", "stream", Array(buffer: stream))

        // The metadata target's input follows call_id and method inside the request.
        var entries: [UInt8] = []
        for (key, value) in metadata {
            var entry: [UInt8] = [0x0a]
            FrameTargets.appendVarint(UInt64(key.utf8.count), to: &entry)
            entry += key.utf8
            entry.append(0x12)
            FrameTargets.appendVarint(UInt64(value.utf8.count), to: &entry)
            entry += value.utf8
            entries.append(0x1a)
            FrameTargets.appendVarint(UInt64(entry.count), to: &entries)
            entries += entry
        }
        try save("metadata", "entries", entries)
        try save("metadata", "entries-timeout", entries + [0x20, 0x88, 0x27])

        for (index, request) in requests.enumerated() {
            try save("request", "\(index)", request)
        }
        print("wrote \(written) seeds under \(directory.path)")
    }
}
