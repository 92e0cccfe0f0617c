internal import CNotifyProto
import Foundation
import NotifyMessages
public import NotifyDomain

// The NotificationService messages are the domain's request and response
// types; this file gives them, and the values inside them, their protobuf
// encoding (proto/notify/v1/notification.proto).

extension NotifyRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__NotifyRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(
            recipientsType: try reader.string(message.recipients_type, "recipients_type"),
            type: try reader.string(message.type, "type"),
            embed: try reader.message(message.embed, "embed"),
            title: try reader.nullable(message.title, "title"),
            description: try reader.nullable(message.description, "description"),
            user: reader.scalar(message.has_user, message.user)
        )
    }

    func write(to message: inout Notify__V1__NotifyRequest, _ arena: PackArena) {
        message.recipients_type = arena.cString(recipientsType)
        message.type = arena.cString(type)
        message.embed = arena.message(embed)
        message.title = arena.nullable(title)
        message.description = arena.nullable(description)
        (message.has_user, message.user) = optionalField(user)
    }
}

extension NotifyResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__NotifyResponse, _ reader: FieldReader) throws(MessageError) {
        self.init(
            id: try reader.required(reader.string(message.id, "id"), "id"),
            recipients: try reader.required(reader.scalar(message.has_recipients, message.recipients), "recipients")
        )
    }

    func write(to message: inout Notify__V1__NotifyResponse, _ arena: PackArena) {
        message.id = arena.cString(id)
        (message.has_recipients, message.recipients) = optionalField(recipients)
    }
}

extension SendNotificationRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__SendNotificationRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(
            targetHostName: try reader.string(message.target_host_name, "target_host_name"),
            appNotificationID: try reader.string(message.app_notification_id, "app_notification_id"),
            groupName: try reader.string(message.group_name, "group_name"),
            expirationDateTime: try reader.string(message.expiration_date_time, "expiration_date_time"),
            payload: try reader.message(message.payload, "payload"),
            platformTypes: try reader.message(message.target_policy, "target_policy", as: TargetPolicyMessage.self)?
                .platformTypes,
            fallbackPolicyJSON: try reader.string(message.fallback_policy_json, "fallback_policy_json"),
            priority: try reader.string(message.priority, "priority"),
            displayTimeToLive: reader.scalar(message.has_display_time_to_live, message.display_time_to_live)
        )
    }

    func write(to message: inout Notify__V1__SendNotificationRequest, _ arena: PackArena) {
        message.target_host_name = arena.cString(targetHostName)
        message.app_notification_id = arena.cString(appNotificationID)
        message.group_name = arena.cString(groupName)
        message.expiration_date_time = arena.cString(expirationDateTime)
        message.payload = arena.message(payload)
        message.target_policy = arena.message(platformTypes.map(TargetPolicyMessage.init(platformTypes:)))
        message.fallback_policy_json = arena.cString(fallbackPolicyJSON)
        message.priority = arena.cString(priority)
        (message.has_display_time_to_live, message.display_time_to_live) = optionalField(displayTimeToLive)
    }
}

extension SendNotificationResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__SendNotificationResponse, _ reader: FieldReader) throws(MessageError) {
        self.init(notification: try reader.required(reader.message(message.notification, "notification"), "notification"))
    }

    func write(to message: inout Notify__V1__SendNotificationResponse, _ arena: PackArena) {
        message.notification = arena.message(notification)
    }
}

/// The stored notification. Its wire form is flat: `source` says which
/// content fields are meaningful ("notify": custom, "send": graph), and
/// dates are RFC 3339 text at millisecond precision (see
/// ``Timestamps/formatRFC3339Milliseconds(_:)``).
extension NotifyDomain.Notification: MessageCodec {
    static let customSource = "notify"
    static let graphSource = "send"

