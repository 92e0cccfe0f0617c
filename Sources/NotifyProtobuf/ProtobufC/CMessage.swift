internal import CNotifyProto
internal import CProtobufC

/// The two generated functions the codecs need for one protoc-c message type.
///
/// The descriptors are C `const` globals, which Swift cannot take the address
/// of reliably; the generated `init` and `unpack` functions refer to them
/// from C, so the codecs go through those and use the descriptor-generic
/// runtime (`protobuf_c_message_pack`, `free_unpacked`) for the rest.
struct CMessageFunctions<Message> {
    /// Sets `base.descriptor` and the defaults of a zeroed message.
    var initialize: (UnsafeMutablePointer<Message>?) -> Void
    /// Parses bytes into a message allocated with the given allocator;
    /// nil when the bytes are malformed.
    var unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<Message>?
}

/// A protoc-c message struct: a `ProtobufCMessage` header, then its fields.
protocol CMessage {
    /// The zeroed struct, as Swift imports every C struct.
    init()
    static var functions: CMessageFunctions<Self> { get }
}

extension UnsafeMutablePointer where Pointee: CMessage {
    /// The message's header: C guarantees the first member sits at the
    /// struct's address, and binding memory to a struct binds its members.
    var base: UnsafeMutablePointer<ProtobufCMessage> {
        UnsafeMutableRawPointer(self).assumingMemoryBound(to: ProtobufCMessage.self)
    }
}

// health.proto
extension Notify__V1__HealthCheckRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__health_check_request__init, unpack: notify__v1__health_check_request__unpack) } }
extension Notify__V1__HealthCheckResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__health_check_response__init, unpack: notify__v1__health_check_response__unpack) } }

// notification.proto
extension Notify__V1__NullableString: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__nullable_string__init, unpack: notify__v1__nullable_string__unpack) } }
extension Notify__V1__Embed: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__embed__init, unpack: notify__v1__embed__unpack) } }
extension Notify__V1__NotifyRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__notify_request__init, unpack: notify__v1__notify_request__unpack) } }
extension Notify__V1__NotifyResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__notify_response__init, unpack: notify__v1__notify_response__unpack) } }
extension Notify__V1__VisualContent: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__visual_content__init, unpack: notify__v1__visual_content__unpack) } }
extension Notify__V1__Payload: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__payload__init, unpack: notify__v1__payload__unpack) } }
extension Notify__V1__TargetPolicy: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__target_policy__init, unpack: notify__v1__target_policy__unpack) } }
extension Notify__V1__SendNotificationRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__send_notification_request__init, unpack: notify__v1__send_notification_request__unpack) } }
extension Notify__V1__Notification: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__notification__init, unpack: notify__v1__notification__unpack) } }
extension Notify__V1__SendNotificationResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__send_notification_response__init, unpack: notify__v1__send_notification_response__unpack) } }
extension Notify__V1__ListFeedRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__list_feed_request__init, unpack: notify__v1__list_feed_request__unpack) } }
extension Notify__V1__ListFeedResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__list_feed_response__init, unpack: notify__v1__list_feed_response__unpack) } }
extension Notify__V1__FeedEvent: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__feed_event__init, unpack: notify__v1__feed_event__unpack) } }
extension Notify__V1__MarkReadRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__mark_read_request__init, unpack: notify__v1__mark_read_request__unpack) } }
extension Notify__V1__FeedChangeResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__feed_change_response__init, unpack: notify__v1__feed_change_response__unpack) } }
extension Notify__V1__UnseenCountRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__unseen_count_request__init, unpack: notify__v1__unseen_count_request__unpack) } }
extension Notify__V1__UnseenCountResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__unseen_count_response__init, unpack: notify__v1__unseen_count_response__unpack) } }
extension Notify__V1__SetActionStateRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__set_action_state_request__init, unpack: notify__v1__set_action_state_request__unpack) } }
extension Notify__V1__DeleteEntriesRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__delete_entries_request__init, unpack: notify__v1__delete_entries_request__unpack) } }
extension Notify__V1__DeleteGroupRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__delete_group_request__init, unpack: notify__v1__delete_group_request__unpack) } }
extension Notify__V1__GetEntryRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__get_entry_request__init, unpack: notify__v1__get_entry_request__unpack) } }
extension Notify__V1__GetEntryResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__get_entry_response__init, unpack: notify__v1__get_entry_response__unpack) } }

// admin.proto
extension Notify__V1__User: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__user__init, unpack: notify__v1__user__unpack) } }
extension Notify__V1__PutUserRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__put_user_request__init, unpack: notify__v1__put_user_request__unpack) } }
extension Notify__V1__PutUserResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__put_user_response__init, unpack: notify__v1__put_user_response__unpack) } }
extension Notify__V1__DeleteUserRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__delete_user_request__init, unpack: notify__v1__delete_user_request__unpack) } }
extension Notify__V1__DeleteUserResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__delete_user_response__init, unpack: notify__v1__delete_user_response__unpack) } }
extension Notify__V1__Connection: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__connection__init, unpack: notify__v1__connection__unpack) } }
extension Notify__V1__PutConnectionRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__put_connection_request__init, unpack: notify__v1__put_connection_request__unpack) } }
extension Notify__V1__PutConnectionResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__put_connection_response__init, unpack: notify__v1__put_connection_response__unpack) } }
extension Notify__V1__DeleteConnectionRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__delete_connection_request__init, unpack: notify__v1__delete_connection_request__unpack) } }
extension Notify__V1__DeleteConnectionResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__delete_connection_response__init, unpack: notify__v1__delete_connection_response__unpack) } }
extension Notify__V1__Subscription: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__subscription__init, unpack: notify__v1__subscription__unpack) } }
extension Notify__V1__CreateSubscriptionRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__create_subscription_request__init, unpack: notify__v1__create_subscription_request__unpack) } }
extension Notify__V1__CreateSubscriptionResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__create_subscription_response__init, unpack: notify__v1__create_subscription_response__unpack) } }
extension Notify__V1__RenewSubscriptionRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__renew_subscription_request__init, unpack: notify__v1__renew_subscription_request__unpack) } }
extension Notify__V1__RenewSubscriptionResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__renew_subscription_response__init, unpack: notify__v1__renew_subscription_response__unpack) } }
extension Notify__V1__DeleteSubscriptionRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__delete_subscription_request__init, unpack: notify__v1__delete_subscription_request__unpack) } }
extension Notify__V1__DeleteSubscriptionResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__delete_subscription_response__init, unpack: notify__v1__delete_subscription_response__unpack) } }
extension Notify__V1__Principal: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__principal__init, unpack: notify__v1__principal__unpack) } }
extension Notify__V1__BlockRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__block_request__init, unpack: notify__v1__block_request__unpack) } }
extension Notify__V1__BlockResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__block_response__init, unpack: notify__v1__block_response__unpack) } }
extension Notify__V1__CreateTokenRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__create_token_request__init, unpack: notify__v1__create_token_request__unpack) } }
extension Notify__V1__CreateTokenResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__create_token_response__init, unpack: notify__v1__create_token_response__unpack) } }
extension Notify__V1__RevokeTokenRequest: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__revoke_token_request__init, unpack: notify__v1__revoke_token_request__unpack) } }
extension Notify__V1__RevokeTokenResponse: CMessage { static var functions: CMessageFunctions<Self> { .init(initialize: notify__v1__revoke_token_response__init, unpack: notify__v1__revoke_token_response__unpack) } }
