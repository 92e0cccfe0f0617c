import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyJSON

/// SelfCommunity's view of the caller's feed: the notifications Notify made
/// (docs/GATEWAY.md, "SelfCommunity: the caller's notifications"), errors in
/// its `{"errors": [...]}` shape. The caller is the bearer token's user; a
/// token with no feed of its own is answered 403 `permission_denied`.
extension GatewayResponder {
    static let selfCommunityPageSize: UInt32 = 20
    /// The most sids one `read/` names: the service's bound on ids per call.
    static let selfCommunityMaximumSids = 1_000

    /// `GET /api/v2/notification/?next_id=&previous_id=`: 20 notifications a
    /// page, newest first, as SelfCommunity's aggregated blocks, one item per
    /// block; `next` (older, `next_id`) and `previous` (newer, `previous_id`,
    /// which wins when both are sent) are absolute URLs or null. Listing marks
    /// the listed notifications read, as SelfCommunity does, with one MarkRead
    /// up to the newest listed sequence (source notify) per listing; a block's
    /// `is_new` says whether it was unread before.
    func selfCommunityList(_ request: GatewayRequest, identity: RequestIdentity, outcome: @escaping Outcome) {
        guard request.headers.authorization != nil else { return outcome(.failure(.missingToken)) }
        var nextID: UInt64?
        var previousID: UInt64?
        var violations: [Violation] = []
        for (name, value) in RequestQuery.parameters(request.head.uri) where name == "next_id" || name == "previous_id" {
            guard let cursor = RequestQuery.sequence(value) else {
                violations.append(Violation(field: name, message: "A valid integer is required."))
                continue
            }
            if name == "next_id" { nextID = cursor } else { previousID = cursor }
        }
        guard violations.isEmpty else { return outcome(.failure(.invalidQuery(violations))) }
        let metadata = Self.metadata(request, identity: identity, idempotent: false)
        let (client, timeout) = (upstream.client, configuration.rpcTimeout)
        let nextBase = link(request, query: "")
        let (next, previous) = (nextID, previousID)
        inTask(outcome) {
            let (nextID, previousID) = (next, previous)
            let size = Int(Self.selfCommunityPageSize)
            var entries: [NotifyDomain.Notification] = []
            // The issuers' names, for `user.username`.
            var names: [Int64: String] = [:]
            var older = false
            var newer = false
            var olderCursor: UInt64 = 0
            do throws(RPCError) {
                if let previousID {
                    // The nearest page after the cursor, read forward, shown newest first.
                    var cursor = previousID
                    var caughtUp = false
                    var rounds = 0
                    while entries.count < size && !caughtUp && rounds < 8 {
                        rounds += 1
                        let page = try await client.listFeed(
                            ListFeedRequest(
                                afterSequence: cursor, limit: UInt32(size - entries.count), source: "notify", withIssuers: true),
                            metadata: metadata, timeout: timeout)
                        entries += page.notifications
                        for issuer in page.issuers { names[issuer.id] = issuer.name }
                        caughtUp = page.caughtUp
                        cursor = page.nextAfterSequence
                    }
                    entries.reverse()
                    if !caughtUp, let newest = entries.first {
                        // More after the page, but perhaps none of this view: the view's newest says.
                        let head = try await client.listFeed(
                            ListFeedRequest(limit: 1, source: "notify", beforeSequence: 0), metadata: metadata, timeout: timeout)
                        newer = (head.notifications.first?.sequence ?? 0) > newest.sequence
                    }
                    if let oldest = entries.last {
                        let probe = try await client.listFeed(
                            ListFeedRequest(limit: 1, source: "notify", beforeSequence: oldest.sequence),
                            metadata: metadata, timeout: timeout)
                        older = !probe.notifications.isEmpty || !probe.caughtUp
                        olderCursor = oldest.sequence
                    }
                } else {
                    var cursor = nextID ?? 0
                    var caughtUp = false
                    var rounds = 0
                    while entries.count < size && !caughtUp && rounds < 8 {
                        rounds += 1
                        let page = try await client.listFeed(
                            ListFeedRequest(
                                limit: UInt32(size - entries.count), source: "notify", beforeSequence: cursor, withIssuers: true),
                            metadata: metadata, timeout: timeout)
                        entries += page.notifications
                        for issuer in page.issuers { names[issuer.id] = issuer.name }
                        caughtUp = page.caughtUp
                        cursor = page.nextAfterSequence
                    }
                    older = !caughtUp
                    olderCursor = cursor
                    newer = nextID != nil && !entries.isEmpty
                }
                // One "read up to" per listing, only when it changes something.
                if let newest = entries.first, entries.contains(where: { !$0.read }) {
                    _ = try await client.markRead(
                        MarkReadRequest(upToSequence: newest.sequence, source: "notify"), metadata: metadata,
                        timeout: timeout)
                }
            } catch {
                return .failure(Self.meFailure(error))
            }
            var body = JSONWriter(capacity: 256 + entries.count * 512)
            body.beginObject()
            body.member("next", orNull: older ? "\(nextBase)next_id=\(olderCursor)" : nil)
            body.member("previous", orNull: newer ? entries.first.map { "\(nextBase)previous_id=\($0.sequence)" } : nil)
            body.key("results")
            body.beginArray()
            for entry in entries { Self.writeBlock(entry, names: names, to: &body) }
            body.endArray()
            body.endObject()
            return .success(Self.json(bytes: body.bytes, status: .ok, contract: .selfCommunity, identity: identity))
        }
    }

