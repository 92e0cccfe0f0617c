import NIOCore
import NIOHTTP1
import NotifyDomain

/// Reads HTTP/1.1 responses just far enough to count them: the status of
/// each, its body skipped by Content-Length.
///
/// A load generator only needs the status; parsing every header into a
/// header collection (and pairing each answer with an encoded request head,
/// as NIO's full decoder does) was a large part of its cost per call. It
/// reads what the gateway sends: a Content-Length on every answer with a
/// body. A chunked or unframed answer, or a head over 64 KiB, is an error
/// that closes the connection and fails its calls.
struct HTTPStatusDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPResponseStatus

    struct UnreadableResponse: Error, CustomStringConvertible {
        var description: String
    }

    static let maximumHeadSize = 64 * 1024

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let (status, headLength, bodyLength) = try Self.head(in: buffer) else { return .needMoreData }
        guard buffer.readableBytes >= headLength + bodyLength else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: headLength + bodyLength)
        // 1xx answers precede the real one.
        if status.code >= 200 { context.fireChannelRead(wrapInboundOut(status)) }
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    /// The status, the head's length and the body's, once the whole head is in `buffer`.
    ///
    /// One pass over the bytes, with no line array or string per header:
    /// splitting the head into lines was the generator's largest own cost
    /// per gateway call.
    static func head(in buffer: ByteBuffer) throws -> (HTTPResponseStatus, Int, Int)? {
        try buffer.withUnsafeReadableBytes { bytes in
            guard let end = headEnd(bytes) else {
                if bytes.count > maximumHeadSize { throw UnreadableResponse(description: "a response head over 64 KiB") }
                return nil
            }
            // "HTTP/1.x NNN": the code is three digits at offset 9.
            guard end >= 12, bytes.starts(with: "HTTP/1.".utf8), bytes[8] == UInt8(ascii: " "),
                let code = digits(bytes[9..<12])
            else {
                throw UnreadableResponse(description: "not an HTTP/1.x status line")
            }
            var contentLength: Int?
            var line = lineEnd(bytes, from: 0, to: end) + 2
            while line < end {
                let next = lineEnd(bytes, from: line, to: end)
                if let colon = bytes[line..<next].firstIndex(of: UInt8(ascii: ":")) {
                    let name = UnsafeRawBufferPointer(rebasing: bytes[line..<colon])
                    let value = trimmed(bytes[(colon + 1)..<next])
                    if ASCII.equalsIgnoringCase(name, "content-length".utf8) {
                        contentLength = digits(value)
                    } else if ASCII.equalsIgnoringCase(name, "transfer-encoding".utf8) {
                        throw UnreadableResponse(description: "a \(String(decoding: value, as: UTF8.self)) response body")
                    }
                }
                line = next + 2
            }
            let headLength = end + 4
            if (100..<200).contains(code) || code == 204 || code == 304 {
                return (HTTPResponseStatus(statusCode: code), headLength, 0)
            }
            guard let contentLength else {
                throw UnreadableResponse(description: "a response with a body but no Content-Length")
            }
            return (HTTPResponseStatus(statusCode: code), headLength, contentLength)
        }
    }

    /// `value` without the spaces and tabs around it.
    private static func trimmed(_ value: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        var (start, end) = (value.startIndex, value.endIndex)
        while start < end, value[start] == UInt8(ascii: " ") || value[start] == UInt8(ascii: "\t") { start += 1 }
        while end > start, value[end - 1] == UInt8(ascii: " ") || value[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        return value[start..<end]
    }

    /// The decimal number `bytes` spell, if they are one to eighteen digits and nothing else.
    private static func digits(_ bytes: some Collection<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// Where the line starting at `start` ends: its CR LF, or `limit`.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from start: Int, to limit: Int) -> Int {
        var index = start
        while index < limit, !(bytes[index] == UInt8(ascii: "\r") && bytes[index + 1] == UInt8(ascii: "\n")) { index += 1 }
        return index
    }

    /// Where the CR LF CR LF that ends the head starts.
    private static func headEnd(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 4 else { return nil }
        var index = 0
        while let newline = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) {
            if newline >= 1, newline + 2 < bytes.count, bytes[newline - 1] == UInt8(ascii: "\r"),
                bytes[newline + 1] == UInt8(ascii: "\r"), bytes[newline + 2] == UInt8(ascii: "\n")
            {
                return newline - 1
            }
            index = newline + 1
        }
        return nil
    }
}
