internal import CNotifyProto
import Foundation
public import NotifyMessages
public import NotifyDomain

extension PutUserRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__PutUserRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(user: try reader.message(message.user, "user"))
    }

    func write(to message: inout Notify__V1__PutUserRequest, _ arena: PackArena) {
        message.user = arena.message(user)
    }
}

extension PutUserResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__PutUserResponse, _ reader: FieldReader) throws(MessageError) {
        self.init(user: try reader.message(message.user, "user"))
    }

    func write(to message: inout Notify__V1__PutUserResponse, _ arena: PackArena) {
        message.user = arena.message(user)
    }
}

extension User: MessageCodec {
    init(reading message: Notify__V1__User, _ reader: FieldReader) throws(MessageError) {
        self.init(
            id: try reader.required(reader.scalar(message.has_id, message.id), "id"),
            name: try reader.string(message.name, "name")
        )
    }

    func write(to message: inout Notify__V1__User, _ arena: PackArena) {
        (message.has_id, message.id) = optionalField(id)
        message.name = arena.cString(name)
    }
}

extension DeleteUserRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__DeleteUserRequest, _ reader: FieldReader) {
        self.init(id: reader.scalar(message.has_id, message.id))
    }

    func write(to message: inout Notify__V1__DeleteUserRequest, _ arena: PackArena) {
        (message.has_id, message.id) = optionalField(id)
    }
}

extension DeleteUserResponse: WireMessage, EmptyMessageCodec {
    typealias CType = Notify__V1__DeleteUserResponse
}

extension ConnectionInput: MessageCodec {
    init(reading message: Notify__V1__Connection, _ reader: FieldReader) throws(MessageError) {
        self.init(
            user: reader.scalar(message.has_user, message.user),
            to: reader.scalar(message.has_to, message.to),
            kind: try reader.string(message.kind, "kind")
        )
    }

    func write(to message: inout Notify__V1__Connection, _ arena: PackArena) {
        (message.has_user, message.user) = optionalField(user)
        (message.has_to, message.to) = optionalField(to)
        message.kind = arena.cString(kind)
    }
}

extension PutConnectionRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__PutConnectionRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(connection: try reader.message(message.connection, "connection"))
    }

    func write(to message: inout Notify__V1__PutConnectionRequest, _ arena: PackArena) {
        message.connection = arena.message(connection)
    }
}

extension PutConnectionResponse: WireMessage, EmptyMessageCodec {
    typealias CType = Notify__V1__PutConnectionResponse
}

extension DeleteConnectionRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__DeleteConnectionRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(connection: try reader.message(message.connection, "connection"))
    }

    func write(to message: inout Notify__V1__DeleteConnectionRequest, _ arena: PackArena) {
        message.connection = arena.message(connection)
    }
}

extension DeleteConnectionResponse: WireMessage, EmptyMessageCodec {
    typealias CType = Notify__V1__DeleteConnectionResponse
}

/// A stored subscription; `expiration_date_time` is RFC 3339 at millisecond
/// precision.
extension Subscription: MessageCodec {
    init(reading message: Notify__V1__Subscription, _ reader: FieldReader) throws(MessageError) {
        let platformName = try reader.required(reader.string(message.platform, "platform"), "platform")
        guard let platform = Platform(rawValue: platformName) else {
            throw reader.error("platform", "is not a platform")
        }
        self.init(
            id: try reader.required(reader.string(message.id, "id"), "id"),
            user: try reader.required(reader.scalar(message.has_user, message.user), "user"),
            app: try reader.required(reader.string(message.app, "app"), "app"),
            platform: platform,
            deviceID: try reader.string(message.device_id, "device_id"),
            expiresAt: try reader.required(
                reader.date(message.expiration_date_time, "expiration_date_time"), "expiration_date_time")
        )
    }

    func write(to message: inout Notify__V1__Subscription, _ arena: PackArena) {
        message.id = arena.cString(id)
        (message.has_user, message.user) = optionalField(user)
        message.app = arena.cString(app)
        message.platform = arena.cString(platform.rawValue)
        message.device_id = arena.cString(deviceID)
        message.expiration_date_time = arena.cString(expiresAt.rfc3339)
    }
}

extension CreateSubscriptionRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__CreateSubscriptionRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(
            user: reader.scalar(message.has_user, message.user),
            app: try reader.string(message.app, "app"),
            platform: try reader.string(message.platform, "platform"),
            deviceID: try reader.string(message.device_id, "device_id"),
            ttlSeconds: reader.scalar(message.has_ttl_seconds, message.ttl_seconds)
        )
    }

    func write(to message: inout Notify__V1__CreateSubscriptionRequest, _ arena: PackArena) {
        (message.has_user, message.user) = optionalField(user)
        message.app = arena.cString(app)
        message.platform = arena.cString(platform)
        message.device_id = arena.cString(deviceID)
        (message.has_ttl_seconds, message.ttl_seconds) = optionalField(ttlSeconds)
    }
}