    /// One aggregated block holding one notification (notify aggregates
    /// nothing): `{is_new, sid, aggregated: [{is_new, sid, type, active_at,
    /// custom_notification: {id, type, embed, title, description}, user: {id, username}}]}`.
    /// `sid` is the notification id; `custom_notification.id` its sequence
    /// in the feed (an integer, as SelfCommunity's ids are); `user` the
    /// issuer, `username` his name in `names` (null when he has none or is
    /// no longer a user).
    static func writeBlock(_ entry: NotifyDomain.Notification, names: [Int64: String], to body: inout JSONWriter) {
        guard case .custom(let custom) = entry.content else { return }
        body.beginObject()
        body.member("is_new", !entry.read)
        body.member("sid", entry.id)
        body.key("aggregated")
        body.beginArray()
        body.beginObject()
        body.member("is_new", !entry.read)
        body.member("sid", entry.id)
        body.member("type", "custom_notification")
        body.member("active_at", entry.createdAt.rfc3339)
        body.key("custom_notification")
        body.beginObject()
        body.member("id", Int64(clamping: entry.sequence))
        body.member("type", custom.type)
        body.key("embed")
        if let embed = custom.embed {
            body.beginObject()
            body.member("embed_type", embed.embedType)
            body.member("embed_id", embed.embedID)
            body.member("url", orNull: embed.url)
            body.key("metadata")
            if let metadata = embed.metadataJSON.flatMap({ JSONValue.parse(text: $0, maximumDepth: JSONValue.maximumStoredDepth) }) {
                metadata.write(to: &body)
            } else {
                body.null()
            }
            body.endObject()
        } else {
            body.null()
        }
        body.member("title", orNull: custom.title)
        body.member("description", orNull: custom.description)
        body.endObject()
        body.key("user")
        body.beginObject()
        body.member("id", custom.issuer)
        body.member("username", orNull: names[custom.issuer])
        body.endObject()
        body.endObject()
        body.endArray()
        body.endObject()
    }

