import NIOCore
import Synchronization

/// Counts the open connections of each client address, so that one address
/// cannot take every place of the gateway's connection limit.
///
/// The listener accepts on one event loop but connections close on all of
/// them, so the counts sit in a `Mutex`: one short lock at each accept and
/// each close. Entries are removed when their count returns to zero: the
/// table holds only addresses with open connections.
final class AddressConnectionLimit: Sendable {
    private let limit: Int
    private let counts = Mutex<[Key: Int]>([:])

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Counts a new connection from `address`, unless that address is at the limit.
    ///
    /// - Returns: the key to give back to ``release(_:)`` when the connection
    ///   closes, or nil when the connection is over the limit (and not counted).
    func admit(_ address: SocketAddress?) -> Key? {
        let key = Key(address)
        let admitted = counts.withLock { counts in
            let open = counts[key, default: 0]
            guard open < limit else { return false }
            counts[key] = open + 1
            return true
        }
        return admitted ? key : nil
    }

    func release(_ key: Key) {
        counts.withLock { counts in
            guard let open = counts[key] else { return }
            counts[key] = open > 1 ? open - 1 : nil
        }
    }

    /// A client address as the limit counts it: an IPv4 address, or an IPv6
    /// address's /64 (one host's usual share; an IPv4-mapped address counts
    /// as its IPv4 address).
    struct Key: Hashable, Sendable {
        private let high: UInt64
        private let low: UInt64

        init(_ address: SocketAddress?) {
            // The socket address's own bytes (sockaddr_in: the address at
            // offset 4; sockaddr_in6: at offset 8), in network order.
            let bytes = address?.withSockAddr { pointer, size in Array(UnsafeRawBufferPointer(start: pointer, count: size)) } ?? []
            switch address {
            case .v4 where bytes.count >= 8:
                self.init(ipv4: bytes[4..<8].reduce(0) { $0 << 8 | UInt32($1) })
            case .v6 where bytes.count >= 24:
                let ip = bytes[8..<24]
                let start = ip.startIndex
                if ip.prefix(10).allSatisfy({ $0 == 0 }), ip[start + 10] == 0xFF, ip[start + 11] == 0xFF {
                    self.init(ipv4: ip.suffix(4).reduce(0) { $0 << 8 | UInt32($1) })
                } else {
                    self.init(high: ip.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }, low: 1)
                }
            case .v4, .v6, .unixDomainSocket, nil:
                self.init(high: 0, low: 2)
            }
        }

        private init(high: UInt64, low: UInt64) {
            self.high = high
            self.low = low
        }

        private init(ipv4: UInt32) {
            self.init(high: 0, low: 1 << 32 | UInt64(ipv4))
        }
    }
}

/// Refuses a connection past its address's limit: over plain HTTP, a 503
/// with `Retry-After: 1` written at once, before any request is read; over
/// HTTPS, a close with no handshake.
///
/// After the answer the connection stops sending and reads (and discards)
/// what the client sends, until it closes or `linger` has passed: a close
/// with unread bytes would be a reset, which can destroy the answer before
/// the client reads it. The linger is short because a refused connection
/// still holds a place of the connection limit while it lasts.
final class AddressRefusalHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let answers: Bool
    private var timer: Scheduled<Void>?
    static let linger = TimeAmount.milliseconds(250)

    static let answer = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + "Content-Length: 49\r\nConnection: close\r\n\r\ntoo many connections from this client's address\r\n"

    /// - Parameters:
    ///   - answers: whether to write the 503 (plain HTTP) rather than just close.
    init(answers: Bool) {
        self.answers = answers
    }

    func channelActive(context: ChannelHandlerContext) {
        guard answers else { return context.close(promise: nil) }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(ByteBuffer(string: Self.answer))).whenComplete { _ in
            loopBound.value.close(mode: .output, promise: nil)
        }
        timer = context.eventLoop.scheduleTask(in: Self.linger) {
            loopBound.value.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension AddressRefusalHandler: Sendable {}
