public import NotifyCore
public import NotifyDomain

/// The methods of the RPC protocol, each declared once with its name, its
/// message types and whether it streams.
///
/// The server registers its handlers by these descriptors and the client
/// calls by them, so a request or response type that does not match its
/// method fails to compile on either side. Adding a method is: its
/// descriptor here, its messages' codec (`WireMessage`, in NotifyProtobuf), its handler
/// registered in `NotifyService`.
public enum NotifyMethods {
    public static let healthCheck = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>.unary(
        "/notify.v1.Health/Check")

    public static let notify = MethodDescriptor<NotifyRequest, NotifyResponse>.unary(
        "/notify.v1.NotificationService/Notify")
    public static let sendNotification = MethodDescriptor<SendNotificationRequest, SendNotificationResponse>.unary(
        "/notify.v1.NotificationService/SendNotification")

    public static let listFeed = MethodDescriptor<ListFeedRequest, ListFeedResponse>.unary(
        "/notify.v1.FeedService/List")
    /// The feed from a cursor, then live.
    public static let watchFeed = MethodDescriptor<ListFeedRequest, ListFeedResponse>.serverStream(
        "/notify.v1.FeedService/Watch")
    /// A short-lived, single-use credential for one Watch start: what a
    /// browser's EventSource, which cannot send headers, puts in its URL.
    public static let createStreamTicket = MethodDescriptor<CreateStreamTicketRequest, CreateStreamTicketResponse>.unary(
        "/notify.v1.FeedService/CreateStreamTicket")

    /// The feed's state (docs/PROTOCOL.md, "Feed state").
    public static let markRead = MethodDescriptor<MarkReadRequest, FeedChangeResponse>.unary(
        "/notify.v1.FeedService/MarkRead")
    public static let unseenCount = MethodDescriptor<UnseenCountRequest, UnseenCountResponse>.unary(
        "/notify.v1.FeedService/UnseenCount")
    public static let setActionState = MethodDescriptor<SetActionStateRequest, FeedChangeResponse>.unary(
        "/notify.v1.FeedService/SetActionState")
    public static let deleteEntries = MethodDescriptor<DeleteEntriesRequest, FeedChangeResponse>.unary(
        "/notify.v1.FeedService/Delete")
    public static let deleteGroup = MethodDescriptor<DeleteGroupRequest, FeedChangeResponse>.unary(
        "/notify.v1.FeedService/DeleteGroup")
    public static let getEntry = MethodDescriptor<GetEntryRequest, GetEntryResponse>.unary(
        "/notify.v1.FeedService/Get")

    public static let putUser = MethodDescriptor<PutUserRequest, PutUserResponse>.unary(
        "/notify.v1.AdminService/PutUser")
    public static let deleteUser = MethodDescriptor<DeleteUserRequest, DeleteUserResponse>.unary(
        "/notify.v1.AdminService/DeleteUser")
    public static let putConnection = MethodDescriptor<PutConnectionRequest, PutConnectionResponse>.unary(
        "/notify.v1.AdminService/PutConnection")
    public static let deleteConnection = MethodDescriptor<DeleteConnectionRequest, DeleteConnectionResponse>.unary(
        "/notify.v1.AdminService/DeleteConnection")
    public static let createSubscription = MethodDescriptor<CreateSubscriptionRequest, CreateSubscriptionResponse>.unary(
        "/notify.v1.AdminService/CreateSubscription")
    public static let renewSubscription = MethodDescriptor<RenewSubscriptionRequest, RenewSubscriptionResponse>.unary(
        "/notify.v1.AdminService/RenewSubscription")
    public static let deleteSubscription = MethodDescriptor<DeleteSubscriptionRequest, DeleteSubscriptionResponse>.unary(
        "/notify.v1.AdminService/DeleteSubscription")
    public static let block = MethodDescriptor<BlockRequest, BlockResponse>.unary(
        "/notify.v1.AdminService/Block")
    public static let unblock = MethodDescriptor<BlockRequest, BlockResponse>.unary(
        "/notify.v1.AdminService/Unblock")
    public static let createToken = MethodDescriptor<CreateTokenRequest, CreateTokenResponse>.unary(
        "/notify.v1.AdminService/CreateToken")
    public static let revokeToken = MethodDescriptor<RevokeTokenRequest, RevokeTokenResponse>.unary(
        "/notify.v1.AdminService/RevokeToken")

    /// Every method's name, for a dispatcher to check that it serves them all.
    public static let all: [String] = [
        healthCheck.name, notify.name, sendNotification.name, listFeed.name, watchFeed.name,
        markRead.name, unseenCount.name, setActionState.name, deleteEntries.name, deleteGroup.name, getEntry.name,
        putUser.name, deleteUser.name, putConnection.name, deleteConnection.name,
        createSubscription.name, renewSubscription.name, deleteSubscription.name,
        block.name, unblock.name, createToken.name, revokeToken.name,
        createStreamTicket.name,
    ]
}

/// The full method paths, as the call metadata and request frames carry
/// them: the names of ``NotifyMethods``, for callers of raw frames and bytes.
public enum Methods {
    public static let healthCheck = NotifyMethods.healthCheck.name
    public static let notify = NotifyMethods.notify.name
    public static let sendNotification = NotifyMethods.sendNotification.name
    public static let listFeed = NotifyMethods.listFeed.name
    public static let watchFeed = NotifyMethods.watchFeed.name
    public static let markRead = NotifyMethods.markRead.name
    public static let unseenCount = NotifyMethods.unseenCount.name
    public static let setActionState = NotifyMethods.setActionState.name
    public static let deleteEntries = NotifyMethods.deleteEntries.name
    public static let deleteGroup = NotifyMethods.deleteGroup.name
    public static let getEntry = NotifyMethods.getEntry.name
    public static let putUser = NotifyMethods.putUser.name
    public static let deleteUser = NotifyMethods.deleteUser.name
    public static let putConnection = NotifyMethods.putConnection.name
    public static let deleteConnection = NotifyMethods.deleteConnection.name
    public static let createSubscription = NotifyMethods.createSubscription.name
    public static let renewSubscription = NotifyMethods.renewSubscription.name
    public static let deleteSubscription = NotifyMethods.deleteSubscription.name
    public static let block = NotifyMethods.block.name
    public static let unblock = NotifyMethods.unblock.name
    public static let createToken = NotifyMethods.createToken.name
    public static let revokeToken = NotifyMethods.revokeToken.name
    public static let createStreamTicket = NotifyMethods.createStreamTicket.name
    public static let all = NotifyMethods.all
}