    /// `POST /api/v2/notification/read/` `{"sids": [...]}`: marks those
    /// notifications read (one MarkRead by ids); 204. Every sid must be an id
    /// of the caller's feed (404 `not_found` otherwise, nothing changed).
    func selfCommunityRead(_ request: GatewayRequest, identity: RequestIdentity, outcome: @escaping Outcome) {
        let body: ByteBuffer
        let isForm: Bool
        do throws(Failure) {
            let encoding = try BodyReading.encoding(of: request.headers)
            switch BodyReading.mediaType(of: request.headers) {
            case nil, "application/json": isForm = false
            case "application/x-www-form-urlencoded": isForm = true
            case let other?: throw .unsupportedMediaType(other)
            }
            guard request.headers.authorization != nil else { throw .missingToken }
            body = try self.body(of: request, encoding: encoding)
        } catch {
            return outcome(.failure(error))
        }
        let reading = Self.readSids(body, isForm: isForm)
        let metadata = Self.metadata(request, identity: identity, idempotent: false)
        let (client, timeout) = (upstream.client, configuration.rpcTimeout)
        inTask(outcome) {
            switch reading {
            case .failure(let failure):
                // The caller before the body: a call that checks the token and its feed, changing nothing.
                do throws(RPCError) {
                    _ = try await client.call(
                        NotifyMethods.unseenCount, UnseenCountRequest(source: "notify"), metadata: metadata, timeout: timeout)
                } catch {
                    return .failure(Self.meFailure(error))
                }
                return .failure(failure)
            case .success(let sids):
                do throws(RPCError) {
                    _ = try await client.markRead(MarkReadRequest(ids: sids, source: "notify"), metadata: metadata, timeout: timeout)
                } catch {
                    return .failure(Self.meFailure(Self.renamingIDs(error)))
                }
                var headers = ResponseHeaders()
                Problem.addIdentity(identity, contract: .selfCommunity, to: &headers)
                return .success(GatewayResponse(status: .noContent, headers: headers))
            }
        }
    }

    /// `{"sids": [string, ...]}`, 1 to 1,000 of them; or why not.
    static func readSids(_ body: ByteBuffer, isForm: Bool) -> Result<[String], Failure> {
        let object: [String: JSONValue]
        if isForm && !BodyReading.looksLikeJSON(body) {
            guard let form = BodyReading.formObject(body) else {
                return .failure(.unparsableBody("the body is not valid form encoding."))
            }
            object = form
        } else {
            switch body.withUnsafeReadableBytes(JSONValue.parse(bytes:)) {
            case .object(let parsed)?: object = parsed
            case nil: return .failure(.unparsableBody("the body is not valid JSON."))
            case let other?: return .failure(.unparsableBody("expected a JSON object, got \(other.typeName)."))
            }
        }
        func refuse(_ field: String, _ message: String) -> Result<[String], Failure> {
            .failure(.invalidFields([Violation(field: field, message: message)]))
        }
        guard case .array(let items)? = object["sids"] else {
            if let other = object["sids"] { return refuse("sids", "Expected a list of items but got type \"\(other.typeName)\".") }
            return refuse("sids", "This field is required.")
        }
        guard !items.isEmpty else { return refuse("sids", "This list may not be empty.") }
        guard items.count <= selfCommunityMaximumSids else {
            return refuse("sids", "Ensure this field has no more than \(selfCommunityMaximumSids) elements.")
        }
        var sids: [String] = []
        sids.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            guard case .string(let sid) = item else { return refuse("sids[\(index)]", "Not a valid string.") }
            sids.append(sid)
        }
        return .success(sids)
    }

    /// The service names ids by its field (`ids[3]`); SelfCommunity's body says `sids`.
    static func renamingIDs(_ error: RPCError) -> RPCError {
        var renamed = error
        renamed.fieldViolations = error.fieldViolations.map { violation in
            var violation = violation
            if violation.field.hasPrefix("ids") { violation.field = "s" + violation.field }
            return violation
        }
        return renamed
    }

    /// `GET /api/v2/notification/unseen/count/`: `{"count": N}`, the caller's
    /// unread Notify notifications (UnseenCount, source notify).
    func selfCommunityUnseen(_ request: GatewayRequest, identity: RequestIdentity, outcome: @escaping Outcome) {
        guard request.headers.authorization != nil else { return outcome(.failure(.missingToken)) }
        let metadata = Self.metadata(request, identity: identity, idempotent: false)
        let (client, timeout) = (upstream.client, configuration.rpcTimeout)
        inTask(outcome) {
            do throws(RPCError) {
                let count = try await client.call(
                    NotifyMethods.unseenCount, UnseenCountRequest(source: "notify"), metadata: metadata, timeout: timeout
                ).count
                var body = JSONWriter(capacity: 32)
                body.beginObject()
                body.member("count", Int64(clamping: count))
                body.endObject()
                return .success(Self.json(bytes: body.bytes, status: .ok, contract: .selfCommunity, identity: identity))
            } catch {
                return .failure(Self.meFailure(error))
            }
        }
    }
}
