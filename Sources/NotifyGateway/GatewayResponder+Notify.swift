import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyJSON

extension GatewayResponder {
    /// `POST /api/v2/notification/notify/`: SelfCommunity's Create Custom
    /// notification, one Notify RPC; 204 on success.
    ///
    /// The body may be JSON under `application/json`, JSON under
    /// `application/x-www-form-urlencoded` (as the documented examples send
    /// it), or truly form-encoded with `embed` as JSON text.
    func notify(_ request: GatewayRequest, identity: RequestIdentity, on eventLoop: any EventLoop, outcome: @escaping Outcome) {
        let body: ByteBuffer
        let isForm: Bool
        do throws(Failure) {
            let encoding = try BodyReading.encoding(of: request.headers)
            switch BodyReading.mediaType(of: request.headers) {
            case nil, "application/json":
                isForm = false
            case "application/x-www-form-urlencoded":
                isForm = true
            case let other?:
                throw .unsupportedMediaType(other)
            }
            guard request.headers.authorization != nil else { throw .missingToken }
            body = try self.body(of: request, encoding: encoding)
        } catch {
            return outcome(.failure(error))
        }

        var reading = ContractReading(request: NotifyRequest(), violations: [])
        var unreadable: Failure?
        if isForm && !BodyReading.looksLikeJSON(body) {
            if let object = BodyReading.formObject(body) {
                reading = ContractJSON.readNotifyRequest(object: object)
            } else {
                unreadable = .unparsableBody("the body is not valid form encoding.")
            }
        } else {
            switch body.withUnsafeReadableBytes(JSONValue.parse(bytes:)) {
            case .object(let object)?:
                reading = ContractJSON.readNotifyRequest(object: object)
            case nil:
                unreadable = .unparsableBody("the body is not valid JSON.")
            case let other?:
                unreadable = .unparsableBody("expected a JSON object, got \(other.typeName).")
            }
        }

        guard unreadable == nil, reading.violations.isEmpty else {
            let failure: Failure = unreadable
                ?? .invalidFields(ContractJSON.merging(reading.violations, Self.validationViolations(reading.request)))
            return upstream.client.start(
                NotifyMethods.notify, NotifyRequest(), metadata: Self.metadata(request, identity: identity, idempotent: false),
                memo: request.memo, as: NotifyResponse.self, on: eventLoop,
                completion: probe(NotifyMethods.notify.name, bodyFailure: { failure }, outcome: outcome)
            )
        }

        upstream.client.start(
            NotifyMethods.notify, reading.request, metadata: Self.metadata(request, identity: identity, idempotent: true),
            memo: request.memo, as: NotifyResponse.self, on: eventLoop
        ) { result in
            switch result {
            case .success:
                var headers = ResponseHeaders()
                Problem.addIdentity(identity, contract: .selfCommunity, to: &headers)
                outcome(.success(GatewayResponse(status: .noContent, headers: headers)))
            case .failure(let error):
                outcome(.failure(.rpc(error)))
            }
        }
    }

    private static func validationViolations(_ request: NotifyRequest) -> [Violation] {
        do {
            _ = try NotifyValidation.validate(request)
            return []
        } catch {
            return error.violations
        }
    }
}
