import NIOCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import Testing

/// Every message type the protocol carries.
let allMessageTypes: [any WireMessage.Type] = [
    HealthCheckRequest.self, HealthCheckResponse.self,
    NotifyRequest.self, NotifyResponse.self, SendNotificationRequest.self, SendNotificationResponse.self,
    ListFeedRequest.self, ListFeedResponse.self,
    PutUserRequest.self, PutUserResponse.self, DeleteUserRequest.self, DeleteUserResponse.self,
    PutConnectionRequest.self, PutConnectionResponse.self, DeleteConnectionRequest.self, DeleteConnectionResponse.self,
    CreateSubscriptionRequest.self, CreateSubscriptionResponse.self, RenewSubscriptionRequest.self,
    RenewSubscriptionResponse.self, DeleteSubscriptionRequest.self, DeleteSubscriptionResponse.self,
    BlockRequest.self, BlockResponse.self, CreateTokenRequest.self, CreateTokenResponse.self,
    RevokeTokenRequest.self, RevokeTokenResponse.self,
]

/// The error decoding `bytes` as `type` throws, or nil when it decodes.
func decodingError<Message: WireMessage>(_ type: Message.Type, _ bytes: [UInt8]) -> MessageError? {
    do {
        _ = try Message(serializedBytes: ByteBuffer(bytes: bytes))
        return nil
    } catch {
        return error
    }
}

@Suite("Message codecs refuse bad input")
struct MessagesDecodingErrorTests {
    @Test("Malformed protobuf is a MessageError for every message type", arguments: [
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],  // runaway varint
        [0x12, 0x05, 0x61],  // length past the end
        [0x00, 0x01],  // field number 0
        [0x0B],  // a group start, which proto2 here never uses
        [0x0A],  // a tag with no value
    ] as [[UInt8]])
    func malformed(bytes: [UInt8]) {
        for type in allMessageTypes {
            let error = decodingError(type, bytes)
            #expect(error?.message == "undecodable \(type): not a valid protobuf encoding", "\(type)")
        }
    }

    @Test("A known field with the wrong wire type is refused")
    func wrongWireType() {
        // NotifyRequest.user (6) as a length-delimited field.
        #expect(decodingError(NotifyRequest.self, [0x32, 0x01, 0x00]) != nil)
    }

    @Test("Random bytes never crash a decoder: they decode or throw MessageError")
    func randomBytes() {
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<500 {
            let count = Int(generator.next() % 64)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            for type in allMessageTypes {
                if let error = decodingError(type, bytes) {
                    #expect(error.message.hasPrefix("undecodable \(type): "))
                }
            }
        }
    }

    @Test("A string holding a NUL byte is refused, naming the field")
    func nulByte() {
        // NotifyRequest.type (2) = "a\0b".
        #expect(
            decodingError(NotifyRequest.self, [0x12, 0x03, 0x61, 0x00, 0x62])?.message
                == "undecodable NotifyRequest: type contains a NUL byte")
        // A trailing NUL would be invisible to strlen-based code.
        #expect(
            decodingError(RevokeTokenRequest.self, [0x0A, 0x02, 0x61, 0x00])?.message
                == "undecodable RevokeTokenRequest: token_id contains a NUL byte")
    }

    @Test("Encoding exactly refuses a string holding a NUL byte and leaves the buffer as it was; plain encoding cuts it")
    func nulByteEncoding() throws {
        var request = NotifyRequest(type: "a\u{0}b", user: 1)
        var buffer = ByteBuffer(bytes: [7])
        #expect(throws: MessageError(message: "unencodable NotifyRequest: a string field contains a NUL byte")) {
            try request.serializeExactly(into: &buffer)
        }
        #expect(buffer == ByteBuffer(bytes: [7]))
        // In a repeated field too.
        #expect(throws: MessageError.self) {
            try CreateTokenRequest(roles: ["admin", "x\u{0}"]).exactlySerializedBuffer()
        }
        #expect(try NotifyRequest(serializedBytes: request.serializedBuffer()).type == "a")
        request.type = "ab"
        #expect(try request.exactlySerializedBuffer() == request.serializedBuffer())
    }

    @Test("Invalid UTF-8 is refused with the path of the field")
    func invalidUTF8() {
        // NotifyRequest.embed (3) { url (3) = C3 28 }.
        #expect(
            decodingError(NotifyRequest.self, [0x1A, 0x04, 0x1A, 0x02, 0xC3, 0x28])?.message
                == "undecodable NotifyRequest: embed.url is not valid UTF-8")
        // NotifyRequest.title (4) { value (1) = FF }.
        #expect(
            decodingError(NotifyRequest.self, [0x22, 0x03, 0x0A, 0x01, 0xFF])?.message
                == "undecodable NotifyRequest: title.value is not valid UTF-8")
        // CreateTokenRequest.roles (2) = ["a", FF].
        #expect(
            decodingError(CreateTokenRequest.self, [0x12, 0x01, 0x61, 0x12, 0x01, 0xFF])?.message
                == "undecodable CreateTokenRequest: roles[1] is not valid UTF-8")
        // An encoded surrogate (ED A0 80) is not UTF-8 either.
        #expect(decodingError(HealthCheckRequest.self, [0x0A, 0x03, 0xED, 0xA0, 0x80]) != nil)
        // Valid multi-byte UTF-8 is fine.
        #expect(decodingError(HealthCheckRequest.self, [0x0A, 0x02, 0xC3, 0xA9]) == nil)
    }

    @Test("A response without a field its Swift type requires names that field")
    func missingResponseFields() {
        #expect(decodingError(NotifyResponse.self, [])?.message == "undecodable NotifyResponse: id is missing")
        #expect(
            decodingError(SendNotificationResponse.self, [])?.message
                == "undecodable SendNotificationResponse: notification is missing")
        // notification { id = "x" }: no source.
        #expect(
            decodingError(SendNotificationResponse.self, [0x0A, 0x03, 0x0A, 0x01, 0x78])?.message
                == "undecodable SendNotificationResponse: notification.source is missing")
        #expect(
            decodingError(CreateTokenResponse.self, [0x0A, 0x01, 0x74])?.message
                == "undecodable CreateTokenResponse: token_id is missing")
        // PutUserRequest.user present without its id.
        #expect(decodingError(PutUserRequest.self, [0x0A, 0x00])?.message == "undecodable PutUserRequest: user.id is missing")
    }

    @Test("Response values outside the domain's are refused")
    func invalidResponseValues() throws {
        var notification = SendNotificationResponse(notification: graphNotification)
        var bytes = Array(notification.serializedBuffer().readableBytesView)
        // Rewrite priority "High" (field 12 of the notification) to "Hi!h".
        let priority = Array("High".utf8)
        let at = try #require(bytes.indices.first { Array(bytes[$0..<min($0 + 4, bytes.count)]) == priority })
        bytes[at + 2] = UInt8(ascii: "!")
        #expect(
            decodingError(SendNotificationResponse.self, bytes)?.message
                == "undecodable SendNotificationResponse: notification.priority is not a priority")

        notification.notification = customNotification
        bytes = Array(notification.serializedBuffer().readableBytesView)
        let date = Array("2019-10-28T".utf8)
        let dateAt = try #require(bytes.indices.first { Array(bytes[$0..<min($0 + date.count, bytes.count)]) == date })
        bytes[dateAt + 5] = UInt8(ascii: "2")  // month 20
        #expect(
            decodingError(SendNotificationResponse.self, bytes)?.message
                == "undecodable SendNotificationResponse: notification.created_date_time is not an RFC 3339 date-time")
    }
}
