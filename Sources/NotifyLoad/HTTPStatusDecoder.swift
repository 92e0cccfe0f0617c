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
    static func head(in buffer: ByteBuffer) throws -> (HTTPResponseStatus, Int, Int)? {
        let bytes = buffer.readableBytesView
        guard let end = headEnd(bytes) else {
            if bytes.count > maximumHeadSize { throw UnreadableResponse(description: "a response head over 64 KiB") }
            return nil
        }
        let head = bytes[bytes.startIndex..<end]
        let lines = head.split(separator: UInt8(ascii: "\n")).map { $0.last == UInt8(ascii: "\r") ? $0.dropLast() : $0 }
        guard let statusLine = lines.first, statusLine.starts(with: "HTTP/1.".utf8), statusLine.count >= 12,
            let code = Int(String(decoding: statusLine.dropFirst(9).prefix(3), as: UTF8.self))
        else {
            throw UnreadableResponse(description: "not an HTTP/1.x status line")
        }
        var contentLength: Int?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = line[line.startIndex..<colon]
            let value = line[(colon + 1)...].drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            if ASCII.equalsIgnoringCase(name, "content-length".utf8) {
                contentLength = Int(String(decoding: value, as: UTF8.self).filter { $0 != " " && $0 != "\t" })
            } else if ASCII.equalsIgnoringCase(name, "transfer-encoding".utf8) {
                throw UnreadableResponse(description: "a \(String(decoding: value, as: UTF8.self)) response body")
            }
        }
        let headLength = end - bytes.startIndex + 4
        if (100..<200).contains(code) || code == 204 || code == 304 {
            return (HTTPResponseStatus(statusCode: code), headLength, 0)
        }
        guard let contentLength, contentLength >= 0 else {
            throw UnreadableResponse(description: "a response with a body but no Content-Length")
        }
        return (HTTPResponseStatus(statusCode: code), headLength, contentLength)
    }

    /// Where the blank line that ends the head starts.
    private static func headEnd(_ bytes: ByteBufferView) -> ByteBufferView.Index? {
        var index = bytes.startIndex
        while let newline = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) {
            let next = bytes.index(after: newline)
            if next + 1 < bytes.endIndex, bytes[next] == UInt8(ascii: "\r"), bytes[next + 1] == UInt8(ascii: "\n"), newline > bytes.startIndex,
                bytes[newline - 1] == UInt8(ascii: "\r")
            {
                return newline - 1
            }
            index = next
        }
        return nil
    }
}
