internal import CNotifyProto
public import NotifyMessages
import NotifyDomain

extension FeedEventMessage: MessageCodec {
    init(reading message: Notify__V1__FeedEvent, _ reader: FieldReader) throws(MessageError) {
        self.init(
            sequence: try reader.required(reader.scalar(message.has_sequence, message.sequence), "sequence"),
            createdAt: try reader.required(reader.date(message.created_date_time, "created_date_time"), "created_date_time"),
            kind: try reader.required(reader.string(message.kind, "kind"), "kind"),
            ids: try reader.strings(message.n_ids, message.ids, "ids"),
            readUpToSequence: reader.scalar(message.has_read_up_to_sequence, message.read_up_to_sequence),
            actionState: try reader.string(message.action_state, "action_state"),
            removedReason: try reader.string(message.removed_reason, "removed_reason"),
            source: try reader.string(message.source, "source")
        )
    }

    func write(to message: inout Notify__V1__FeedEvent, _ arena: PackArena) {
        (message.has_sequence, message.sequence) = optionalField(sequence)
        message.created_date_time = arena.cString(createdAt.rfc3339)
        message.kind = arena.cString(kind)
        (message.n_ids, message.ids) = arena.cStrings(ids)
        (message.has_read_up_to_sequence, message.read_up_to_sequence) = optionalField(readUpToSequence)
        message.action_state = arena.cString(actionState)
        message.removed_reason = arena.cString(removedReason)
        message.source = arena.cString(source)
    }
}

extension MarkReadRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__MarkReadRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(
            user: reader.scalar(message.has_user, message.user),
            ids: try reader.strings(message.n_ids, message.ids, "ids"),
            upToSequence: reader.scalar(message.has_up_to_sequence, message.up_to_sequence),
            source: try reader.string(message.source, "source")
        )
    }

    func write(to message: inout Notify__V1__MarkReadRequest, _ arena: PackArena) {
        (message.has_user, message.user) = optionalField(user)
        (message.n_ids, message.ids) = arena.cStrings(ids)
        (message.has_up_to_sequence, message.up_to_sequence) = optionalField(upToSequence)
        message.source = arena.cString(source)
    }
}

extension FeedChangeResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__FeedChangeResponse, _ reader: FieldReader) {
        self.init(
            sequence: reader.scalar(message.has_sequence, message.sequence) ?? 0,
            unseenCount: reader.scalar(message.has_unseen_count, message.unseen_count) ?? 0
        )
    }

    func write(to message: inout Notify__V1__FeedChangeResponse, _ arena: PackArena) {
        (message.has_sequence, message.sequence) = optionalField(sequence)
        (message.has_unseen_count, message.unseen_count) = optionalField(unseenCount)
    }
}

extension UnseenCountRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__UnseenCountRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(user: reader.scalar(message.has_user, message.user), source: try reader.string(message.source, "source"))
    }

    func write(to message: inout Notify__V1__UnseenCountRequest, _ arena: PackArena) {
        (message.has_user, message.user) = optionalField(user)
        message.source = arena.cString(source)
    }
}

extension UnseenCountResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__UnseenCountResponse, _ reader: FieldReader) {
        self.init(count: reader.scalar(message.has_count, message.count) ?? 0)
    }

    func write(to message: inout Notify__V1__UnseenCountResponse, _ arena: PackArena) {
        (message.has_count, message.count) = optionalField(count)
    }
}

extension SetActionStateRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__SetActionStateRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(
            user: reader.scalar(message.has_user, message.user),
            id: try reader.string(message.id, "id"),
            actionState: try reader.string(message.action_state, "action_state")
        )
    }

    func write(to message: inout Notify__V1__SetActionStateRequest, _ arena: PackArena) {
        (message.has_user, message.user) = optionalField(user)
        message.id = arena.cString(id)
        message.action_state = arena.cString(actionState)
    }
}

extension DeleteEntriesRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__DeleteEntriesRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(user: reader.scalar(message.has_user, message.user), ids: try reader.strings(message.n_ids, message.ids, "ids"))
    }

    func write(to message: inout Notify__V1__DeleteEntriesRequest, _ arena: PackArena) {
        (message.has_user, message.user) = optionalField(user)
        (message.n_ids, message.ids) = arena.cStrings(ids)
    }
}

extension DeleteGroupRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__DeleteGroupRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(
            user: reader.scalar(message.has_user, message.user), groupName: try reader.string(message.group_name, "group_name"))
    }

    func write(to message: inout Notify__V1__DeleteGroupRequest, _ arena: PackArena) {
        (message.has_user, message.user) = optionalField(user)
        message.group_name = arena.cString(groupName)
    }
}

extension GetEntryRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__GetEntryRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(user: reader.scalar(message.has_user, message.user), id: try reader.string(message.id, "id"))
    }

    func write(to message: inout Notify__V1__GetEntryRequest, _ arena: PackArena) {
        (message.has_user, message.user) = optionalField(user)
        message.id = arena.cString(id)
    }
}

extension GetEntryResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__GetEntryResponse, _ reader: FieldReader) throws(MessageError) {
        self.init(notification: try reader.required(reader.message(message.notification, "notification"), "notification"))
    }

    func write(to message: inout Notify__V1__GetEntryResponse, _ arena: PackArena) {
        message.notification = arena.message(notification)
    }
}
