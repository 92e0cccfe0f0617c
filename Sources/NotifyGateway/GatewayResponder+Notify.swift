import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NotifyClient
import NotifyDomain
import NotifyWire

extension GatewayResponder {
    /// `POST /api/v2/notification/notify/`: SelfCommunity's Create Custom
    /// notification, one Notify RPC; 204 on success.
    ///
    /// The body may be JSON under `application/json`, JSON under
    /// `application/x-www-form-urlencoded` (as the documented examples send
    /// it), or truly form-encoded with `embed` as JSON text.
    func notify(_ request: Request, identity: RequestIdentity) async -> Result<Response, Failure> {
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
            guard request.headers[.authorization] != nil else { throw .missingToken }
            body = try await self.body(of: request, encoding: encoding)
        } catch {
            return .failure(error)
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
            switch JSONValue.parse(Data(body.readableBytesView)) {
            case .object(let object)?:
                reading = ContractJSON.readNotifyRequest(object: object)
            case nil:
                unreadable = .unparsableBody("the body is not valid JSON.")
            case let other?:
                unreadable = .unparsableBody("expected a JSON object, got \(other.typeName).")
            }
        }

        let client = upstream.client
        guard unreadable == nil, reading.violations.isEmpty else {
            // The service checks the caller before the body (401, 403, 429
            // come before 400), so it still gets one call: an empty request
            // it is sure to refuse as invalid once the caller passes. Its
            // answer then stands for everything the body got wrong.
            do {
                _ = try await client.notify(NotifyRequest(), metadata: Self.metadata(request, identity: identity, idempotent: false))
            } catch where error.code == .invalidArgument && error.reason == "INVALID_FIELDS" {
                if let unreadable { return .failure(unreadable) }
                return .failure(.invalidFields(ContractJSON.merging(reading.violations, Self.validationViolations(reading.request))))
            } catch {
                return .failure(.rpc(error))
            }
            return .failure(.rpc(RPCError(code: .internalError, message: "the service accepted an empty Notify", reason: "PROBE_ACCEPTED")))
        }

        do {
            _ = try await client.notify(reading.request, metadata: Self.metadata(request, identity: identity, idempotent: true))
        } catch {
            return .failure(.rpc(error))
        }
        var headers = HTTPFields()
        Problem.addIdentity(identity, contract: .selfCommunity, to: &headers)
        return .success(Response(status: .noContent, headers: headers))
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
