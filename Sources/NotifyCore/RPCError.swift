/// A failed call: what the server answers and what a client throws.
///
/// It carries everything a non-OK `Response` frame carries, so that the REST
/// gateway can rebuild the documented HTTP error from it without guessing.
public struct RPCError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: StatusCode
    public var message: String
    /// Why the call failed beyond ``code``, such as ``Reason/callerBlocked``; docs/PROTOCOL.md lists
    /// those a server sends and those raised locally. A reason from a newer server is kept as it came.
    public var reason: Reason?
    /// One entry per invalid field, for INVALID_ARGUMENT.
    public var fieldViolations: [FieldViolation]
    /// Response metadata (for example "retry-after" on RESOURCE_EXHAUSTED).
    public var metadata: Metadata

    public init(
        code: StatusCode, message: String, reason: Reason? = nil,
        fieldViolations: [FieldViolation] = [], metadata: Metadata = Metadata()
    ) {
        self.code = code
        self.message = message
        self.reason = reason
        self.fieldViolations = fieldViolations
        self.metadata = metadata
    }

    public var description: String {
        var text = "\(code.name): \(message)"
        if let reason { text += " (\(reason))" }
        for violation in fieldViolations { text += "\n  \(violation.field): \(violation.description)" }
        return text
    }
}
