internal import CNotifyProto
internal import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Copies fields out of an unpacked message, checking them, and names a
/// field by its path (`embed.url`) when one is wrong.
struct FieldReader {
    let allocations: UnpackAllocator
    /// The path of the message being read, ending in "." unless empty.
    var path: String = ""

    /// An error naming `field` in the current message.
    func error(_ field: String, _ reason: String) -> MessageError {
        MessageError(message: "\(path)\(field) \(reason)")
    }

    /// An optional string field: nil when absent.
    ///
    /// - Throws: When the string holds a NUL byte or is not valid UTF-8.
    func string(_ pointer: UnsafeMutablePointer<CChar>?, _ field: String) throws(MessageError) -> String? {
        guard let pointer else { return nil }
        // protobuf-c allocates wire length + 1 for a string; a shorter strlen
        // means the bytes held a NUL.
        guard let size = allocations.size(of: pointer), strlen(pointer) + 1 == size else {
            throw error(field, "contains a NUL byte")
        }
        guard let string = String(validatingCString: pointer) else {
            throw error(field, "is not valid UTF-8")
        }
        return string
    }

    /// A repeated string field.
    func strings(
        _ count: Int, _ items: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ field: String
    ) throws(MessageError) -> [String] {
        guard let items, count > 0 else { return [] }
        var strings: [String] = []
        strings.reserveCapacity(count)
        for index in 0..<count {
            guard let string = try string(items[index], "\(field)[\(index)]") else {
                throw error("\(field)[\(index)]", "is missing")
            }
            strings.append(string)
        }
        return strings
    }

    /// An optional scalar field from its `has_` flag and value.
    func scalar<T>(_ has: protobuf_c_boolean, _ value: T) -> T? {
        has != 0 ? value : nil
    }

    /// A field the Swift type cannot do without.
    func required<T>(_ value: T?, _ field: String) throws(MessageError) -> T {
        guard let value else { throw error(field, "is missing") }
        return value
    }

    /// An optional sub-message: nil when absent.
    func message<Value: MessageCodec>(
        _ pointer: UnsafeMutablePointer<Value.CType>?, _ field: String, as type: Value.Type = Value.self
    ) throws(MessageError) -> Value? {
        guard let pointer else { return nil }
        return try Value(reading: pointer.pointee, FieldReader(allocations: allocations, path: "\(path)\(field)."))
    }

    /// A repeated message field.
    func messages<Value: MessageCodec>(
        _ count: Int, _ items: UnsafeMutablePointer<UnsafeMutablePointer<Value.CType>?>?, _ field: String,
        as type: Value.Type = Value.self
    ) throws(MessageError) -> [Value] {
        guard let items, count > 0 else { return [] }
        var values: [Value] = []
        values.reserveCapacity(count)
        for index in 0..<count {
            values.append(try required(message(items[index], "\(field)[\(index)]"), "\(field)[\(index)]"))
        }
        return values
    }
}
