import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NotifyClient
import NotifyCrypto
import NotifyDomain
import NotifyMessages
import NotifyWire

/// Answers every HTTP request: finds the route, checks the method, and hands
/// the request to its endpoint.
///
/// Endpoints never throw: each failure becomes a ``Failure`` and goes through
/// ``ErrorTable`` once, here, so that every answer has its contract's body.
struct GatewayResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let configuration: GatewayConfiguration
    let upstream: UpstreamPool
    let logger: Logger
    /// Where request ids get their random bits, without a system call per request.
    let random = SecureRandom.Source()

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        var generator = random.generator
        let identity = RequestIdentity(
            clientValue: request.headers[.clientRequestID], id: UUIDText.random(using: &generator)
        )
        let path = request.uri.path
        guard let route = GatewayRoutes.route(for: path) else {
            return answer(.notFound(path: path), contract: .gateway, identity: identity)
        }
        let contract = route.endpoint.contract
        guard route.methods.contains(request.method.rawValue) else {
            return answer(
                .methodNotAllowed(method: request.method.rawValue, allow: route.methods.joined(separator: ", ")),
                contract: contract, identity: identity
            )
        }
        let outcome: Result<Response, Failure>
        switch route.endpoint {
        case .notify:
            outcome = await notify(request, identity: identity)
        case .sendNotification(let prefix):
            outcome = await sendNotification(request, prefix: prefix, identity: identity)
        case .healthz:
            outcome = .success(Self.json(.object(["status": .string("ok")]), status: .ok, contract: .gateway, identity: identity))
        case .readyz:
            outcome = await readiness(identity: identity)
        case .openAPI:
            var headers = HTTPFields()
            headers[.contentType] = "application/yaml; charset=utf-8"
            Problem.addIdentity(identity, contract: .gateway, to: &headers)
            outcome = .success(Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml))))
        }
        switch outcome {
        case .success(let response):
            logger.debug("answered", metadata: [
                "notify.request.id": "\(identity.requestID)", "http.path": "\(path)", "http.status": "\(response.status.code)",
            ])
            return response
        case .failure(let failure):
            return answer(failure, contract: contract, identity: identity)
        }
    }

    /// The one exit for failures: the table's answer, or 500 with the detail logged.
    ///
    /// Log lines carry the request id in their own metadata rather than in a
    /// logger made per request: setting logger metadata renders the stream
    /// handler's metadata text each time, a cost every request paid.
    func answer(_ failure: Failure, contract: Contract, identity: RequestIdentity) -> Response {
        let id = identity.requestID
        guard let problem = ErrorTable.problem(for: failure, contract: contract) else {
            logger.error("unexpected failure", metadata: ["notify.request.id": "\(id)", "error.type": "\(Self.describe(failure))"])
            return ErrorTable.internalError(contract).response(contract: contract, identity: identity)
        }
        if problem.status.code >= 500 {
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

    private static func describe(_ failure: Failure) -> String {
        if case .rpc(let error) = failure { return error.description }
        return "\(failure)"
    }

    // MARK: Shared steps

    /// The RPC metadata of a request: its credentials, our request id, and
    /// the idempotency key when the client sent one.
    static func metadata(_ request: Request, identity: RequestIdentity, idempotent: Bool) -> Metadata {
        var metadata = Metadata()
        if let authorization = request.headers[.authorization] { metadata.add("authorization", authorization) }
        metadata.add("x-request-id", identity.requestID)
        if idempotent, let key = request.headers[.idempotencyKey], !key.isEmpty, key.utf8.count <= 255 {
            metadata.add("idempotency-key", key)
        }
        return metadata
    }

    /// Reads and decodes the body within the configured bounds.
    func body(of request: Request, encoding: BodyReading.Encoding) async throws(Failure) -> ByteBuffer {
        let raw = try await BodyReading.collect(request, limit: configuration.maxBodySize)
        return try BodyReading.decode(raw, encoding: encoding, limit: configuration.maxDecompressedSize)
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status, contract: Contract, identity: RequestIdentity, extra: HTTPFields = [:]) -> Response {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        value.write(to: &bytes)
        let buffer = ByteBuffer(bytes: bytes)
        var headers = extra
        headers[.contentType] = "application/json"
        headers[.contentLength] = String(buffer.readableBytes)
        Problem.addIdentity(identity, contract: contract, to: &headers)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: buffer))
    }

    // MARK: /readyz

    private func readiness(identity: RequestIdentity) async -> Result<Response, Failure> {
        do {
            let health = try await upstream.client.health(timeout: min(configuration.rpcTimeout, .seconds(2)))
            guard health.status == .serving else {
                return .failure(.rpc(RPCError(code: .unavailable, message: "the service is \(health.status)", reason: "NOT_SERVING")))
            }
            return .success(Self.json(
                .object(["status": .string("ready"), "upstream": .string("SERVING")]), status: .ok, contract: .gateway,
                identity: identity
            ))
        } catch {
            return .failure(.rpc(error))
        }
    }
}
