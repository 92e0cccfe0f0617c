public import NotifyDomain
public import NotifyMessages
public import NotifyWire

/// Typed calls for every method, so callers need not spell method names.
extension NotifyClient {
    /// `/notify.v1.Health/Check`.
    public func health(service: String? = nil, timeout: Duration? = nil) async throws(RPCError) -> HealthCheckResponse {
        try await call(Methods.healthCheck, HealthCheckRequest(service: service), timeout: timeout)
    }

    /// `/notify.v1.NotificationService/Notify` (SelfCommunity's custom notification).
    ///
    /// - Parameters:
    ///   - metadata: must carry "authorization" (an admin's bearer token); may
    ///     carry "idempotency-key" and "x-request-id".
    public func notify(_ request: NotifyRequest, metadata: Metadata, timeout: Duration? = nil) async throws(RPCError) -> NotifyResponse {
        try await call(Methods.notify, request, metadata: metadata, timeout: timeout)
    }

    /// `/notify.v1.NotificationService/SendNotification` (Graph's create and send).
    ///
    /// - Parameters:
    ///   - subscriptionID: the X-UNS-ID; sent as "x-uns-id" metadata.
    public func sendNotification(
        _ request: SendNotificationRequest, subscriptionID: String, metadata: Metadata, timeout: Duration? = nil
    ) async throws(RPCError) -> SendNotificationResponse {
        var metadata = metadata
        metadata.replace("x-uns-id", subscriptionID)
        return try await call(Methods.sendNotification, request, metadata: metadata, timeout: timeout)
    }

    /// `/notify.v1.FeedService/List`.
    public func listFeed(_ request: ListFeedRequest, metadata: Metadata, timeout: Duration? = nil) async throws(RPCError) -> ListFeedResponse {
        try await call(Methods.listFeed, request, metadata: metadata, timeout: timeout)
    }

    /// `/notify.v1.FeedService/Watch`: the feed after `request.afterSequence`,
    /// page by page, then live. The first page that reaches the feed's end
    /// comes even when empty; every page's `nextAfterSequence` is where to
    /// resume after a failure, with no gap and no repeat.
    public func watchFeed(
        _ request: ListFeedRequest, metadata: Metadata, timeout: Duration? = nil, bufferLimit: Int = 64
    ) -> AsyncThrowingStream<ListFeedResponse, any Error> {
        stream(Methods.watchFeed, request, metadata: metadata, timeout: timeout, bufferLimit: bufferLimit)
    }
}

extension Metadata {
    /// Metadata carrying a bearer token.
    public static func bearer(_ token: String) -> Metadata {
        var metadata = Metadata()
        metadata.add("authorization", "Bearer \(token)")
        return metadata
    }
}
