import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyJSON

extension GatewayResponder {
    /// `GET /feed/events?user=ID[&after=SEQ][&limit=N]`: a user's feed as
    /// server-sent events, over one FeedService/Watch call.
    ///
    /// The status waits for the stream's first page, so that a refused caller
    /// gets the gateway's error answer (401, 403, 400) instead of an empty
    /// stream. Then each feed entry is an event whose id is its sequence: an
    /// EventSource that reconnects sends it back as Last-Event-ID, which
    /// takes the place of `after`, and resumes with no gap and no repeat.
    func feedEvents(_ request: GatewayRequest, identity: RequestIdentity, outcome: @escaping Outcome) {
        let watch: ListFeedRequest
        let metadata: Metadata
        do throws(Failure) {
            // A bearer token, or a browser's stream ticket in the query.
            metadata = try Self.streamMetadata(request, identity: identity)
            watch = try FeedEventsQuery.request(uri: request.head.uri, lastEventID: request.headers.lastEventID)
        } catch {
            return outcome(.failure(error))
        }
        let client = upstream.client
        let link = EventStreamLink()
        // The parameter that set the cursor, to name in a refusal of it.
        let cursor = request.headers.lastEventID != nil ? "Last-Event-ID" : "after"
        let started = tasks.run {
            // The reading stops when the connection goes, whatever it awaits.
            await link.untilDetached {
                await Self.readFeed(
                    client, watch, metadata: metadata, identity: identity, contract: .gateway, cursor: cursor, link: link,
                    outcome: outcome)
            }
        }
        if !started { outcome(.failure(Self.stopping)) }
    }

    /// Reads the first page for the answer's status, then hands each next
    /// page to the connection once it has taken the stream.
    ///
    /// A Watch refused because the query names nothing to read (a user who
    /// does not exist, a cursor past the feed's end) is the query's fault:
    /// 400 with the parameter named, as for a malformed one. `contract`
    /// names the route's (its identity headers; its errors are the route's).
    static func readFeed(
        _ client: NotifyClient, _ watch: ListFeedRequest, metadata: Metadata, identity: RequestIdentity,
        contract: Contract, cursor: String, link: EventStreamLink, outcome: @escaping Outcome
    ) async {
        var pages = client.watchFeed(watch, metadata: metadata).makeAsyncIterator()
        var events = FeedEvents()
        let first: ListFeedResponse
        do {
            guard let page = try await pages.next() else {
                throw RPCError(code: .unavailable, message: "the feed ended before its first page", reason: .streamEnded)
            }
            first = page
        } catch {
            let error = Self.rpcError(error)
            switch (error.code, error.reason) {
            case (.notFound, .userNotFound):
                return outcome(.failure(.invalidQuery([Violation(field: "user", message: "No such user.")])))
            case (.outOfRange, .pastEndOfFeed):
                // The service's message names the feed's last sequence.
                return outcome(.failure(.invalidQuery([Violation(
                    field: cursor, message: "Past the end of the feed (\(error.message)).")])))
            default:
                return outcome(.failure(.rpc(error)))
            }
        }
        var headers = ResponseHeaders()
        headers.add("Content-Type", "text/event-stream; charset=utf-8")
        headers.add("Cache-Control", "no-store")
        Problem.addIdentity(identity, contract: contract, to: &headers)
        outcome(.success(GatewayResponse(status: .ok, headers: headers, body: events.render(first), events: link)))
        guard let sink = await link.sink() else { return }
        do {
            while let page = try await pages.next() {
                try await sink.write(events.render(page))
            }
            sink.finish(FeedEvents.end(nil))
        } catch {
            // Cancelled: the connection is gone, there is no one to tell.
            guard !Task.isCancelled else { return }
            sink.finish(FeedEvents.end(Self.rpcError(error)))
        }
    }

    private static func rpcError(_ error: any Error) -> RPCError {
        (error as? RPCError) ?? RPCError(code: .unavailable, message: "\(error)", reason: .streamFailed)
    }
}

/// The query of `/feed/events`, as a Watch request.
enum FeedEventsQuery {
    static let defaultLimit: UInt32 = 100

