/// A parsed JSON document that keeps the distinctions the contracts care
/// about: integer or not, string or not, null or missing.
///
/// A number with no fractional part (3 or 3.0) is an integer, as JSON Schema
/// counts it; 3.5 is not.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The JSON type's name, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Serializes to compact JSON text with sorted keys.
    public var text: String {
        var writer = JSONWriter(capacity: 256)
        write(to: &writer)
        return writer.text
    }

    /// Appends the compact JSON text as UTF-8, keys sorted.
    public func write(to out: inout [UInt8]) {
        var writer = JSONWriter(appendingTo: out)
        out = []
        write(to: &writer)
        out = writer.bytes
    }

    /// Writes the value through `writer`, object keys sorted (the order every
    /// documented answer and the store's encoding use).
    public func write(to writer: inout JSONWriter) {
        switch self {
        case .null: writer.null()
        case .bool(let value): writer.bool(value)
        case .integer(let value): writer.integer(value)
        case .number(let value): writer.number(value)
        case .string(let value): writer.string(value)
        case .array(let values):
            writer.beginArray()
            for value in values { value.write(to: &writer) }
            writer.endArray()
        case .object(let members):
            writer.beginObject()
            for key in members.keys.sorted() {
                writer.key(key)
                (members[key] ?? .null).write(to: &writer)
            }
            writer.endObject()
        }
    }
}
