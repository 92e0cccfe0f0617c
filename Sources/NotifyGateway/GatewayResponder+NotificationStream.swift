import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages

extension GatewayResponder {
    /// `GET [/beta|/v1.0]/me/notifications/stream`: one device endpoint's
    /// feed as server-sent events, over one FeedService/Watch by
    /// subscription. The endpoint is the subscription the `X-UNS-ID` header
    /// names; the caller is Graph's (the `Authorization` bearer token: the
    /// subscription's user, its application or an administrator).
    ///
    /// The events are `/feed/events`' (``FeedEvents``): each entry that
    /// targets the endpoint, its sequence as the id. Entries that do not
    /// target it move the stream's cursor without an event, and
    /// `Last-Event-ID` resumes after the last one received: a reconnecting
    /// EventSource gets exactly what it missed. Without it the stream starts
    /// at the beginning of the feed. Errors before the stream starts are
    /// Graph's: 401, 403, 404 `itemNotFound` (no such or an expired
    /// subscription), 400 (no `X-UNS-ID`, a malformed `Last-Event-ID` or one
    /// past the feed's end). docs/GATEWAY.md, "Device endpoint stream".
    func notificationStream(_ request: GatewayRequest, identity: RequestIdentity, outcome: @escaping Outcome) {
        let watch: ListFeedRequest
        do throws(Failure) {
            guard request.headers.authorization != nil else { throw .missingToken }
            guard let subscription = request.headers.unsID, !subscription.isEmpty else {
                throw .invalidFields([Violation(field: "X-UNS-ID", message: "This header is required.")])
            }
            var after: UInt64?
            if let lastEventID = request.headers.lastEventID {
                guard let id = UInt64(lastEventID.trimmingPrefix(" ")) else {
                    throw .invalidQuery([Violation(field: "Last-Event-ID", message: "A valid sequence number is required.")])
                }
                after = id
            }
            watch = ListFeedRequest(
                afterSequence: after, limit: FeedEventsQuery.defaultLimit, subscription: subscription)
        } catch {
            return outcome(.failure(error))
        }
        let metadata = Self.metadata(request, identity: identity, idempotent: false)
        let client = upstream.client
        let link = EventStreamLink()
        let started = tasks.run {
            // The reading stops when the connection goes, whatever it awaits.
            await link.untilDetached {
                await Self.readFeed(
                    client, watch, metadata: metadata, identity: identity, contract: .graph, cursor: "Last-Event-ID",
                    link: link, outcome: outcome)
            }
        }
        if !started { outcome(.failure(Self.stopping)) }
    }
}
