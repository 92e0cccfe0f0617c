/// One violation of a request field, sent with `INVALID_ARGUMENT` so a caller can point at it.
public struct FieldViolation: Hashable, Sendable {
    public var field: String
    public var description: String

    public init(field: String, description: String) {
        self.field = field
        self.description = description
    }
}
