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
        let metadata: Metadata
        do throws(Failure) {
            // A bearer token, or a browser's stream ticket in the query.
            metadata = try Self.streamMetadata(request, identity: identity)
            // The header, or (an EventSource sends no header) the query parameter of the same name.
            guard let subscription = Self.unsID(of: request), !subscription.isEmpty else {
                throw .invalidFields([Violation(field: "X-UNS-ID", message: "This header (or query parameter) is required.")])
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

    /// The subscription a stream names: the `X-UNS-ID` header, else the
    /// `X-UNS-ID` query parameter (its name in any case), for a browser's
    /// EventSource, which cannot send headers. The header wins when both are sent.
    static func unsID(of request: GatewayRequest) -> String? {
        if let header = request.headers.unsID, !header.isEmpty { return header }
        for (name, value) in RequestQuery.parameters(request.head.uri)
        where ASCII.equalsIgnoringCase(name.utf8, "x-uns-id".utf8) && !value.isEmpty {
            return value
        }
        return nil
    }
}
