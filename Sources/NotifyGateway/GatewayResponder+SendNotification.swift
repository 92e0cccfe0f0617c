import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NotifyClient
import NotifyDomain
import NotifyWire

extension GatewayResponder {
    /// `POST [/beta|/v1.0]/me/notifications/`: Graph's Create and send a
    /// notification, one SendNotification RPC; 201 with the entity.
    ///
    /// The seed's error table says 200 for success while its response section
    /// says 201; the gateway answers 201 (docs/GATEWAY.md).
    func sendNotification(
        _ request: Request, prefix: String, identity: RequestIdentity
    ) async -> Result<Response, Failure> {
        let body: ByteBuffer
        do throws(Failure) {
            for (name, spelling) in [(HTTPField.Name.ifModifiedSince, "If-Modified-Since"), (.ifRange, "If-Range")]
            where request.headers[name] != nil {
                throw .unsupportedHeader(spelling)
            }
            let encoding = try BodyReading.encoding(of: request.headers)
            let mediaType = BodyReading.mediaType(of: request.headers)
            guard mediaType == "application/json" else { throw .unsupportedMediaType(mediaType) }
            guard request.headers[.authorization] != nil else { throw .missingToken }
            body = try await self.body(of: request, encoding: encoding)
        } catch {
            return .failure(error)
        }

        var reading = ContractReading(request: SendNotificationRequest(), violations: [])
        var unreadable: Failure?
        switch JSONValue.parse(Data(body.readableBytesView)) {
        case .object(let object)?:
            reading = ContractJSON.readSendNotificationRequest(object: object)
        case .array?:
            unreadable = .bodyIsArray
        case nil:
            unreadable = .unparsableBody("the body is not valid JSON.")
        case let other?:
            unreadable = .unparsableBody("expected a JSON object, got \(other.typeName).")
        }

        let client = upstream.client
        let subscriptionID = request.headers[.xUNSID] ?? ""
        guard unreadable == nil, reading.violations.isEmpty else {
            // As for Notify: the service judges the caller, the subscription
            // and the caller's right to it first; an empty request makes sure
            // it stops at validation when all of those pass.
            do {
                _ = try await client.sendNotification(
                    SendNotificationRequest(), subscriptionID: subscriptionID,
                    metadata: Self.metadata(request, identity: identity, idempotent: false)
                )
            } catch where error.code == .invalidArgument && error.reason == "INVALID_FIELDS" {
                if let unreadable { return .failure(unreadable) }
                return .failure(.invalidFields(ContractJSON.merging(reading.violations, Self.validationViolations(reading.request))))
            } catch {
                return .failure(.rpc(error))
            }
            return .failure(.rpc(RPCError(code: .internalError, message: "the service accepted an empty notification", reason: "PROBE_ACCEPTED")))
        }

        let stored: NotifyDomain.Notification
        do {
            stored = try await client.sendNotification(
                reading.request, subscriptionID: subscriptionID,
                metadata: Self.metadata(request, identity: identity, idempotent: true)
            ).notification
        } catch {
            return .failure(.rpc(error))
        }
        guard case .object(var entity)? = stored.graphEntityJSON else {
            return .failure(.rpc(RPCError(code: .internalError, message: "the service answered a non-Graph notification", reason: "WRONG_KIND")))
        }
        let base = baseURL(request, prefix: prefix)
        entity["@odata.context"] = .string("\(base)/$metadata#users('\(stored.user)')/notifications/$entity")
        var headers = HTTPFields()
        headers[.location] = "\(base)/me/notifications/\(stored.id)"
        return .success(Self.json(.object(entity), status: .created, contract: .graph, identity: identity, extra: headers))
    }

    /// The scheme, host and version prefix the client used, for Location and
    /// @odata.context; the Host header is used only when it is a plain host[:port].
    private func baseURL(_ request: Request, prefix: String) -> String {
        let scheme = configuration.tls == nil ? "http" : "https"
        // Letters, digits and . - : [ ]: a host name or address and a port, nothing to escape.
        func isPlain(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: ":"),
                UInt8(ascii: "["), UInt8(ascii: "]"):
                true
            default:
                false
            }
        }
        let host: String
        if let authority = request.head.authority, (1...255).contains(authority.utf8.count),
            authority.utf8.allSatisfy(isPlain)
        {
            host = authority
        } else {
            host = "\(configuration.host):\(configuration.port)"
        }
        return "\(scheme)://\(host)\(prefix)"
    }

    private static func validationViolations(_ request: SendNotificationRequest) -> [Violation] {
        do {
            _ = try SendNotificationValidation.validate(request, now: Date())
            return []
        } catch {
            return error.violations
        }
    }
}
