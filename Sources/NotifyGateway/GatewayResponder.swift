import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyJSON
import NotifyTracing

/// Answers every HTTP request: finds the route, checks the method, and hands
/// the request to its endpoint.
///
/// Endpoints run on the connection's event loop and start their RPC call
/// from there; the call's answer comes back to the same loop, where the HTTP
/// answer is built. Nothing waits: a body large enough to make parsing
/// costly (or compressed) is decoded and parsed in a task instead.
///
/// Endpoints never throw: each failure becomes a ``Failure`` and goes through
/// ``ErrorTable`` once, here, so that every answer has its contract's body.
struct GatewayResponder: Sendable {
    typealias Completion = @Sendable (GatewayResponse) -> Void
    /// An endpoint's outcome, mapped to an answer by ``finish(_:contract:identity:path:)``.
    typealias Outcome = @Sendable (Result<GatewayResponse, Failure>) -> Void

    /// Bodies up to this size, not compressed, are parsed on the event loop:
    /// the documented ones are a few hundred bytes.
    static let inlineBodyLimit = 64 * 1024

    private static let openAPIBytes = OpenAPIDocument.bytes

    let configuration: GatewayConfiguration
    let upstream: UpstreamPool
    /// Where the work that leaves the event loop runs.
    let tasks: GatewayTasks
    let logger: Logger
    /// Where request ids get their random bits, without a system call per request.
    let random = RandomPool()

    /// Answers `request`; `completion` runs once, on `eventLoop` unless the
    /// body was parsed in a task.
    func respond(to request: GatewayRequest, on eventLoop: any EventLoop, completion: @escaping Completion) {
        var generator = random.generator
        let requestID = UUIDText.random(using: &generator)
        let identity = RequestIdentity(
            clientValue: request.headers.clientRequestID, id: requestID,
            trace: configuration.tracer.isOn ? startSpan(request, requestID: requestID) : nil
        )
        let path = request.path
        let found = GatewayRoutes.route(for: path)
        var completion = completion
        if logger.logLevel <= .debug || configuration.metrics != nil {
            completion = observed(request, route: found, identity: identity, completion)
        }
        if !configuration.corsOrigins.isEmpty, let origin = request.headers.origin {
            if let route = found, let preflight = preflight(request, route: route, identity: identity) {
                return completion(preflight)
            }
            let allowed = configuration.corsOrigins.contains(origin)
            let answer = completion
            completion = { response in
                var response = response
                Self.addCORS(origin: origin, allowed: allowed, to: &response)
                answer(response)
            }
        }
        guard let route = found else {
            return completion(answer(
                .notFound(path: String(path)), contract: GatewayRoutes.contract(for: path), identity: identity))
        }
        let contract = route.endpoint.contract
        guard route.methods.contains(request.method.rawValue) else {
            return completion(answer(
                .methodNotAllowed(method: request.method.rawValue, allow: route.methods.joined(separator: ", ")),
                contract: contract, identity: identity
            ))
        }
        let outcome: Outcome = { [completion] result in
            let response = self.finish(result, contract: contract, identity: identity, path: path, uri: request.head.uri)
            identity.trace?.endHTTP(status: Int(response.status.code))
            completion(response)
        }
        switch route.endpoint {
        case .notify:
            parsing(request, outcome: outcome) { notify(request, identity: identity, on: eventLoop, outcome: outcome) }
        case .sendNotification(let prefix) where request.method == .GET:
            graphList(request, prefix: prefix, identity: identity, outcome: outcome)
        case .sendNotification(let prefix):
            parsing(request, outcome: outcome) {
                sendNotification(request, prefix: prefix, identity: identity, on: eventLoop, outcome: outcome)
            }
        case .graphEntry(let prefix):
            graphEntry(request, prefix: prefix, identity: identity, outcome: outcome)
        case .selfCommunityList:
            selfCommunityList(request, identity: identity, outcome: outcome)
        case .selfCommunityRead:
            selfCommunityRead(request, identity: identity, outcome: outcome)
        case .selfCommunityUnseen:
            selfCommunityUnseen(request, identity: identity, outcome: outcome)
        case .feedEvents:
            feedEvents(request, identity: identity, outcome: outcome)
        case .streamTicket:
            streamTicket(request, identity: identity, on: eventLoop, outcome: outcome)
        case .notificationStream:
            notificationStream(request, identity: identity, outcome: outcome)
        case .healthz:
            outcome(.success(Self.json(.object(["status": .string("ok")]), status: .ok, contract: .gateway, identity: identity)))
        case .readyz:
            let started = tasks.run { outcome(await readiness(identity: identity)) }
            if !started { outcome(.failure(Self.stopping)) }
        case .openAPI:
            var headers = ResponseHeaders()
            headers.add("Content-Type", "application/yaml; charset=utf-8")
            Problem.addIdentity(identity, contract: .gateway, to: &headers)
            outcome(.success(GatewayResponse(status: .ok, headers: headers, body: Self.openAPIBytes)))
        }
    }

