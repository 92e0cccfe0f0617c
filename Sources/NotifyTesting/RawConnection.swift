public import NIOCore
import NIOPosix
import NotifyCore
import NotifyTLS
public import NotifyWire

/// A connection that speaks frames directly, for tests that must send what
/// ``NotifyClient`` never would: pipelined bursts with chosen call ids,
/// garbage, oversized prefixes, early disconnects. One task uses it at a time.
public final class RawConnection {
    public let channel: any Channel
    private var frames: AsyncThrowingStream<Frame, any Error>.AsyncIterator

    private init(channel: any Channel, frames: AsyncThrowingStream<Frame, any Error>) {
        self.channel = channel
        self.frames = frames.makeAsyncIterator()
    }

    /// Connects over TLS with ALPN notify/1 (or `alpn`), trusting `caFile`.
    ///
    /// - Parameter receiveBufferSize: the socket's SO_RCVBUF, set before it
    ///   connects: a small one makes a client that stops reading fill up soon.
    public static func connect(
        port: Int, caFile: String, alpn: [String] = ["notify/1"],
        certificate: (certificate: String, key: String)? = nil, receiveBufferSize: Int? = nil
    ) async throws -> RawConnection {
        let tls = try TLSContext(configuration: .client(
            trustRootsFile: caFile, serverName: "localhost", applicationProtocols: alpn,
            certificateChainFile: certificate?.certificate, privateKeyFile: certificate?.key
        ))
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Frame.self)
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let receiveBufferSize {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBufferSize))
        }
        let channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        TLSHandler(context: tls),
                        ByteToMessageHandler(FrameDecoder(maximumMessageSize: 64 * 1024 * 1024)),
                        FrameCollector(continuation: continuation),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return RawConnection(channel: channel, frames: stream)
    }

    /// Writes bytes as they are (already framed, or garbage) and flushes.
    public func writeRaw(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    /// Encodes frames into one buffer and writes them at once.
    public func write(_ frames: [Frame]) async throws {
        var buffer = channel.allocator.buffer(capacity: 256 * frames.count)
        for frame in frames { try frame.encode(into: &buffer) }
        try await writeRaw(buffer)
    }

    /// Stops reading from the socket (after the read in progress, if any):
    /// a client that does not read its answers.
    public func stopReading() async throws {
        try await channel.setOption(.autoRead, value: false).get()
    }

    /// Reads from the socket again.
    public func startReading() async throws {
        try await channel.setOption(.autoRead, value: true).get()
        channel.read()
    }

    /// The next frame, or nil when the server closed the connection.
    public func next() async throws -> Frame? {
        try await frames.next()
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Hands every decoded frame to an async stream; ends it when the connection closes.
private final class FrameCollector: ChannelInboundHandler {
    typealias InboundIn = Frame

    private let continuation: AsyncThrowingStream<Frame, any Error>.Continuation

    init(continuation: AsyncThrowingStream<Frame, any Error>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }
}
