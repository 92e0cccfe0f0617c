import CompressNIO
import Foundation
import NIOCore
import NotifyDomain
import NotifyJSON

/// Reads a request body within the gateway's bounds, undoes its
/// Content-Encoding, and parses the two media types the contracts accept.
enum BodyReading {
    /// The body's Content-Encoding, once checked.
    enum Encoding: Sendable, Equatable {
        case identity, gzip, deflate
    }

    /// gzip and deflate (either zlib-wrapped, as HTTP defines it, or raw, as
    /// some clients send it); "identity" is no encoding.
    static func encoding(of headers: RequestHeaders) throws(Failure) -> Encoding {
        guard let value = headers.contentEncoding else { return .identity }
        let tokens = value.split(separator: ",").map { trimmingOWS($0).lowercased() }
            .filter { $0 != "identity" && !$0.isEmpty }
        switch tokens {
        case []: return .identity
        case ["gzip"], ["x-gzip"]: return .gzip
        case ["deflate"]: return .deflate
        default: throw .unsupportedContentEncoding(value)
        }
    }

    /// The media type of Content-Type without its parameters, lower-cased; nil without the header.
    static func mediaType(of headers: RequestHeaders) -> String? {
        guard let value = headers.contentType else { return nil }
        if value == "application/json" { return value }  // What nearly every request sends.
        return value.split(separator: ";", maxSplits: 1).first.map { trimmingOWS($0).lowercased() } ?? ""
    }

    /// `text` without HTTP's optional white space (spaces and tabs) around it.
    ///
    /// In pure Swift: Foundation's `trimmingCharacters` bridges through
    /// NSString, and this runs on every request (2 % of the gateway's CPU).
    static func trimmingOWS(_ text: Substring) -> Substring {
        let isOWS: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isOWS($0) }), let last = text.lastIndex(where: { !isOWS($0) }) else {
            return ""
        }
        return text[first...last]
    }

    /// Undoes the Content-Encoding, refusing more than `limit` decoded bytes.
    ///
    /// Memory stays bounded by the limit whatever the compression ratio: the
    /// inflater writes into one buffer that never grows past it, so a
    /// decompression bomb costs at most `limit` bytes and is answered 413.
    /// The body must be exactly one whole stream: one that stops before its
    /// end (a gzip body without its trailer, cut short) or has bytes after
    /// it (a second gzip member) is undecodable, 400, rather than taken for
    /// what could be read of it.
    static func decode(_ body: ByteBuffer, encoding: Encoding, limit: Int) throws(Failure) -> ByteBuffer {
        let algorithm: ZlibAlgorithm
        switch encoding {
        case .identity:
            return body
        case .gzip:
            algorithm = .gzip
        case .deflate:
            algorithm = isZlibWrapped(body) ? .zlib : .deflate
        }
        let name = encoding == .gzip ? "gzip" : "deflate"
        do throws(InflateError) {
            return try inflateWhole(body, algorithm: algorithm, limit: limit)
        } catch {
            switch error {
            case .tooLarge: throw .decompressedTooLarge(limit: limit)
            case .undecodable: throw .undecodableContent(encoding: name)
            }
        }
    }

    private enum InflateError: Error {
        case tooLarge, undecodable
    }

    /// Inflates `body`, which must hold one complete stream and nothing after it.
    private static func inflateWhole(_ body: ByteBuffer, algorithm: ZlibAlgorithm, limit: Int) throws(InflateError) -> ByteBuffer {
        // An empty body is no stream; and the inflater is never handed an empty buffer.
        guard body.readableBytes > 0 else { throw .undecodable }
        let decompressor: ZlibDecompressor
        do { decompressor = try ZlibDecompressor(algorithm: algorithm) } catch { throw .undecodable }
        var input = body
        // One byte of slack: the inflater refuses to fill its output exactly,
        // and a body of exactly `limit` bytes is allowed.
        let ceiling = limit + 1
        var output = ByteBufferAllocator().buffer(capacity: min(ceiling, max(1024, body.readableBytes * 4)))
        while true {
            do {
                // Returns at the stream's end, or with room left once every input byte is taken.
                try decompressor.inflate(from: &input, to: &output)
                break
            } catch let error as CompressNIOError where error == .bufferOverflow {
                guard output.capacity < ceiling else { throw .tooLarge }
                output.reserveCapacity(min(ceiling, output.capacity * 2))
            } catch {
                // Corrupt data, or the input ended in the middle (inputBufferOverflow).
                throw .undecodable
            }
        }
        // The buffer's capacity may round up past the ceiling: the bytes decide.
        guard output.readableBytes <= limit else { throw .tooLarge }
        guard input.readableBytes == 0 else { throw .undecodable }  // Bytes after the stream's end.
        // Every byte was taken; whether the stream reached its end (a gzip
        // trailer checked) is what inflating one byte more tells: after the
        // end zlib takes nothing and says so again; before it, it takes the byte.
        var probe = ByteBuffer(integer: UInt8(0))
        output.reserveCapacity(minimumWritableBytes: 1)
        do { try decompressor.inflate(from: &probe, to: &output) } catch { throw .undecodable }
        guard probe.readableBytes == 1 else { throw .undecodable }
        return output
    }

    /// RFC 1950's two-byte header: method 8 (deflate) and a check sum over both bytes.
    private static func isZlibWrapped(_ body: ByteBuffer) -> Bool {
        guard let bytes = body.getBytes(at: body.readerIndex, length: 2) else { return false }
        return bytes[0] & 0x0F == 8 && (UInt16(bytes[0]) << 8 | UInt16(bytes[1])) % 31 == 0
    }

    /// Whether the first non-blank byte opens a JSON object or array: the
    /// documented examples send JSON under the form media type.
    static func looksLikeJSON(_ body: ByteBuffer) -> Bool {
        for byte in body.readableBytesView where !(byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D) {
            return byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[")
        }
        return false
    }

    /// Parses an application/x-www-form-urlencoded body into an object the
    /// contract readers understand; nil when it is not valid form encoding.
    ///
    /// Every value arrives as text, so the keys whose contract type is not a
    /// string are converted: `user` to an integer when it is one (otherwise
    /// left as text, which the reader reports as a type error) and `embed` to
    /// the object its JSON text holds. The first occurrence of a key wins.
    static func formObject(_ body: ByteBuffer) -> [String: JSONValue]? {
        guard let text = body.getString(at: body.readerIndex, length: body.readableBytes) else { return nil }
        var object: [String: JSONValue] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = formDecode(parts[0]), let value = formDecode(parts.count > 1 ? parts[1] : "") else { return nil }
            guard object[key] == nil else { continue }
            switch key {
            case "user":
                object[key] = Int64(value).map(JSONValue.integer) ?? .string(value)
            case "embed":
                object[key] = JSONValue.parse(text: value) ?? .string(value)
            default:
                object[key] = .string(value)
            }
        }
        return object
    }

    private static func formDecode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