    /// Runs `endpoint` here for a small plain body, in a task otherwise.
    private func parsing(
        _ request: GatewayRequest, outcome: @escaping Outcome, _ endpoint: @escaping @Sendable () -> Void
    ) {
        if request.body.readableBytes <= Self.inlineBodyLimit && request.headers.contentEncoding == nil {
            endpoint()
        } else if !tasks.run(endpoint) {
            outcome(.failure(Self.stopping))
        }
    }

    /// The answer to a request that needs a task once the gateway has stopped taking them.
    static let stopping = Failure.rpc(RPCError(
        code: .unavailable, message: "the gateway is shutting down", reason: .goingAway
    ))

    /// - Parameter uri: the request target, logged with any stream ticket redacted.
    private func finish(
        _ result: Result<GatewayResponse, Failure>, contract: Contract, identity: RequestIdentity, path: Substring, uri: String
    ) -> GatewayResponse {
        switch result {
        case .success(let response):
            return response
        case .failure(let failure):
            return answer(failure, contract: contract, identity: identity)
        }
    }

    /// `completion` with the request's metrics and debug line before it:
    /// one per request, with its method, target (stream tickets redacted),
    /// status, duration and both ids (ours, which its RPC carries as
    /// `x-request-id`, and the client's). Never a header's value: the token is one.
    private func observed(
        _ request: GatewayRequest, route: GatewayRoutes.Route?, identity: RequestIdentity, _ completion: @escaping Completion
    ) -> Completion {
        let started = NIODeadline.now()
        let (logger, metrics, method, uri) = (logger, configuration.metrics, request.method, request.head.uri)
        let routeLabel = route?.path ?? GatewayMetrics.unmatched
        return { response in
            let elapsed = NIODeadline.now() - started
            metrics?.answered(route: routeLabel, status: Int(response.status.code), nanoseconds: elapsed.nanoseconds)
            logger.debug("http request", metadata: [
                "notify.request.id": "\(identity.requestID)", "notify.client.request.id": "\(identity.clientRequestID)",
                "http.method": "\(method.rawValue)", "http.target": "\(StreamTicketQuery.redacted(uri))",
                "http.status": "\(response.status.code)", "notify.duration_ms": "\(Double(elapsed.nanoseconds) / 1_000_000)",
            ])
            completion(response)
        }
    }

    /// Counts an answer the connection made itself (413, 408, 504), which
    /// no completion of ``respond(to:on:completion:)`` saw.
    private func counted(_ response: GatewayResponse, path: Substring) -> GatewayResponse {
        configuration.metrics?.answered(
            route: GatewayRoutes.route(for: path)?.path ?? GatewayMetrics.unmatched, status: Int(response.status.code),
            nanoseconds: nil)
        return response
    }

