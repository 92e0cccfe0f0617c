internal import CNotifyProto
public import NotifyMessages
import NotifyDomain

extension ListFeedRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__ListFeedRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(
            user: reader.scalar(message.has_user, message.user),
            afterSequence: reader.scalar(message.has_after_sequence, message.after_sequence),
            limit: reader.scalar(message.has_limit, message.limit),
            subscription: try reader.string(message.subscription, "subscription"),
            source: try reader.string(message.source, "source"),
            beforeSequence: reader.scalar(message.has_before_sequence, message.before_sequence),
            withIssuers: message.has_with_issuers != 0 && message.with_issuers != 0
        )
    }

    func write(to message: inout Notify__V1__ListFeedRequest, _ arena: PackArena) {
        (message.has_user, message.user) = optionalField(user)
        (message.has_after_sequence, message.after_sequence) = optionalField(afterSequence)
        (message.has_limit, message.limit) = optionalField(limit)
        message.subscription = arena.cString(subscription)
        message.source = arena.cString(source)
        (message.has_before_sequence, message.before_sequence) = optionalField(beforeSequence)
        (message.has_with_issuers, message.with_issuers) = withIssuers ? (1, 1) : (0, 0)
    }
}

extension ListFeedResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__ListFeedResponse, _ reader: FieldReader) throws(MessageError) {
        self.init(
            notifications: try reader.messages(message.n_notifications, message.notifications, "notifications"),
            nextAfterSequence: try reader.required(
                reader.scalar(message.has_next_after_sequence, message.next_after_sequence), "next_after_sequence"),
            caughtUp: message.has_caught_up != 0 && message.caught_up != 0,
            sweptThrough: reader.scalar(message.has_swept_through, message.swept_through),
            events: try reader.messages(message.n_events, message.events, "events"),
            issuers: try reader.messages(message.n_issuers, message.issuers, "issuers")
        )
    }

    func write(to message: inout Notify__V1__ListFeedResponse, _ arena: PackArena) {
        (message.n_notifications, message.notifications) = arena.messages(notifications)
        (message.has_next_after_sequence, message.next_after_sequence) = optionalField(nextAfterSequence)
        // Written only when true: an older reader sees the page it always saw.
        (message.has_caught_up, message.caught_up) = caughtUp ? (1, 1) : (0, 0)
        (message.has_swept_through, message.swept_through) = optionalField(sweptThrough)
        (message.n_events, message.events) = arena.messages(events)
        (message.n_issuers, message.issuers) = arena.messages(issuers)
    }
}
