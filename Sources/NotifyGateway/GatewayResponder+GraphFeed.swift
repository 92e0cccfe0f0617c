import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyJSON

/// Graph's view of the caller's feed: the notifications SendNotification
/// made, under `[/beta|/v1.0]/me/notifications` (docs/GATEWAY.md, "Graph:
/// the caller's notifications"). `/me` is the bearer token's user; a token
/// with no feed of its own is answered 403 `Forbidden`.
extension GatewayResponder {
    static let graphDefaultTop: UInt32 = 20
    static let graphMaximumTop: UInt32 = 100

    /// `GET [/beta|/v1.0]/me/notifications`: the caller's Graph notifications,
    /// newest first, `$top` (1–100, default 20) at a time, `$skiptoken` the
    /// cursor of `@odata.nextLink` (List with before_sequence and source graph).
    func graphList(_ request: GatewayRequest, prefix: String, identity: RequestIdentity, outcome: @escaping Outcome) {
        guard request.headers.authorization != nil else { return outcome(.failure(.missingToken)) }
        var top = Self.graphDefaultTop
        var cursor: UInt64 = 0
        var violations: [Violation] = []
        for (name, value) in RequestQuery.parameters(request.head.uri) {
            switch name {
            case "$top":
                if let value = UInt32(value), (1...Self.graphMaximumTop).contains(value) {
                    top = value
                } else {
                    violations.append(Violation(field: "$top", message: "Must be an integer from 1 to \(Self.graphMaximumTop)."))
                }
            case "$skiptoken":
                if let value = RequestQuery.sequence(value) {
                    cursor = value
                } else {
                    violations.append(Violation(field: "$skiptoken", message: "Must be the $skiptoken of an @odata.nextLink."))
                }
            default:
                // $select, $filter, $count and the like: not supported, ignored (documented).
                break
            }
        }
        guard violations.isEmpty else { return outcome(.failure(.invalidQuery(violations))) }
        let metadata = Self.metadata(request, identity: identity, idempotent: false)
        let (client, timeout) = (upstream.client, configuration.rpcTimeout)
        let base = baseURL(request, prefix: prefix)
        let nextBase = link(request, query: "")
        let (pageSize, start) = (top, cursor)
        inTask(outcome) {
            let top = pageSize
            var cursor = start
            var entries: [NotifyDomain.Notification] = []
            var caughtUp = false
            var rounds = 0
            // A page cut by bytes, or one that passed over many entries of the
            // other view, is short: read on, a few pages at most.
            while entries.count < Int(top) && !caughtUp && rounds < 8 {
                rounds += 1
                let page: ListFeedResponse
                do throws(RPCError) {
                    page = try await client.listFeed(
                        ListFeedRequest(limit: top - UInt32(entries.count), source: "graph", beforeSequence: cursor),
                        metadata: metadata, timeout: timeout)
                } catch {
                    return .failure(Self.meFailure(error))
                }
                entries += page.notifications
                caughtUp = page.caughtUp
                cursor = page.nextAfterSequence
            }
            var body = JSONWriter(capacity: 256 + entries.count * 512)
            body.beginObject()
            body.member("@odata.context", "\(base)/$metadata#users('me')/notifications")
            if !caughtUp {
                body.member("@odata.nextLink", "\(nextBase)$top=\(top)&$skiptoken=\(cursor)")
            }
            body.key("value")
            body.beginArray()
            for entry in entries { _ = entry.writeGraphEntity(context: nil, state: true, to: &body) }
            body.endArray()
            body.endObject()
            return .success(Self.json(bytes: body.bytes, status: .ok, contract: .graph, identity: identity))
        }
    }