    init(reading message: Notify__V1__Notification, _ reader: FieldReader) throws(MessageError) {
        let source = try reader.required(reader.string(message.source, "source"), "source")
        let content: NotificationContent
        switch source {
        case Self.customSource:
            content = .custom(
                CustomNotification(
                    type: try reader.required(reader.string(message.type, "type"), "type"),
                    embed: try reader.message(message.embed, "embed"),
                    title: try reader.nullable(message.title, "title").value,
                    description: try reader.nullable(message.description, "description").value,
                    issuer: try reader.required(reader.scalar(message.has_issuer, message.issuer), "issuer")
                ))
        case Self.graphSource:
            var platforms: [Platform] = []
            for (index, name) in try reader.strings(message.n_platform_types, message.platform_types, "platform_types")
                .enumerated()
            {
                guard let platform = Platform(rawValue: name) else {
                    throw reader.error("platform_types[\(index)]", "is not a platform")
                }
                platforms.append(platform)
            }
            let priorityName = try reader.required(reader.string(message.priority, "priority"), "priority")
            guard let priority = Priority(rawValue: priorityName) else {
                throw reader.error("priority", "is not a priority")
            }
            content = .graph(
                GraphNotification(
                    targetHostName: try reader.string(message.target_host_name, "target_host_name"),
                    appNotificationID: try reader.string(message.app_notification_id, "app_notification_id"),
                    groupName: try reader.string(message.group_name, "group_name"),
                    expiration: try reader.required(
                        reader.date(message.expiration_date_time, "expiration_date_time"), "expiration_date_time"),
                    payload: try reader.required(reader.message(message.payload, "payload"), "payload"),
                    platforms: platforms,
                    priority: priority,
                    // proto: absent means 0, the platform's default.
                    displayTimeToLive: reader.scalar(message.has_display_time_to_live, message.display_time_to_live) ?? 0,
                    fallbackPolicyJSON: try reader.string(message.fallback_policy_json, "fallback_policy_json")
                ))
        default:
            throw reader.error("source", "is neither \"\(Self.customSource)\" nor \"\(Self.graphSource)\"")
        }
        self.init(
            id: try reader.required(reader.string(message.id, "id"), "id"),
            sequence: try reader.required(reader.scalar(message.has_sequence, message.sequence), "sequence"),
            user: try reader.required(reader.scalar(message.has_user, message.user), "user"),
            createdAt: try reader.required(reader.date(message.created_date_time, "created_date_time"), "created_date_time"),
            content: content,
            read: message.has_read != 0 && message.read != 0,
            actionState: try Self.actionState(reader.string(message.action_state, "action_state"), reader)
        )
    }

    /// An entry's action state: absent is the default.
    private static func actionState(_ name: String?, _ reader: FieldReader) throws(MessageError) -> ActionState {
        guard let name else { return .noInteraction }
        guard let state = ActionState(rawValue: name) else { throw reader.error("action_state", "is not an action state") }
        return state
    }

    func write(to message: inout Notify__V1__Notification, _ arena: PackArena) {
        message.id = arena.cString(id)
        (message.has_sequence, message.sequence) = optionalField(sequence)
        (message.has_user, message.user) = optionalField(user)
        message.created_date_time = arena.cString(createdAt.rfc3339)
        // The defaults stay off the wire: an entry no one touched encodes as before.
        (message.has_read, message.read) = read ? (1, 1) : (0, 0)
        message.action_state = arena.cString(actionState == .noInteraction ? nil : Optional(actionState.rawValue))
        switch content {
        case .custom(let custom):
            message.source = arena.cString(Self.customSource)
            message.type = arena.cString(custom.type)
            message.embed = arena.message(custom.embed)
            // Validated content has no missing title: nil is null.
            message.title = arena.nullable(custom.title.map { .value($0) } ?? .null)
            message.description = arena.nullable(custom.description.map { .value($0) } ?? .null)
            (message.has_issuer, message.issuer) = optionalField(custom.issuer)
        case .graph(let graph):
            message.source = arena.cString(Self.graphSource)
            message.target_host_name = arena.cString(graph.targetHostName)
            message.app_notification_id = arena.cString(graph.appNotificationID)
            message.group_name = arena.cString(graph.groupName)
            message.expiration_date_time = arena.cString(graph.expiration.rfc3339)
            message.payload = arena.message(graph.payload)
            (message.n_platform_types, message.platform_types) = arena.cStrings(graph.platforms.map(\.rawValue))
            message.priority = arena.cString(graph.priority.rawValue)
            (message.has_display_time_to_live, message.display_time_to_live) = optionalField(graph.displayTimeToLive)
            message.fallback_policy_json = arena.cString(graph.fallbackPolicyJSON)
        }
    }
}

extension EmbedInput: MessageCodec {
    init(reading message: Notify__V1__Embed, _ reader: FieldReader) throws(MessageError) {
        self.init(
            embedType: try reader.string(message.embed_type, "embed_type"),
            embedID: try reader.string(message.embed_id, "embed_id"),
            url: try reader.string(message.url, "url"),
            metadataJSON: try reader.string(message.metadata_json, "metadata_json")
        )
    }

    func write(to message: inout Notify__V1__Embed, _ arena: PackArena) {
        message.embed_type = arena.cString(embedType)
        message.embed_id = arena.cString(embedID)
        message.url = arena.cString(url)
        message.metadata_json = arena.cString(metadataJSON)
    }
}

extension Embed: MessageCodec {
    init(reading message: Notify__V1__Embed, _ reader: FieldReader) throws(MessageError) {
        self.init(
            embedType: try reader.required(reader.string(message.embed_type, "embed_type"), "embed_type"),
            embedID: try reader.required(reader.string(message.embed_id, "embed_id"), "embed_id"),
            url: try reader.string(message.url, "url"),
            metadataJSON: try reader.string(message.metadata_json, "metadata_json")
        )
    }