    /// The answer to a request refused while it was being read (413, 408),
    /// with the CORS headers its `origin` gets, as every answer does.
    func refusal(_ refusal: GatewayConnectionStateMachine.Refusal, path: Substring, origin: String? = nil) -> GatewayResponse {
        var generator = random.generator
        let identity = RequestIdentity(clientValue: nil, id: UUIDText.random(using: &generator))
        let contract = GatewayRoutes.contract(for: path)
        var response: GatewayResponse
        switch refusal {
        case .bodyTooLarge:
            response = answer(.bodyTooLarge(limit: configuration.maxBodySize), contract: contract, identity: identity)
        case .readTimeout:
            response = answer(.readTimeout, contract: contract, identity: identity)
        }
        addCORS(origin: origin, to: &response)
        return counted(response, path: path)
    }

    /// The answer of a request whose RPC did not finish within its deadline:
    /// the same 504 as a DEADLINE_EXCEEDED from the service, with the CORS
    /// headers its `origin` gets.
    func answerTimeout(path: Substring, clientRequestID: String?, origin: String? = nil) -> GatewayResponse {
        var generator = random.generator
        let identity = RequestIdentity(clientValue: clientRequestID, id: UUIDText.random(using: &generator))
        let contract = GatewayRoutes.contract(for: path)
        let error = RPCError(code: .deadlineExceeded, message: "no answer within the RPC deadline", reason: .deadlineExceeded)
        var response = answer(.rpc(error), contract: contract, identity: identity)
        addCORS(origin: origin, to: &response)
        return counted(response, path: path)
    }

    /// The CORS headers of an answer the connection makes itself, as
    /// ``respond(to:on:completion:)`` adds them to the routes' answers.
    private func addCORS(origin: String?, to response: inout GatewayResponse) {
        guard !configuration.corsOrigins.isEmpty, let origin else { return }
        Self.addCORS(origin: origin, allowed: configuration.corsOrigins.contains(origin), to: &response)
    }

    /// The one exit for failures: the table's answer, or 500 with the detail logged.
    ///
    /// Log lines carry the request id in their own metadata rather than in a
    /// logger made per request: setting logger metadata renders the stream
    /// handler's metadata text each time, a cost every request paid.
    func answer(_ failure: Failure, contract: Contract, identity: RequestIdentity) -> GatewayResponse {
        let id = identity.requestID
        guard let problem = ErrorTable.problem(for: failure, contract: contract) else {
            logger.error("unexpected failure", metadata: ["notify.request.id": "\(id)", "error.type": "\(Self.describe(failure))"])
            return ErrorTable.internalError(contract).response(contract: contract, identity: identity)
        }
        // A full disk is logged once by the service, not once per request.
        if problem.status.code >= 500, !Self.isStoreUnavailable(failure) {
            logger.warning("upstream failure", metadata: [
                "notify.request.id": "\(id)", "error.message": "\(Self.describe(failure))", "http.status": "\(problem.status.code)",
            ])
        } else {
            logger.debug("refused", metadata: [
                "notify.request.id": "\(id)", "http.status": "\(problem.status.code)", "error.code": "\(problem.code)",
            ])
        }
        return problem.response(contract: contract, identity: identity)
    }

    private static func isStoreUnavailable(_ failure: Failure) -> Bool {
        if case .rpc(let error) = failure { return error.reason == .storeUnavailable }
        return false
    }

    private static func describe(_ failure: Failure) -> String {
        if case .rpc(let error) = failure { return error.description }
        return "\(failure)"
    }

    // MARK: Shared steps