    /// `GET|PATCH|DELETE [/beta|/v1.0]/me/notifications/{id}`: one of the
    /// caller's Graph notifications (Get), its `userActionState` changed
    /// (SetActionState, 200 with the entity) or deleted (Delete, 204).
    ///
    /// Each starts with a Get: an id that is not a Graph notification of the
    /// caller's feed (unknown, another user's, a Notify entry, deleted,
    /// expired) answers 404 `itemNotFound` and nothing is changed, and the
    /// caller is checked before the body.
    func graphEntry(_ request: GatewayRequest, prefix: String, identity: RequestIdentity, outcome: @escaping Outcome) {
        guard request.headers.authorization != nil else { return outcome(.failure(.missingToken)) }
        guard let (_, rawID, _) = GatewayRoutes.entryPath(request.path) else {
            return outcome(.failure(.notFound(path: String(request.path))))
        }
        let id = RequestQuery.decode(rawID)
        var patch: PatchReading?
        if request.method == .PATCH {
            do throws(Failure) {
                patch = try Self.readPatch(request, maxSize: configuration.maxDecompressedSize)
            } catch {
                return outcome(.failure(error))
            }
        }
        let metadata = Self.metadata(request, identity: identity, idempotent: false)
        let (client, timeout) = (upstream.client, configuration.rpcTimeout)
        let base = baseURL(request, prefix: prefix)
        let method = request.method
        let reading = patch
        inTask(outcome) {
            let patch = reading
            var entry: NotifyDomain.Notification
            do throws(RPCError) {
                // user absent: the token's own feed.
                entry = try await client.call(
                    NotifyMethods.getEntry, GetEntryRequest(id: id), metadata: metadata, timeout: timeout
                ).notification
            } catch {
                return .failure(Self.meFailure(Self.naming(error, field: "id", as: "id")))
            }
            guard case .graph = entry.content else {
                // Another view's entry: not in Graph's collection.
                return .failure(.rpc(RPCError(
                    code: .notFound, message: "no such Graph notification", reason: .notificationNotFound)))
            }
            switch method {
            case .DELETE:
                do throws(RPCError) {
                    _ = try await client.call(
                        NotifyMethods.deleteEntries, DeleteEntriesRequest(user: entry.user, ids: [entry.id]),
                        metadata: metadata, timeout: timeout)
                } catch {
                    return .failure(Self.meFailure(error))
                }
                var headers = ResponseHeaders()
                Problem.addIdentity(identity, contract: .graph, to: &headers)
                return .success(GatewayResponse(status: .noContent, headers: headers))
            case .PATCH:
                switch patch {
                case .state(let state)?:
                    do throws(RPCError) {
                        _ = try await client.call(
                            NotifyMethods.setActionState,
                            SetActionStateRequest(user: entry.user, id: entry.id, actionState: state.rawValue),
                            metadata: metadata, timeout: timeout)
                    } catch {
                        return .failure(Self.meFailure(Self.naming(error, field: "action_state", as: "userActionState")))
                    }
                    entry.actionState = state
                case .failure(let failure)?:
                    return .failure(failure)
                case nil:
                    break
                }
            default:
                break
            }
            var body = JSONWriter(capacity: 768)
            _ = entry.writeGraphEntity(
                context: "\(base)/$metadata#users('\(entry.user)')/notifications/$entity", state: true, to: &body)
            return .success(Self.json(bytes: body.bytes, status: .ok, contract: .graph, identity: identity))
        }
    }

    /// A PATCH body, read before any call: a state, or why it is refused
    /// (answered only once the caller has passed, as a body's faults are).
    enum PatchReading: Sendable {
        case state(ActionState)
        case failure(Failure)
    }

    /// `{"userActionState": "noInteraction" | "activated" | "dismissed" | "snoozed"}`
    /// (any case in); other members are ignored.
    /// - Throws: only what the gateway answers before the caller is known
    ///   (Content-Type and encoding, 415; the body's size, 413).
    static func readPatch(_ request: GatewayRequest, maxSize: Int) throws(Failure) -> PatchReading {
        let encoding = try BodyReading.encoding(of: request.headers)
        let mediaType = BodyReading.mediaType(of: request.headers)
        guard mediaType == "application/json" else { throw .unsupportedMediaType(mediaType) }
        let body = try BodyReading.decode(request.body, encoding: encoding, limit: maxSize)
        let field = "userActionState"
        let states = ActionState.allCases.map(\.rawValue).joined(separator: ", ")
        switch body.withUnsafeReadableBytes(JSONValue.parse(bytes:)) {
        case .object(let object)?:
            switch object[field] {
            case .string(let name)?:
                guard let state = ActionState(parsing: name) else {
                    return .failure(.invalidFields([Violation(field: field, message: "Must be one of \(states).")]))
                }
                return .state(state)
            case nil:
                return .failure(.invalidFields([Violation(field: field, message: "This field is required.")]))
            case let other?:
                return .failure(.invalidFields([Violation(field: field, message: "Expected a string, got \(other.typeName).")]))
            }
        case .array?:
            return .failure(.bodyIsArray)
        case nil:
            return .failure(.unparsableBody("the body is not valid JSON."))
        case let other?:
            return .failure(.unparsableBody("expected a JSON object, got \(other.typeName)."))
        }
    }

    /// The service's error with the field it names by proto path named as
    /// the contract names it (the id is the path's, the state the body's).
    static func naming(_ error: RPCError, field: String, as name: String) -> RPCError {
        guard error.fieldViolations.contains(where: { $0.field == field }) else { return error }
        var renamed = error
        renamed.fieldViolations = error.fieldViolations.map { violation in
            var violation = violation
            if violation.field == field { violation.field = name }
            return violation
        }
        return renamed
    }
}
