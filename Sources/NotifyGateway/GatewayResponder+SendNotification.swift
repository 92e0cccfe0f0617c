import Foundation
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyJSON

extension GatewayResponder {
    /// `POST [/beta|/v1.0]/me/notifications/`: Graph's Create and send a
    /// notification, one SendNotification RPC; 201 with the entity.
    ///
    /// The seed's error table says 200 for success while its response section
    /// says 201; the gateway answers 201 (docs/GATEWAY.md).
    func sendNotification(
        _ request: GatewayRequest, prefix: String, identity: RequestIdentity, on eventLoop: any EventLoop,
        outcome: @escaping Outcome
    ) {
        let body: ByteBuffer
        do throws(Failure) {
            if let spelling = request.headers.refusedConditional { throw .unsupportedHeader(spelling) }
            let encoding = try BodyReading.encoding(of: request.headers)
            let mediaType = BodyReading.mediaType(of: request.headers)
            guard mediaType == "application/json" else { throw .unsupportedMediaType(mediaType) }
            guard request.headers.authorization != nil else { throw .missingToken }
            body = try self.body(of: request, encoding: encoding)
        } catch {
            return outcome(.failure(error))
        }

        var reading = ContractReading(request: SendNotificationRequest(), violations: [])
        var unreadable: Failure?
        switch body.withUnsafeReadableBytes(JSONValue.parse(bytes:)) {
        case .object(let object)?:
            reading = ContractJSON.readSendNotificationRequest(object: object)
        case .array?:
            unreadable = .bodyIsArray
        case nil:
            unreadable = .unparsableBody("the body is not valid JSON.")
        case let other?:
            unreadable = .unparsableBody("expected a JSON object, got \(other.typeName).")
        }

        // The X-UNS-ID names the subscription; the service judges it and the
        // caller's right to it before the body.
        let subscriptionID = request.headers.unsID ?? ""
        func metadata(idempotent: Bool) -> Metadata {
            var metadata = Self.metadata(request, identity: identity, idempotent: idempotent)
            metadata.replace("x-uns-id", subscriptionID)
            return metadata
        }
        guard unreadable == nil, reading.violations.isEmpty else {
            let failure: Failure = unreadable
                ?? .invalidFields(ContractJSON.merging(reading.violations, Self.validationViolations(reading.request)))
            return upstream.client.start(
                NotifyMethods.sendNotification, SendNotificationRequest(), metadata: metadata(idempotent: false),
                memo: request.memo, as: SendNotificationResponse.self, on: eventLoop,
                completion: probe(NotifyMethods.sendNotification.name, bodyFailure: { failure }, outcome: outcome)
            )
        }

        let base = baseURL(request, prefix: prefix)
        upstream.client.start(
            NotifyMethods.sendNotification, reading.request, metadata: metadata(idempotent: true), memo: request.memo,
            as: SendNotificationResponse.self, on: eventLoop
        ) { result in
            let stored: NotifyDomain.Notification
            switch result {
            case .success(let response):
                stored = response.notification
            case .failure(let error):
                return outcome(.failure(.rpc(error)))
            }
            var entity = JSONWriter()
            let context = "\(base)/$metadata#users('\(stored.user)')/notifications/$entity"
            guard stored.writeGraphEntity(context: context, to: &entity) else {
                return outcome(.failure(.rpc(RPCError(
                    code: .internalError, message: "the service answered a non-Graph notification", reason: .wrongKind
                ))))
            }
            var headers = ResponseHeaders()
            headers.add("Location", "\(base)/me/notifications/\(stored.id)")
            outcome(.success(Self.json(bytes: entity.bytes, status: .created, contract: .graph, identity: identity, extra: headers)))
        }
    }

    /// The scheme, host and version prefix the client used, for Location,
    /// @odata.context and the REST lists' links; the Host header is used only
    /// when it is a plain host[:port].
    func baseURL(_ request: GatewayRequest, prefix: String) -> String {
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
        if let authority = request.headers.host, (1...255).contains(authority.utf8.count),
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
            _ = try SendNotificationValidation.validate(request, now: Timestamp.now().truncatedToMilliseconds)
            return []
        } catch {
            return error.violations
        }
    }
}
