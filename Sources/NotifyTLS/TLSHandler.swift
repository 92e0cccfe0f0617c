public import NIOCore

/// Events a ``TLSHandler`` sends down the pipeline with `fireUserInboundEventTriggered`.
public enum TLSEvent: Sendable, Equatable {
    /// The handshake finished; application data flows from now on.
    case handshakeCompleted(negotiatedProtocol: String?)
}

/// Terminates TLS in a channel pipeline: ciphertext `ByteBuffer`s on the network side,
/// plaintext `ByteBuffer`s on the application side.
///
/// Writes before the handshake completes are buffered and sent right after it. A `flush`
/// encrypts every buffered write and hands all resulting records to the channel as one buffer,
/// so one flush is one socket write. Bytes OpenSSL produces while reading are sent at
/// `channelReadComplete`. Failures are fired as ``TLSError`` through `errorCaught`, after which
/// the channel is closed. `close` sends close_notify and closes the transport when the peer
/// answers or `closeTimeout` passes.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// At most this many `SSL_read` calls per `channelRead` (each decrypts up to one 16 KiB
    /// record, so this covers 64 MiB); it keeps a malicious peer from pinning the event loop.
    private static let maximumReadsPerRead = 4096

    private let tlsContext: TLSContext
    private let handshakeTimeout: TimeAmount
    private let closeTimeout: TimeAmount
    private var stateMachine: TLSHandlerStateMachine
    /// Created when the handshake starts, so an unused handler allocates no `SSL`.
    private var connection: TLSConnection?
    /// Plaintext not yet encrypted: everything before the handshake, then until the next flush.
    private var pendingWrites = CircularBuffer<(ByteBuffer, EventLoopPromise<Void>?)>(initialCapacity: 4)
    /// Ciphertext produced during reads that waits for `channelReadComplete`.
    private var needsFlushAtReadComplete = false
    private var handshakeTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?

    /// Creates a handler for one connection.
    ///
    /// - Parameters:
    ///   - context: The shared TLS context; its role decides whether this side accepts or connects.
    ///   - handshakeTimeout: The handshake must complete within this time after the channel is active.
    ///   - closeTimeout: How long to wait for the peer's close_notify after sending ours.
    public init(context: TLSContext, handshakeTimeout: TimeAmount = .seconds(10), closeTimeout: TimeAmount = .seconds(5)) {
        self.tlsContext = context
        self.handshakeTimeout = handshakeTimeout
        self.closeTimeout = closeTimeout
        self.stateMachine = TLSHandlerStateMachine(
            requiresApplicationProtocol: !context.configuration.applicationProtocols.isEmpty
        )
    }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            startHandshakeIfNeeded(context: context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        failPendingWrites(TLSError(code: .closed, message: "the TLS handler was removed"))
    }

    public func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        startHandshakeIfNeeded(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        let action = stateMachine.channelInactive()
        failPendingWrites(TLSError(code: .closed, message: "the connection closed before the write was sent"))
        if let error = action.error {
            context.fireErrorCaught(error)
        }
        action.closePromise?.succeed()
        context.fireChannelInactive()
    }

    private func startHandshakeIfNeeded(context: ChannelHandlerContext) {
        switch stateMachine.channelActive() {
        case .none:
            return
        case .startHandshake:
            break
        }
        do {
            connection = try TLSConnection(context: tlsContext)
        } catch {
            _ = stateMachine.handshakeStepped(.failed(error), negotiatedProtocol: { nil })
            failAndClose(context: context, error: error, closePromise: nil)
            return
        }
        let timeout = handshakeTimeout
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            handshakeTimer = nil
            if case .fail(let error) = stateMachine.handshakeTimedOut(after: timeout) {
                failAndClose(context: context, error: error, closePromise: nil)
            }
        }
        stepHandshake(context: context)
        // A client's ClientHello goes out now; nothing else will trigger a flush.
        writeCiphertext(context: context, promise: nil, flush: true)
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let connection else { return }
        switch stateMachine.channelRead() {
        case .discard:
            return
        case .handshake:
            connection.consumeDataFromNetwork(buffer)
            stepHandshake(context: context)
            // Application data may have arrived with the peer's last handshake flight; a read
            // that finds none costs one SSL_read returning WANT_READ.
            if stateMachine.isActive {
                readApplicationData(context: context, connection: connection)
            }
        case .readApplicationData:
            connection.consumeDataFromNetwork(buffer)
            readApplicationData(context: context, connection: connection)
        }
        if connection.hasOutboundCiphertext {
            needsFlushAtReadComplete = true
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlushAtReadComplete {
            needsFlushAtReadComplete = false
            writeCiphertext(context: context, promise: nil, flush: true)
        }
        context.fireChannelReadComplete()
    }

    private func stepHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        let result = connection.doHandshake()
        switch stateMachine.handshakeStepped(result, negotiatedProtocol: { connection.negotiatedProtocol }) {
        case .proceed:
            if connection.hasOutboundCiphertext {
                needsFlushAtReadComplete = true
            }
        case .completed(let negotiatedProtocol):
            handshakeTimer?.cancel()
            handshakeTimer = nil
            context.fireUserInboundEventTriggered(TLSEvent.handshakeCompleted(negotiatedProtocol: negotiatedProtocol))
            // The handler may have been closed from the event; only send if still active.
            if stateMachine.isActive {
                encryptPendingWritesAndFlush(context: context)
            }
        case .fail(let error):
            failAndClose(context: context, error: error, closePromise: nil)
        }
    }

    private func readApplicationData(context: ChannelHandlerContext, connection: TLSConnection) {
        // Plaintext is never longer than the ciphertext it came from, so this usually fits
        // everything that is complete in one allocation.
        var plaintext = context.channel.allocator.buffer(capacity: max(connection.pendingInboundBytes, 256))
        var outcome = TLSReadResult.wantRead
        reading: for _ in 0..<Self.maximumReadsPerRead {
            outcome = connection.readApplicationData(into: &plaintext, minimumWritableBytes: 256)
            switch outcome {
            case .read:
                continue
            case .wantRead, .closeNotify, .failed:
                break reading
            }
        }
        connection.releaseInboundBufferIfLarge()
        if plaintext.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(plaintext))
        }
        switch outcome {
        case .read, .wantRead:
            return
        case .closeNotify:
            switch stateMachine.receivedCloseNotify() {
            case .replyAndClose:
                cancelTimers()
                _ = connection.doShutdown()
                writeCiphertext(context: context, promise: nil, flush: true)
                context.close(promise: nil)
            case .closeTransport(let promise):
                cancelTimers()
                context.close(promise: promise)
            case .none:
                return
            }
        case .failed(let error):
            if case .fireErrorAndClose(let error, let promise) = stateMachine.failed(error) {
                failAndClose(context: context, error: error, closePromise: promise)
            }
        }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch stateMachine.write() {
        case .buffer:
            pendingWrites.append((unwrapOutboundIn(data), promise))
        case .fail(let error):
            promise?.fail(error)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch stateMachine.flush() {
        case .encryptAndFlush:
            encryptPendingWritesAndFlush(context: context)
        case .none:
            return
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .input {
            context.close(mode: .input, promise: promise)
            return
        }
        switch stateMachine.close(promise: promise) {
        case .sendCloseNotify:
            guard let connection else {
                // Unreachable: `active` implies a connection. Close rather than leak the promise.
                context.close(promise: promise)
                return
            }
            // Whatever the application wrote before closing goes out before close_notify.
            var promise = encryptPendingWrites(context: context)
            let result = connection.doShutdown()
            writeCiphertext(context: context, promise: promise.take(), flush: true)
            switch result {
            case .complete:
                if case .closeTransport(let closePromise) = stateMachine.shutdownCompleted() {
                    context.close(promise: closePromise)
                }
            case .incomplete:
                let timeout = closeTimeout
                closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
                    closeTimer = nil
                    if case .closeTransport(let closePromise) = stateMachine.closeTimedOut() {
                        context.close(promise: closePromise)
                    }
                }
            case .failed(let error):
                if case .fireErrorAndClose(let error, let closePromise) = stateMachine.failed(error) {
                    failAndClose(context: context, error: error, closePromise: closePromise)
                }
            }
        case .closeTransport(let promise):
            cancelTimers()
            failPendingWrites(TLSError(code: .closed, message: "the connection closed before the write was sent"))
            context.close(mode: mode, promise: promise)
        case .chain(let promise, let existing):
            existing.futureResult.cascade(to: promise)
        case .none:
            return
        }
    }

    /// Encrypts every buffered write and sends all ciphertext with one write and one flush.
    private func encryptPendingWritesAndFlush(context: ChannelHandlerContext) {
        let promise = encryptPendingWrites(context: context)
        guard stateMachine.isActive || promise != nil || connection?.hasOutboundCiphertext == true else { return }
        writeCiphertext(context: context, promise: promise, flush: true)
    }

    /// `SSL_write`s the buffered plaintext into the write BIO.
    ///
    /// - Returns: One promise standing for all encrypted writes' promises (the others are
    ///   completed from it), to attach to the ciphertext write.
    private func encryptPendingWrites(context: ChannelHandlerContext) -> EventLoopPromise<Void>? {
        guard let connection else { return nil }
        var combined: EventLoopPromise<Void>? = nil
        while let (buffer, promise) = pendingWrites.first {
            switch connection.writeApplicationData(buffer) {
            case .complete:
                pendingWrites.removeFirst()
                if let promise {
                    if let combined {
                        combined.futureResult.cascade(to: promise)
                    } else {
                        combined = promise
                    }
                }
            case .incomplete:
                // OpenSSL needs to read first (post-handshake message); retry on the next flush.
                return combined
            case .failed(let error):
                pendingWrites.removeFirst()
                promise?.fail(error)
                combined?.fail(error)
                if case .fireErrorAndClose(let error, let closePromise) = stateMachine.failed(error) {
                    failAndClose(context: context, error: error, closePromise: closePromise)
                }
                return nil
            }
        }
        return combined
    }

    /// Drains the write BIO into one buffer and writes it.
    private func writeCiphertext(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?, flush: Bool) {
        guard let connection, let ciphertext = connection.outboundCiphertext(allocator: context.channel.allocator) else {
            promise?.succeed()
            if flush { context.flush() }
            return
        }
        context.write(wrapOutboundOut(ciphertext), promise: promise)
        if flush { context.flush() }
    }

    // MARK: Failure

    /// Sends any alert OpenSSL queued, fires `error` and closes the transport.
    private func failAndClose(context: ChannelHandlerContext, error: TLSError, closePromise: EventLoopPromise<Void>?) {
        cancelTimers()
        needsFlushAtReadComplete = false
        writeCiphertext(context: context, promise: nil, flush: true)
        failPendingWrites(error)
        context.fireErrorCaught(error)
        context.close(promise: closePromise)
    }

    private func failPendingWrites(_ error: TLSError) {
        while let (_, promise) = pendingWrites.popFirst() {
            promise?.fail(error)
        }
    }

    private func cancelTimers() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        closeTimer?.cancel()
        closeTimer = nil
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
