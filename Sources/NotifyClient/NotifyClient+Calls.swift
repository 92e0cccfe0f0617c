public import NotifyCore
public import NotifyDomain
public import NotifyMessages

/// Typed calls for every method, so callers need not spell method names.
extension NotifyClient {
    /// `/notify.v1.Health/Check`.
    public func health(service: String? = nil, timeout: Duration? = nil) async throws(RPCError) -> HealthCheckResponse {
        try await call(NotifyMethods.healthCheck, HealthCheckRequest(service: service), timeout: timeout)
    }

    /// `/notify.v1.NotificationService/Notify` (SelfCommunity's custom notification).
    ///
    /// - Parameters:
    ///   - metadata: must carry "authorization" (an admin's bearer token); may
    ///     carry "idempotency-key" and "x-request-id".
    public func notify(_ request: NotifyRequest, metadata: Metadata, timeout: Duration? = nil) async throws(RPCError) -> NotifyResponse {
        try await call(NotifyMethods.notify, request, metadata: metadata, timeout: timeout)
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
        return try await call(NotifyMethods.sendNotification, request, metadata: metadata, timeout: timeout)
    }

    /// `/notify.v1.FeedService/List`.
    public func listFeed(_ request: ListFeedRequest, metadata: Metadata, timeout: Duration? = nil) async throws(RPCError) -> ListFeedResponse {
        try await call(NotifyMethods.listFeed, request, metadata: metadata, timeout: timeout)
    }

    /// `/notify.v1.FeedService/Watch`: the feed after `request.afterSequence`,
    /// page by page, then live. The first page that reaches the feed's end
    /// (`caughtUp`) comes even when empty; every page's `nextAfterSequence`
    /// is where to resume after a failure, with no gap and no repeat.
    ///
    /// A reader that falls behind is never cut: when more than
    /// `bufferBytes` of pages wait unread, the call is ended on the server,
    /// and once the reader has taken the pages already here, a new Watch
    /// resumes from the last page's cursor. Memory per watch stays within
    /// `bufferBytes` plus one page, however slow the reader; the shared
    /// connection is never paused for it.
    public func watchFeed(
        _ request: ListFeedRequest, metadata: Metadata, timeout: Duration? = nil,
        bufferBytes: Int = NotifyClient.defaultStreamBufferBytes
    ) -> FeedWatch {
        FeedWatch(client: self, request: request, metadata: metadata, timeout: timeout, bufferBytes: bufferBytes)
    }
}

/// The pages of a feed's Watch, resumed from its cursor whenever its reader
/// fell behind; see ``NotifyClient/watchFeed(_:metadata:timeout:bufferBytes:)``.
public struct FeedWatch: AsyncSequence, Sendable {
    public typealias Element = ListFeedResponse

    let client: NotifyClient
    let request: ListFeedRequest
    let metadata: Metadata
    let timeout: Duration?
    let bufferBytes: Int

    /// Starts the call: its pages arrive from now on, whether or not they are read yet.
    public func makeAsyncIterator() -> AsyncIterator {
        var iterator = AsyncIterator(watch: self, deadline: timeout.map { ContinuousClock.now + $0 })
        iterator.pages = iterator.start(after: request.afterSequence, timeout: timeout)
        return iterator
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let watch: FeedWatch
        let deadline: ContinuousClock.Instant?
        var pages: ServerMessages<ListFeedResponse>.AsyncIterator?
        /// The last page's `nextAfterSequence`: where a resumed call starts.
        var cursor: UInt64?
        var ended = false
        /// How many times the call was ended for a reader that fell behind, and resumed.
        public private(set) var resumptions = 0
        /// Resumed calls refused OVERLOADED in a row: the paused call's stream
        /// may not be released yet on the server.
        var overloadedRetries = 0

        /// Starts one Watch call after `after`.
        func start(after: UInt64?, timeout: Duration?) -> ServerMessages<ListFeedResponse>.AsyncIterator {
            var request = watch.request
            request.afterSequence = after
            let messages: ServerMessages<ListFeedResponse> = watch.client.stream(
                NotifyMethods.watchFeed, request, metadata: watch.metadata, timeout: timeout,
                bufferBytes: watch.bufferBytes, onOverflow: .pause)
            return messages.makeAsyncIterator()
        }

        /// The next page; nil when the server ended the watch OK.
        /// - Throws: the call's ``RPCError``.
        public mutating func next() async throws -> ListFeedResponse? {
            while !ended {
                var current: ServerMessages<ListFeedResponse>.AsyncIterator
                if let pages {
                    current = pages
                } else {
                    var timeout: Duration?
                    if let deadline {
                        let left = deadline - .now
                        guard left > .zero else {
                            ended = true
                            throw RPCError(code: .deadlineExceeded, message: "the call's deadline passed", reason: .deadlineExceeded)
                        }
                        timeout = left
                    }
                    current = start(after: cursor ?? watch.request.afterSequence, timeout: timeout)
                }
                do {
                    let page = try await current.next()
                    pages = current
                    guard let page else {
                        ended = true
                        return nil
                    }
                    cursor = page.nextAfterSequence
                    overloadedRetries = 0
                    return page
                } catch is StreamPaused {
                    pages = nil
                    resumptions += 1
                } catch let error as RPCError
                    where error.code == .resourceExhausted && error.reason == .overloaded && resumptions > 0
                    && overloadedRetries < 50 {
                    // The paused call's stream is released a moment after
                    // its cancel: try again shortly rather than fail a
                    // reader that did nothing wrong.
                    pages = nil
                    overloadedRetries += 1
                    try await Task.sleep(for: .milliseconds(20))
                } catch {
                    ended = true
                    throw error
                }
            }
            return nil
        }
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