extension CreateSubscriptionResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__CreateSubscriptionResponse, _ reader: FieldReader) throws(MessageError) {
        self.init(subscription: try reader.required(reader.message(message.subscription, "subscription"), "subscription"))
    }

    func write(to message: inout Notify__V1__CreateSubscriptionResponse, _ arena: PackArena) {
        message.subscription = arena.message(subscription)
    }
}

extension RenewSubscriptionRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__RenewSubscriptionRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(
            id: try reader.string(message.id, "id"),
            ttlSeconds: reader.scalar(message.has_ttl_seconds, message.ttl_seconds)
        )
    }

    func write(to message: inout Notify__V1__RenewSubscriptionRequest, _ arena: PackArena) {
        message.id = arena.cString(id)
        (message.has_ttl_seconds, message.ttl_seconds) = optionalField(ttlSeconds)
    }
}

extension RenewSubscriptionResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__RenewSubscriptionResponse, _ reader: FieldReader) throws(MessageError) {
        self.init(subscription: try reader.required(reader.message(message.subscription, "subscription"), "subscription"))
    }

    func write(to message: inout Notify__V1__RenewSubscriptionResponse, _ arena: PackArena) {
        message.subscription = arena.message(subscription)
    }
}

extension DeleteSubscriptionRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__DeleteSubscriptionRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(id: try reader.string(message.id, "id"))
    }

    func write(to message: inout Notify__V1__DeleteSubscriptionRequest, _ arena: PackArena) {
        message.id = arena.cString(id)
    }
}

extension DeleteSubscriptionResponse: WireMessage, EmptyMessageCodec {
    typealias CType = Notify__V1__DeleteSubscriptionResponse
}

extension PrincipalInput: MessageCodec {
    init(reading message: Notify__V1__Principal, _ reader: FieldReader) throws(MessageError) {
        self.init(app: try reader.string(message.app, "app"), user: reader.scalar(message.has_user, message.user))
    }

    func write(to message: inout Notify__V1__Principal, _ arena: PackArena) {
        message.app = arena.cString(app)
        (message.has_user, message.user) = optionalField(user)
    }
}

extension BlockRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__BlockRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(caller: try reader.message(message.caller, "caller"))
    }

    func write(to message: inout Notify__V1__BlockRequest, _ arena: PackArena) {
        message.caller = arena.message(caller)
    }
}

extension BlockResponse: WireMessage, EmptyMessageCodec {
    typealias CType = Notify__V1__BlockResponse
}

extension CreateTokenRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__CreateTokenRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(
            principal: try reader.message(message.principal, "principal"),
            roles: try reader.strings(message.n_roles, message.roles, "roles"),
            ttlSeconds: reader.scalar(message.has_ttl_seconds, message.ttl_seconds)
        )
    }

    func write(to message: inout Notify__V1__CreateTokenRequest, _ arena: PackArena) {
        message.principal = arena.message(principal)
        (message.n_roles, message.roles) = arena.cStrings(roles)
        (message.has_ttl_seconds, message.ttl_seconds) = optionalField(ttlSeconds)
    }
}

extension CreateTokenResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__CreateTokenResponse, _ reader: FieldReader) throws(MessageError) {
        self.init(
            token: try reader.required(reader.string(message.token, "token"), "token"),
            tokenID: try reader.required(reader.string(message.token_id, "token_id"), "token_id"),
            expirationDateTime: try reader.required(
                reader.string(message.expiration_date_time, "expiration_date_time"), "expiration_date_time")
        )
    }

    func write(to message: inout Notify__V1__CreateTokenResponse, _ arena: PackArena) {
        message.token = arena.cString(token)
        message.token_id = arena.cString(tokenID)
        message.expiration_date_time = arena.cString(expirationDateTime)
    }
}

extension RevokeTokenRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__RevokeTokenRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(tokenID: try reader.string(message.token_id, "token_id"))
    }

    func write(to message: inout Notify__V1__RevokeTokenRequest, _ arena: PackArena) {
        message.token_id = arena.cString(tokenID)
    }
}

extension RevokeTokenResponse: WireMessage, EmptyMessageCodec {
    typealias CType = Notify__V1__RevokeTokenResponse
}