    static func request(uri: String, lastEventID: String?) throws(Failure) -> ListFeedRequest {
        var user: Int64?
        var after: UInt64?
        var limit = defaultLimit
        var violations: [Violation] = []
        let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let (name, value) = (parts[0], parts.count > 1 ? parts[1] : "")
            switch name {
            case "user":
                user = Int64(value)
                if user == nil { violations.append(Violation(field: "user", message: "A valid integer is required.")) }
            case "after":
                after = UInt64(value)
                if after == nil { violations.append(Violation(field: "after", message: "A valid sequence number is required.")) }
            case "limit":
                if let value = UInt32(value), (1...1000).contains(value) {
                    limit = value
                } else {
                    violations.append(Violation(field: "limit", message: "Ensure this value is between 1 and 1000."))
                }
            default:
                break
            }
        }
        if user == nil && !violations.contains(where: { $0.field == "user" }) {
            violations.append(Violation(field: "user", message: "This field is required."))
        }
        if let lastEventID {
            if let id = UInt64(lastEventID.trimmingPrefix(" ")) {
                after = id
            } else {
                violations.append(Violation(field: "Last-Event-ID", message: "A valid sequence number is required."))
            }
        }
        guard violations.isEmpty, let user else { throw .invalidQuery(violations) }
        return ListFeedRequest(user: user, afterSequence: after, limit: limit)
    }
}

/// Feed pages as server-sent events.
///
/// `notification` events carry a feed entry (as `notifyctl feed` prints it)
/// with its sequence as the id; `state` events carry a state change (a
/// FeedEvent, docs/GATEWAY.md), in sequence order with them. One `live` event follows the first page that
/// reaches the end of the feed (its `caughtUp`; a short page may be cut by
/// bytes): what comes after it was stored after the stream began. A `swept`
/// event (`{"through": N}`) comes before a page whose cursor pointed into
/// history removed by retention. An `error` event ends a stream the service ended.
struct FeedEvents {
    private var live = false

    mutating func render(_ page: ListFeedResponse) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(page.notifications.count * 384 + 64)
        if let swept = page.sweptThrough {
            // Before the entries: what the reader lost to retention, once per page.
            var data = JSONWriter(capacity: 32)
            data.beginObject()
            data.member("through", Int64(clamping: swept))
            data.endObject()
            ServerSentEvent.append(id: nil, event: "swept", data: data.bytes, to: &out)
        }
        // Notifications and state events, merged by sequence: the order they were committed in.
        var events = page.events.makeIterator()
        var nextEvent = events.next()
        for notification in page.notifications {
            while let event = nextEvent, event.sequence < notification.sequence {
                Self.append(event, to: &out)
                nextEvent = events.next()
            }
            var data = JSONWriter(capacity: 384)
            notification.writeFeedEntry(to: &data)
            ServerSentEvent.append(id: notification.sequence, event: "notification", data: data.bytes, to: &out)
        }
        while let event = nextEvent {
            Self.append(event, to: &out)
            nextEvent = events.next()
        }
        if !live && page.caughtUp {
            live = true
            var data = JSONWriter(capacity: 32)
            data.beginObject()
            data.member("after", Int64(clamping: page.nextAfterSequence))
            data.endObject()
            ServerSentEvent.append(id: page.nextAfterSequence, event: "live", data: data.bytes, to: &out)
        }
        return out
    }

    /// A state event (`event: state`): the FeedEvent as JSON, members that
    /// do not apply to its kind left out, its sequence as the id.
    private static func append(_ event: FeedEventMessage, to out: inout [UInt8]) {
        var data = JSONWriter(capacity: 128 + event.ids.count * 40)
        data.beginObject()
        data.member("sequence", Int64(clamping: event.sequence))
        data.member("createdDateTime", event.createdAt.rfc3339)
        data.member("kind", event.kind)
        data.member("ids", strings: event.ids)
        if let upTo = event.readUpToSequence { data.member("readUpToSequence", Int64(clamping: upTo)) }
        data.member("actionState", omittingNil: event.actionState)
        data.member("removedReason", omittingNil: event.removedReason)
        data.member("source", omittingNil: event.source)
        data.endObject()
        ServerSentEvent.append(id: event.sequence, event: "state", data: data.bytes, to: &out)
    }

    /// The last event of a stream the gateway ends as it shuts down.
    static let goingAway = end(RPCError(
        code: .unavailable, message: "the gateway is shutting down: reconnect", reason: .goingAway
    ))

    /// The last event: why the service ended the stream, when it did.
    static func end(_ error: RPCError?) -> [UInt8] {
        guard let error else { return [] }
        var data = JSONWriter(capacity: 128)
        data.beginObject()
        data.member("message", error.message)
        data.member("reason", orNull: error.reason?.rawValue)
        data.member("status", error.code.name)
        data.endObject()
        var out: [UInt8] = []
        ServerSentEvent.append(id: nil, event: "error", data: data.bytes, to: &out)
        return out
    }
}