    /// The RPC metadata of a request: its credentials, our request id, and
    /// the idempotency key when the client sent one.
    ///
    /// A key is forwarded whatever its length: the service refuses one past
    /// its limit (INVALID_ARGUMENT `INVALID_METADATA`, 400 here), where
    /// dropping it would have stored a retried notification twice.
    static func metadata(_ request: GatewayRequest, identity: RequestIdentity, idempotent: Bool) -> Metadata {
        var metadata = Metadata()
        if let authorization = request.headers.authorization { metadata.add("authorization", authorization) }
        metadata.add("x-request-id", identity.requestID)
        identity.trace?.inject(into: &metadata)
        if idempotent, let key = request.headers.idempotencyKey, !key.isEmpty {
            metadata.add("idempotency-key", key)
        }
        return metadata
    }

    /// The body with its Content-Encoding undone, within the decoded-size limit.
    func body(of request: GatewayRequest, encoding: BodyReading.Encoding) throws(Failure) -> ByteBuffer {
        try BodyReading.decode(request.body, encoding: encoding, limit: configuration.maxDecompressedSize)
    }

    /// The answer to the call a body the gateway could not read stands in for.
    ///
    /// The service checks the caller before the body (401, 403, 404, 429 come
    /// before 400), so an unreadable or invalid body still gets one call: an
    /// empty request the service is sure to refuse as invalid once the caller
    /// passes. Its answer then stands for everything the body got wrong. The
    /// caller makes the call (its messages' codec is the client's business).
    func probe<Response: Sendable>(
        _ method: String, bodyFailure: @escaping @Sendable () -> Failure, outcome: @escaping Outcome
    ) -> @Sendable (Result<Response, RPCError>) -> Void {
        { result in
            switch result {
            case .failure(let error) where error.code == .invalidArgument && error.reason == .invalidFields:
                outcome(.failure(bodyFailure()))
            case .failure(let error):
                outcome(.failure(.rpc(error)))
            case .success:
                outcome(.failure(.rpc(RPCError(
                    code: .internalError, message: "the service accepted an empty \(method)", reason: .probeAccepted
                ))))
            }
        }
    }

    static func json(
        _ value: JSONValue, status: HTTPResponseStatus, contract: Contract, identity: RequestIdentity,
        extra: ResponseHeaders = ResponseHeaders()
    ) -> GatewayResponse {
        var writer = JSONWriter()
        value.write(to: &writer)
        return json(bytes: writer.bytes, status: status, contract: contract, identity: identity, extra: extra)
    }

    /// An answer whose JSON body is already written.
    static func json(
        bytes: [UInt8], status: HTTPResponseStatus, contract: Contract, identity: RequestIdentity,
        extra: ResponseHeaders = ResponseHeaders()
    ) -> GatewayResponse {
        var headers = extra
        headers.add("Content-Type", "application/json")
        Problem.addIdentity(identity, contract: contract, to: &headers)
        return GatewayResponse(status: status, headers: headers, body: bytes)
    }

    // MARK: /readyz

    private func readiness(identity: RequestIdentity) async -> Result<GatewayResponse, Failure> {
        let timeout = min(configuration.rpcTimeout, .seconds(2))
        do {
            var health = try await upstream.client.health(service: Self.readinessService, timeout: timeout)
            if health.status == .serviceUnknown {
                // A service from before readiness had a name of its own.
                health = try await upstream.client.health(timeout: timeout)
            }
            guard health.status == .serving else {
                // Draining, or a store that cannot write: liveness tells them apart.
                let live = try? await upstream.client.health(timeout: timeout)
                if live?.status == .serving {
                    return .failure(.rpc(RPCError(
                        code: .unavailable, message: "the store cannot write", reason: .storeUnavailable)))
                }
                return .failure(.rpc(RPCError(code: .unavailable, message: "the service is \(health.status)", reason: .notServing)))
            }
            return .success(Self.json(
                .object(["status": .string("ready"), "upstream": .string("SERVING")]), status: .ok, contract: .gateway,
                identity: identity
            ))
        } catch {
            return .failure(.rpc(error))
        }
    }

    /// The health service name of the RPC server's readiness (its store can write, it is not draining).
    static let readinessService = "notify.v1.Readiness"
}
