import Foundation
import NotifyDomain
import NotifyJSON
import NotifyTracing

/// The ids a response carries: ours, and the one the client sent (Graph's
/// client-request-id) or ours again when it sent none.
struct RequestIdentity: Sendable {
    let requestID: String
    let clientRequestID: String
    /// The request's span, which its RPCs continue; nil when tracing is off.
    let trace: TraceSpan?

    /// - Parameters:
    ///   - clientValue: the client's client-request-id, echoed only when it is
    ///     short printable ASCII, so that it cannot break a header or a log line.
    ///   - id: ours; every request gets a fresh random one.
    ///   - trace: the request's span, when tracing is on.
    init(clientValue: String?, id: String = UUIDText.random(), trace: TraceSpan? = nil) {
        self.requestID = id
        self.trace = trace
        if let clientValue, (1...128).contains(clientValue.utf8.count),
            clientValue.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        {
            self.clientRequestID = clientValue
        } else {
            self.clientRequestID = id
        }
    }
}

extension Problem {
    /// The documented error answer of `contract`.
    func response(contract: Contract, identity: RequestIdentity, date: Timestamp = .now()) -> GatewayResponse {
        var body: [UInt8] = []
        bodyJSON(contract: contract, identity: identity, date: date).write(to: &body)
        var headers = ResponseHeaders()
        headers.add("Content-Type", "application/json")
        Self.addIdentity(identity, contract: contract, to: &headers)
        if let retryAfter { headers.add("Retry-After", retryAfter) }
        if let allow { headers.add("Allow", allow) }
        if challenge {
            headers.add("WWW-Authenticate", contract == .selfCommunity ? "Bearer realm=\"api\"" : "Bearer")
        }
        return GatewayResponse(status: status, headers: headers, body: body, closesConnection: closeConnection)
    }

    /// SelfCommunity: `{"errors": [{"field", "messages"}]}` for invalid
    /// fields, `{"errors": [{"code", "message"}]}` otherwise. Graph:
    /// `{"error": {"code", "message", "details"?, "innerError"}}`.
    func bodyJSON(contract: Contract, identity: RequestIdentity, date: Timestamp) -> JSONValue {
        switch contract {
        case .selfCommunity:
            if !fields.isEmpty {
                return .object(["errors": .array(fields.map { violation in
                    .object(["field": .string(violation.field), "messages": .array([.string(violation.message)])])
                })])
            }
            return .object(["errors": .array([.object(["code": .string(code), "message": .string(message)])])])
        case .graph, .gateway:
            var error: [String: JSONValue] = [
                "code": .string(code),
                "message": .string(message),
                "innerError": .object([
                    "request-id": .string(identity.requestID),
                    "client-request-id": .string(identity.clientRequestID),
                    "date": .string(date.rfc3339),
                ]),
            ]
            if !fields.isEmpty {
                error["details"] = .array(fields.map { violation in
                    .object([
                        "code": .string("invalidValue"), "target": .string(violation.field),
                        "message": .string(violation.message),
                    ])
                })
            }
            return .object(["error": .object(error)])
        }
    }

    /// Graph's request-id and client-request-id on every Graph answer; an
    /// X-Request-ID on SelfCommunity's, for support.
    static func addIdentity(_ identity: RequestIdentity, contract: Contract, to headers: inout ResponseHeaders) {
        switch contract {
        case .graph, .gateway:
            headers.add("request-id", identity.requestID)
            headers.add("client-request-id", identity.clientRequestID)
        case .selfCommunity:
            headers.add("X-Request-ID", identity.requestID)
        }
    }
}
