import Foundation
import NIOCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import Testing

/// Encodes then decodes, as the server and client do across the wire.
func roundTrip<Message: WireMessage>(_ message: Message) throws -> Message {
    try Message(serializedBytes: message.serializedBuffer())
}

/// Dates in tests sit on whole milliseconds, the wire's precision.
let createdAt = Timestamp(microsecondsSince1970: 1_572_300_336_250_000)
let expiresAt = Timestamp(microsecondsSince1970: 1_572_905_136_007_000)

let customNotification = NotifyDomain.Notification(
    id: "5b1f8c1e-6a57-4b5e-9a55-0c1d2e3f4a5b", sequence: 42, user: 7, createdAt: createdAt,
    content: .custom(
        CustomNotification(
            type: "custom", embed: Embed(embedType: "post", embedID: "12", url: "https://e.example/p/12", metadataJSON: #"{"a":1}"#),
            title: "Hello", description: nil, issuer: 3)))

let graphNotification = NotifyDomain.Notification(
    id: "0e7a9c4d-2b8f-4d1a-8c3e-5f6a7b8c9d0e", sequence: 1, user: -9, createdAt: createdAt,
    content: .graph(
        GraphNotification(
            targetHostName: "app.example", appNotificationID: "n-1", groupName: "g", expiration: expiresAt,
            payload: Payload(rawContent: "raw", visualContent: VisualContent(title: "T", body: "B")),
            platforms: [.windows, .webPush], priority: .high, displayTimeToLive: 60,
            fallbackPolicyJSON: #"{"x":"y"}"#)))

let subscription = Subscription(
    id: "uns-1", user: 7, app: "app.example", platform: .ios, deviceID: "device-1", expiresAt: expiresAt)

@Suite("Message codecs round-trip")
struct MessagesRoundTripTests {
    @Test("NotificationService and feed messages with every field set come back equal")
    func notificationMessagesFull() throws {
        let notify = NotifyRequest(
            recipientsType: "user", type: "custom",
            embed: EmbedInput(embedType: "post", embedID: "12", url: "https://e.example", metadataJSON: "{}"),
            title: .value("Tïtle ✓"), description: .null, user: Int64.min)
        #expect(try roundTrip(notify) == notify)
        let send = SendNotificationRequest(
            targetHostName: "app.example", appNotificationID: "a", groupName: "g",
            expirationDateTime: "2019-10-28T22:05:36Z",
            payload: PayloadInput(rawContent: "r", visualContent: VisualContentInput(title: "t", body: "b")),
            platformTypes: ["IOS", "webpush"], fallbackPolicyJSON: "{}", priority: "high", displayTimeToLive: 0)
        #expect(try roundTrip(send) == send)
        #expect(try roundTrip(NotifyResponse(id: "x", recipients: UInt64.max)) == NotifyResponse(id: "x", recipients: UInt64.max))
        for notification in [customNotification, graphNotification] {
            let response = SendNotificationResponse(notification: notification)
            #expect(try roundTrip(response) == response)
        }
        let feed = ListFeedRequest(user: 7, afterSequence: 10, limit: 1000)
        #expect(try roundTrip(feed) == feed)
        let page = ListFeedResponse(notifications: [customNotification, graphNotification], nextAfterSequence: 42)
        #expect(try roundTrip(page) == page)
    }

    @Test("A message that outgrows the unpacking arena's first chunk comes back equal, NUL checks included")
    func arenaOverflow() throws {
        // 5,000 one-byte strings: 15 KB on the wire, some 200 KB of blocks once
        // unpacked, so the arena adds chunks; every string's size must still be found.
        let platforms = (0..<5_000).map { String(UnicodeScalar(UInt8(97 + $0 % 26))) }
        let send = SendNotificationRequest(
            targetHostName: "app.example", appNotificationID: "a", groupName: "g",
            expirationDateTime: "2019-10-28T22:05:36Z",
            payload: PayloadInput(rawContent: "r", visualContent: nil),
            platformTypes: platforms, fallbackPolicyJSON: nil, priority: "high", displayTimeToLive: 0)
        #expect(try roundTrip(send) == send)
        let page = ListFeedResponse(
            notifications: Array(repeating: graphNotification, count: 300) + [customNotification], nextAfterSequence: 1)
        #expect(try roundTrip(page) == page)
    }

    @Test("NotificationService and feed requests with no field set come back empty")
    func notificationMessagesEmpty() throws {
        #expect(try roundTrip(NotifyRequest()) == NotifyRequest())
        #expect(try roundTrip(SendNotificationRequest()) == SendNotificationRequest())
        #expect(try roundTrip(ListFeedRequest()) == ListFeedRequest())
        #expect(try roundTrip(ListFeedResponse(notifications: [], nextAfterSequence: 0)).notifications.isEmpty)
        // Nested inputs present but empty stay present.
        let nested = SendNotificationRequest(payload: PayloadInput(visualContent: VisualContentInput()), platformTypes: [])
        #expect(try roundTrip(nested) == nested)
        #expect(try roundTrip(NotifyRequest(embed: EmbedInput())) == NotifyRequest(embed: EmbedInput()))
        // An empty request is zero bytes on the wire.
        #expect(NotifyRequest().serializedBuffer().readableBytes == 0)
    }

    @Test("A custom notification with neither title nor description, and a graph one with minimal content")
    func notificationMinimalContent() throws {
        let custom = NotifyDomain.Notification(
            id: "i", sequence: 1, user: 1, createdAt: Timestamp(secondsSince1970: 0),
            content: .custom(CustomNotification(type: "t", embed: nil, title: nil, description: nil, issuer: 1)))
        #expect(try roundTrip(SendNotificationResponse(notification: custom)).notification == custom)
        let graph = NotifyDomain.Notification(
            id: "i", sequence: 1, user: 1, createdAt: Timestamp(microsecondsSince1970: -1_500_000),
            content: .graph(
                GraphNotification(
                    targetHostName: nil, appNotificationID: nil, groupName: nil, expiration: expiresAt,
                    payload: Payload(rawContent: nil, visualContent: nil), platforms: Platform.allCases, priority: .none,
                    displayTimeToLive: 0, fallbackPolicyJSON: nil)))
        #expect(try roundTrip(SendNotificationResponse(notification: graph)).notification == graph)
    }

    @Test("Title and description keep missing, null and value apart", arguments: [
        NullableField<String>.missing, .null, .value(""), .value("text"),
    ])
    func nullableFields(field: NullableField<String>) throws {
        let request = NotifyRequest(title: field, description: field)
        let decoded = try roundTrip(request)
        #expect(decoded.title == field)
        #expect(decoded.description == field)
        let mixed = NotifyRequest(title: field, description: .null)
        #expect(try roundTrip(mixed) == mixed)
    }

    @Test("Health messages round-trip, every status included")
    func health() throws {
        #expect(try roundTrip(HealthCheckRequest()) == HealthCheckRequest())
        #expect(try roundTrip(HealthCheckRequest(service: "notify.v1.NotificationService")).service == "notify.v1.NotificationService")
        for status in HealthCheckResponse.ServingStatus.allCases {
            #expect(try roundTrip(HealthCheckResponse(status: status)).status == status)
        }
        // An absent status is proto2's default, UNKNOWN.
        #expect(try HealthCheckResponse(serializedBytes: ByteBuffer()).status == .unknown)
        // A status number this version does not know reads as UNKNOWN.
        #expect(try HealthCheckResponse(serializedBytes: ByteBuffer(bytes: [0x08, 0x07])).status == .unknown)
        #expect(Array(HealthCheckResponse(status: .notServing).serializedBuffer().readableBytesView) == [0x08, 0x02])
    }

    @Test("Admin requests with every field set come back equal")
    func adminRequestsFull() throws {
        #expect(try roundTrip(PutUserRequest(user: User(id: 7, name: "Ada"))) == PutUserRequest(user: User(id: 7, name: "Ada")))
        #expect(try roundTrip(DeleteUserRequest(id: 7)) == DeleteUserRequest(id: 7))
        let connection = ConnectionInput(Connection(user: 1, to: 2, kind: .follow))
        #expect(try roundTrip(PutConnectionRequest(connection: connection)) == PutConnectionRequest(connection: connection))
        #expect(try roundTrip(DeleteConnectionRequest(connection: connection)) == DeleteConnectionRequest(connection: connection))
        let create = CreateSubscriptionRequest(user: 7, app: "app.example", platform: "ios", deviceID: "d", ttlSeconds: 60)
        #expect(try roundTrip(create) == create)
        #expect(try roundTrip(RenewSubscriptionRequest(id: "uns-1", ttlSeconds: 1)) == RenewSubscriptionRequest(id: "uns-1", ttlSeconds: 1))
        #expect(try roundTrip(DeleteSubscriptionRequest(id: "uns-1")) == DeleteSubscriptionRequest(id: "uns-1"))
        #expect(try roundTrip(BlockRequest(caller: PrincipalInput(.app("a")))) == BlockRequest(caller: PrincipalInput(.app("a"))))
        let token = CreateTokenRequest(principal: PrincipalInput(.user(9)), roles: ["admin", "user"], ttlSeconds: 3600)
        #expect(try roundTrip(token) == token)
        #expect(try roundTrip(RevokeTokenRequest(tokenID: "t")) == RevokeTokenRequest(tokenID: "t"))
    }

    @Test("Admin requests with no field set come back empty")
    func adminRequestsEmpty() throws {
        #expect(try roundTrip(PutUserRequest()) == PutUserRequest())
        #expect(try roundTrip(DeleteUserRequest()) == DeleteUserRequest())
        #expect(try roundTrip(PutConnectionRequest()) == PutConnectionRequest())
        #expect(try roundTrip(PutConnectionRequest(connection: ConnectionInput())) == PutConnectionRequest(connection: ConnectionInput()))
        #expect(try roundTrip(DeleteConnectionRequest()) == DeleteConnectionRequest())
        #expect(try roundTrip(CreateSubscriptionRequest()) == CreateSubscriptionRequest())
        #expect(try roundTrip(RenewSubscriptionRequest()) == RenewSubscriptionRequest())
        #expect(try roundTrip(DeleteSubscriptionRequest()) == DeleteSubscriptionRequest())
        #expect(try roundTrip(BlockRequest()) == BlockRequest())
        #expect(try roundTrip(BlockRequest(caller: PrincipalInput())) == BlockRequest(caller: PrincipalInput()))
        #expect(try roundTrip(CreateTokenRequest()) == CreateTokenRequest())
        #expect(try roundTrip(RevokeTokenRequest()) == RevokeTokenRequest())
    }

    @Test("Admin responses come back equal")
    func adminResponses() throws {
        #expect(try roundTrip(PutUserResponse(user: User(id: 1))) == PutUserResponse(user: User(id: 1)))
        #expect(try roundTrip(PutUserResponse()) == PutUserResponse())
        #expect(try roundTrip(DeleteUserResponse()) == DeleteUserResponse())
        #expect(try roundTrip(PutConnectionResponse()) == PutConnectionResponse())
        #expect(try roundTrip(DeleteConnectionResponse()) == DeleteConnectionResponse())
        #expect(try roundTrip(CreateSubscriptionResponse(subscription: subscription)).subscription == subscription)
        var noDevice = subscription
        noDevice.deviceID = nil
        #expect(try roundTrip(RenewSubscriptionResponse(subscription: noDevice)).subscription == noDevice)
        #expect(try roundTrip(DeleteSubscriptionResponse()) == DeleteSubscriptionResponse())
        #expect(try roundTrip(BlockResponse()) == BlockResponse())
        let token = CreateTokenResponse(token: "secret", tokenID: "tid", expirationDateTime: "2019-10-28T22:05:36.250Z")
        #expect(try roundTrip(token) == token)
        #expect(!String(describing: token).contains("secret"))
        #expect(try roundTrip(RevokeTokenResponse()) == RevokeTokenResponse())
    }

    @Test("The wire carries Notification dates as RFC 3339 UTC with milliseconds")
    func notificationDateText() throws {
        let buffer = SendNotificationResponse(notification: customNotification).serializedBuffer()
        let bytes = String(decoding: buffer.readableBytesView, as: UTF8.self)
        #expect(bytes.contains("2019-10-28T22:05:36.250Z"))
    }

    @Test("serialize(into:) appends after what the buffer already holds")
    func appends() throws {
        var buffer = ByteBuffer(bytes: [0xAA, 0xBB])
        let request = DeleteUserRequest(id: 300)
        request.serialize(into: &buffer)
        #expect(buffer.readBytes(length: 2) == [0xAA, 0xBB])
        #expect(try DeleteUserRequest(serializedBytes: buffer) == request)
        #expect(Array(buffer.readableBytesView) == [0x08, 0xAC, 0x02])
    }

    @Test("The method table lists the twenty-three full method paths once each")
    func methods() {
        #expect(Methods.all.count == 23)
        #expect(Set(Methods.all).count == 23)
        #expect(Methods.createStreamTicket == "/notify.v1.FeedService/CreateStreamTicket")
        #expect(Methods.notify == "/notify.v1.NotificationService/Notify")
        #expect(Methods.listFeed == "/notify.v1.FeedService/List")
        #expect(Methods.watchFeed == "/notify.v1.FeedService/Watch")
        #expect(Methods.all.allSatisfy { $0.hasPrefix("/notify.v1.") })
    }
}
