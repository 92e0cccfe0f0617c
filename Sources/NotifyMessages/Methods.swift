/// The full method paths of the RPC protocol, as the call metadata carries them.
///
/// They follow gRPC's `/package.Service/Method` form so that one string names
/// a method in logs, metrics and the dispatcher table alike.
public enum Methods {
    public static let healthCheck = "/notify.v1.Health/Check"

    public static let notify = "/notify.v1.NotificationService/Notify"
    public static let sendNotification = "/notify.v1.NotificationService/SendNotification"

    public static let listFeed = "/notify.v1.FeedService/List"
    /// A server stream: the feed from a cursor, then live.
    public static let watchFeed = "/notify.v1.FeedService/Watch"

    public static let putUser = "/notify.v1.AdminService/PutUser"
    public static let deleteUser = "/notify.v1.AdminService/DeleteUser"
    public static let putConnection = "/notify.v1.AdminService/PutConnection"
    public static let deleteConnection = "/notify.v1.AdminService/DeleteConnection"
    public static let createSubscription = "/notify.v1.AdminService/CreateSubscription"
    public static let renewSubscription = "/notify.v1.AdminService/RenewSubscription"
    public static let deleteSubscription = "/notify.v1.AdminService/DeleteSubscription"
    public static let block = "/notify.v1.AdminService/Block"
    public static let unblock = "/notify.v1.AdminService/Unblock"
    public static let createToken = "/notify.v1.AdminService/CreateToken"
    public static let revokeToken = "/notify.v1.AdminService/RevokeToken"

    /// Every method, for a dispatcher to check that it serves them all.
    public static let all: [String] = [
        healthCheck, notify, sendNotification, listFeed, watchFeed,
        putUser, deleteUser, putConnection, deleteConnection,
        createSubscription, renewSubscription, deleteSubscription,
        block, unblock, createToken, revokeToken,
    ]
}
