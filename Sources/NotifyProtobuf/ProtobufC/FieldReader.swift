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
/// field by its path (`embed.url`) when one is wrong: a sub-message's reader
/// names fields from that message, and the parent prefixes the path as the
/// error passes through it, so a message read without error builds no names.
struct FieldReader {
    let allocations: UnpackAllocator

    /// An error naming `field` in the current message.
    func error(_ field: String, _ reason: String) -> MessageError {
        MessageError(message: "\(field) \(reason)")
    }

    /// An optional string field: nil when absent.
    ///
    /// - Throws: When the string holds a NUL byte or is not valid UTF-8.
    func string(_ pointer: UnsafeMutablePointer<CChar>?, _ field: String) throws(MessageError) -> String? {
        guard let pointer else { return nil }
        switch read(pointer) {
        case .success(let string): return string
        case .failure(let reason): throw error(field, reason.rawValue)
        }
    }

    private enum Unreadable: String, Error {
        case nul = "contains a NUL byte"
        case utf8 = "is not valid UTF-8"
    }

    private func read(_ pointer: UnsafeMutablePointer<CChar>) -> Result<String, Unreadable> {
        // protobuf-c allocates wire length + 1 for a string; a shorter strlen
        // means the bytes held a NUL.
        guard let size = allocations.size(of: pointer), strlen(pointer) + 1 == size else { return .failure(.nul) }
        guard let string = String(validatingCString: pointer) else { return .failure(.utf8) }
        return .success(string)
    }

    /// A repeated string field.
    func strings(
        _ count: Int, _ items: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ field: String
    ) throws(MessageError) -> [String] {
        guard let items, count > 0 else { return [] }
        var strings: [String] = []
        strings.reserveCapacity(count)
        for index in 0..<count {
            guard let item = items[index] else { throw error("\(field)[\(index)]", "is missing") }
            switch read(item) {
            case .success(let string): strings.append(string)
            case .failure(let reason): throw error("\(field)[\(index)]", reason.rawValue)
            }
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
        do {
            return try Value(reading: pointer.pointee, FieldReader(allocations: allocations))
        } catch {
            throw MessageError(message: "\(field).\(error.message)")
        }
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
            guard let item = items[index] else { throw error("\(field)[\(index)]", "is missing") }
            do {
                values.append(try Value(reading: item.pointee, FieldReader(allocations: allocations)))
            } catch {
                throw MessageError(message: "\(field)[\(index)].\(error.message)")
            }
        }
        return values
    }
}
