import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyJSON

/// What browsers need that other clients do not: CORS for the configured
/// origins, and stream tickets, since an EventSource cannot send an
/// Authorization header (docs/GATEWAY.md, "Browsers").
extension GatewayResponder {
    /// `POST /feed/tickets`: a stream ticket for the bearer token's caller,
    /// one FeedService/CreateStreamTicket call; 200 with
    /// `{"ticket", "expiresDateTime"}`.
    func streamTicket(_ request: GatewayRequest, identity: RequestIdentity, on eventLoop: any EventLoop, outcome: @escaping Outcome) {
        guard request.headers.authorization != nil else { return outcome(.failure(.missingToken)) }
        upstream.client.start(
            NotifyMethods.createStreamTicket, CreateStreamTicketRequest(),
            metadata: Self.metadata(request, identity: identity, idempotent: false), memo: request.memo,
            as: CreateStreamTicketResponse.self, on: eventLoop
        ) { result in
            switch result {
            case .success(let ticket):
                var headers = ResponseHeaders()
                headers.add("Cache-Control", "no-store")
                outcome(.success(Self.json(
                    .object(["ticket": .string(ticket.ticket), "expiresDateTime": .string(ticket.expiresDateTime)]),
                    status: .ok, contract: .gateway, identity: identity, extra: headers
                )))
            case .failure(let error):
                outcome(.failure(.rpc(error)))
            }
        }
    }

    /// The RPC metadata of a stream start: the request's Authorization as
    /// for any call or, without one, its `ticket` query parameter as
    /// `x-stream-ticket`, which the service redeems (once) in its place.
    ///
    /// Every server-sent-events route starts its stream with this, so that
    /// each takes a ticket; no other route reads `ticket`.
    /// - Throws: ``Failure/missingToken`` when the request has neither.
    static func streamMetadata(_ request: GatewayRequest, identity: RequestIdentity) throws(Failure) -> Metadata {
        var metadata = metadata(request, identity: identity, idempotent: false)
        if request.headers.authorization == nil {
            guard let ticket = StreamTicketQuery.ticket(in: request.head.uri) else { throw .missingToken }
            metadata.add("x-stream-ticket", ticket)
        }
        return metadata
    }

    // MARK: CORS

    /// The answer to a CORS preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`) for `route`, or nil when the request
    /// is no preflight the gateway answers (CORS off, or no such headers):
    /// it then goes on as any other request does (405 for OPTIONS).
    func preflight(_ request: GatewayRequest, route: GatewayRoutes.Route, identity: RequestIdentity) -> GatewayResponse? {
        guard request.method == .OPTIONS, !configuration.corsOrigins.isEmpty,
            let origin = request.headers.origin, request.headers.corsRequestMethod != nil
        else { return nil }
        guard configuration.corsOrigins.contains(origin) else {
            var refused = answer(.originNotAllowed(origin), contract: route.endpoint.contract, identity: identity)
            refused.headers.add("Vary", "Origin")
            return refused
        }
        var headers = ResponseHeaders()
        headers.add("Access-Control-Allow-Origin", origin)
        headers.add("Access-Control-Allow-Methods", route.methods.joined(separator: ", "))
        headers.add("Access-Control-Allow-Headers", Self.corsAllowedHeaders)
        headers.add("Access-Control-Max-Age", String(Self.corsMaxAgeSeconds))
        headers.add("Vary", "Origin")
        Problem.addIdentity(identity, contract: route.endpoint.contract, to: &headers)
        return GatewayResponse(status: .noContent, headers: headers)
    }

    /// The CORS headers of an actual answer to `origin`: the origin itself
    /// (never `*`: credentials travel in headers) and the headers a page's
    /// script may read. Only a configured origin gets them; every answer to
    /// a request with an Origin says that it varies by it.
    static func addCORS(origin: String, allowed: Bool, to response: inout GatewayResponse) {
        if allowed {
            response.headers.add("Access-Control-Allow-Origin", origin)
            response.headers.add("Access-Control-Expose-Headers", corsExposedHeaders)
        }
        response.headers.add("Vary", "Origin")
    }

    /// Every request header a route reads, for a preflight to allow.
    static let corsAllowedHeaders =
        "Authorization, Content-Type, Content-Encoding, X-UNS-ID, Idempotency-Key, Last-Event-ID, client-request-id"

    /// The answer headers a page's script may read besides the CORS-safelisted ones.
    static let corsExposedHeaders =
        "Location, request-id, client-request-id, X-Request-ID, Retry-After, WWW-Authenticate, Allow"

    /// How long a browser may keep a preflight's answer: ten minutes
    /// (Chromium keeps at most two hours, Firefox a day).
    static let corsMaxAgeSeconds = 600
}

/// The `ticket` query parameter of a stream start, and the target of a
/// request as logged: with any ticket's value replaced.
enum StreamTicketQuery {
    static let parameter = "ticket"

    /// The first non-empty `ticket=` value of `uri`'s query, as sent (tickets are base64url: nothing to decode).
    static func ticket(in uri: String) -> String? {
        guard let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts[0] == parameter, parts.count > 1, !parts[1].isEmpty { return String(parts[1]) }
        }
        return nil
    }

    /// `uri` as it may be logged: each `ticket=` value becomes `[redacted]`.
    ///
    /// A ticket is a credential for a minute; logs are kept far longer and
    /// read by more people, so none is ever written to one.
    static func redacted(_ uri: String) -> String {
        guard let mark = uri.firstIndex(of: "?") else { return uri }
        let query = uri[uri.index(after: mark)...]
        guard query.contains(parameter) else { return uri }
        let pairs = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> Substring in
            let name = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            return name == parameter ? "\(parameter)=[redacted]" : pair
        }
        return String(uri[...mark]) + pairs.joined(separator: "&")
    }
}