    func write(to message: inout Notify__V1__Embed, _ arena: PackArena) {
        message.embed_type = arena.cString(embedType)
        message.embed_id = arena.cString(embedID)
        message.url = arena.cString(url)
        message.metadata_json = arena.cString(metadataJSON)
    }
}

extension PayloadInput: MessageCodec {
    init(reading message: Notify__V1__Payload, _ reader: FieldReader) throws(MessageError) {
        self.init(
            rawContent: try reader.string(message.raw_content, "raw_content"),
            visualContent: try reader.message(message.visual_content, "visual_content")
        )
    }

    func write(to message: inout Notify__V1__Payload, _ arena: PackArena) {
        message.raw_content = arena.cString(rawContent)
        message.visual_content = arena.message(visualContent)
    }
}

extension Payload: MessageCodec {
    init(reading message: Notify__V1__Payload, _ reader: FieldReader) throws(MessageError) {
        self.init(
            rawContent: try reader.string(message.raw_content, "raw_content"),
            visualContent: try reader.message(message.visual_content, "visual_content")
        )
    }

    func write(to message: inout Notify__V1__Payload, _ arena: PackArena) {
        message.raw_content = arena.cString(rawContent)
        message.visual_content = arena.message(visualContent)
    }
}

extension VisualContentInput: MessageCodec {
    init(reading message: Notify__V1__VisualContent, _ reader: FieldReader) throws(MessageError) {
        self.init(title: try reader.string(message.title, "title"), body: try reader.string(message.body, "body"))
    }

    func write(to message: inout Notify__V1__VisualContent, _ arena: PackArena) {
        message.title = arena.cString(title)
        message.body = arena.cString(body)
    }
}

extension VisualContent: MessageCodec {
    init(reading message: Notify__V1__VisualContent, _ reader: FieldReader) throws(MessageError) {
        self.init(
            title: try reader.required(reader.string(message.title, "title"), "title"),
            body: try reader.string(message.body, "body")
        )
    }

    func write(to message: inout Notify__V1__VisualContent, _ arena: PackArena) {
        message.title = arena.cString(title)
        message.body = arena.cString(body)
    }
}

/// `notify.v1.TargetPolicy`, which the domain flattens into
/// ``SendNotificationRequest/platformTypes``.
struct TargetPolicyMessage: MessageCodec {
    var platformTypes: [String]

    init(platformTypes: [String]) {
        self.platformTypes = platformTypes
    }

    init(reading message: Notify__V1__TargetPolicy, _ reader: FieldReader) throws(MessageError) {
        self.init(platformTypes: try reader.strings(message.n_platform_types, message.platform_types, "platform_types"))
    }

    func write(to message: inout Notify__V1__TargetPolicy, _ arena: PackArena) {
        (message.n_platform_types, message.platform_types) = arena.cStrings(platformTypes)
    }
}

/// `notify.v1.NullableString` present: its `value` is absent for JSON null.
/// An absent message is a missing key, so this type is only ever present.
struct NullableStringMessage: MessageCodec {
    var value: String?

    init(value: String?) {
        self.value = value
    }

    init(reading message: Notify__V1__NullableString, _ reader: FieldReader) throws(MessageError) {
        self.init(value: try reader.string(message.value, "value"))
    }

    func write(to message: inout Notify__V1__NullableString, _ arena: PackArena) {
        message.value = arena.cString(value)
    }
}

extension FieldReader {
    /// A `NullableString` field: absent is `missing`, present without a
    /// value is `null`.
    func nullable(
        _ pointer: UnsafeMutablePointer<Notify__V1__NullableString>?, _ field: String
    ) throws(MessageError) -> NullableField<String> {
        guard let nullable = try message(pointer, field, as: NullableStringMessage.self) else { return .missing }
        return nullable.value.map { .value($0) } ?? .null
    }

    /// An RFC 3339 string field as a ``Timestamp``: nil when absent. Any
    /// number of fraction digits is read (servers write three); those past
    /// the sixth are dropped.
    func date(_ pointer: UnsafeMutablePointer<CChar>?, _ field: String) throws(MessageError) -> Timestamp? {
        guard let text = try string(pointer, field) else { return nil }
        guard let date = Timestamp(rfc3339: text) else { throw error(field, "is not an RFC 3339 date-time") }
        return date
    }
}

extension PackArena {
    /// A `NullableString` field for `value`.
    func nullable(_ value: NullableField<String>) -> UnsafeMutablePointer<Notify__V1__NullableString>? {
        let present: NullableStringMessage
        switch value {
        case .missing: return nil
        case .null: present = NullableStringMessage(value: nil)
        case .value(let string): present = NullableStringMessage(value: string)
        }
        return makeMessage(present)
    }
}
