import NIOCore
import NIOHTTP1

/// Watches a connection's bytes before the HTTP parser: tells the
/// connection handler when request bytes arrive (the head timeout's clock
/// starts at a head's first byte), and refuses at once a first request line
/// that carries no HTTP version.
///
/// llhttp reads `GET /\r\n` as an HTTP/0.9 request and waits for one more
/// byte before it says so; a client that sends nothing more would only be
/// cut by a timeout. The first line of a connection is checked here instead:
/// without ` HTTP/x.y` at its end it is a parser error (400, then close), as
/// any malformed request. A later request's line cannot be told apart from a
/// body at this level; llhttp reports it as version 0.9 once more bytes come,
/// which ``GatewayConnectionStateMachine`` refuses, or the head timeout cuts it.
final class RequestHeadWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// What is known of the connection's first request line.
    private enum FirstLine {
        /// Being read: its last bytes so far, enough to hold ` HTTP/1.1`.
        case reading(tail: [UInt8], length: Int)
        case checked
        /// It had no version: nothing more is passed on.
        case refused
    }

    private var firstLine = FirstLine.reading(tail: [], length: 0)
    /// Past this many bytes without a line end, the parser's own limits decide.
    private static let scanLimit = 16 * 1024
    private static let version = Array(" HTTP/".utf8)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(RequestBytesArrived())
        if case .checked = firstLine { return context.fireChannelRead(data) }
        let bytes = unwrapInboundIn(data)
        if case .refused = firstLine { return }
        if check(bytes) {
            context.fireChannelRead(data)
        } else {
            context.fireErrorCaught(HTTPParserError.invalidVersion)
        }
    }

    /// Reads `bytes` into the first line; false when the line turns out to have no version.
    private func check(_ bytes: ByteBuffer) -> Bool {
        guard case .reading(var tail, var length) = firstLine else { return true }
        for byte in bytes.readableBytesView {
            switch byte {
            case UInt8(ascii: "\n"):
                // Empty lines before the request line are allowed (RFC 9112 §2.2).
                if length == 0 { continue }
                if tail.last == UInt8(ascii: "\r") { tail.removeLast() }
                let valid = Self.endsWithVersion(tail)
                firstLine = valid ? .checked : .refused
                return valid
            case UInt8(ascii: "\r") where length == 0:
                continue
            default:
                length += 1
                tail.append(byte)
                if tail.count > 10 { tail.removeFirst() }
            }
        }
        firstLine = length > Self.scanLimit ? .checked : .reading(tail: tail, length: length)
        return true
    }

    /// Whether `tail` (a line's last bytes, without CR LF) ends with ` HTTP/` and a digit, a dot and a digit.
    private static func endsWithVersion(_ tail: [UInt8]) -> Bool {
        guard tail.count >= 9 else { return false }
        let end = tail.suffix(9)
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        return end.prefix(6).elementsEqual(version) && isDigit(end[end.startIndex + 6])
            && end[end.startIndex + 7] == UInt8(ascii: ".") && isDigit(end[end.startIndex + 8])
    }
}

/// Sent up the pipeline each time request bytes arrive, before the parser sees them.
struct RequestBytesArrived {}

@available(*, unavailable)
extension RequestHeadWatcher: Sendable {}
