public import Logging
public import NIOCore
public import NIOPosix
public import NotifyCore
import NotifyMessages
public import NotifyProtobuf
import NotifyTLS
public import NotifyWire
import Synchronization

/// A client of the notify RPC protocol.
///
/// One TLS connection carries many calls in flight. The connection is made
/// on the first call and made again after it closes; a failed connect is
/// retried with exponential backoff, and calls made while backing off fail
/// at once with UNAVAILABLE instead of hanging. Every failure is an
/// ``RPCError`` carrying the status.
public final class NotifyClient: Sendable {
    private struct Connection: Sendable {
        var channel: any Channel
        var handler: NIOLoopBound<ClientConnectionHandler>
    }

    private enum State {
        case idle(failures: Int)
        case connecting(EventLoopFuture<Connection>)
        case ready(Connection)
        case backingOff(until: ContinuousClock.Instant, failures: Int, lastError: RPCError)
        case closed
    }

    private let configuration: ClientConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let tlsContext: Result<TLSContext, TLSError>
    private let state = Mutex<State>(.idle(failures: 0))
    /// Set for a client of an endpoint in this process: calls go straight to
    /// it, with no connection.
    private let local: (any InProcessEndpoint)?

    /// - Parameters:
    ///   - logger: where connection events go; the client creates none itself.
    public init(
        configuration: ClientConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "notify.client", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.local = nil
        do throws(TLSError) {
            self.tlsContext = .success(try TLSContext(configuration: configuration.tls))
        } catch {
            self.tlsContext = .failure(error)
        }
    }

    /// A client of an endpoint in the same process (the RPC server, for the
    /// gateway that `notifyd serve` embeds): the same calls and errors, with no
    /// connection, no TLS and no frames.
    ///
    /// - Parameter defaultTimeout: the deadline handed to calls that name none.
    public init(local endpoint: any InProcessEndpoint, defaultTimeout: Duration? = .seconds(30)) {
        var configuration = ClientConfiguration(host: "in-process", port: 0, trustRootsFile: "")
        configuration.defaultTimeout = defaultTimeout
        self.configuration = configuration
        self.group = MultiThreadedEventLoopGroup.singleton
        self.logger = Logger(label: "notify.client", factory: { _ in SwiftLogNoOpLogHandler() })
        self.tlsContext = .failure(TLSError(code: .configuration, message: "an in-process client has no TLS"))
        self.local = endpoint
    }

    /// Calls `method` with a message and returns its answer.
    ///
    /// Over a connection the request is encoded and the answer decoded; to
    /// an in-process endpoint both go over as they are.
    ///
    /// - Parameters:
    ///   - timeout: the call's deadline from now; nil uses the configuration's default.
    /// - Throws: ``RPCError`` with the server's status, or UNAVAILABLE,
    ///   DEADLINE_EXCEEDED, CANCELLED, INTERNAL (undecodable answer) and
    ///   INVALID_ARGUMENT (`UNDECODABLE_REQUEST`: a string field holds a NUL
    ///   byte, which the encoding cannot carry; nothing is sent) from the client.
    public func call<Request: WireMessage, Response: WireMessage>(
        _ method: MethodDescriptor<Request, Response>, _ request: Request, metadata: Metadata = Metadata(),
        timeout: Duration? = nil
    ) async throws(RPCError) -> Response {
        guard local != nil else {
            return try await call(method.name, request, metadata: metadata, timeout: timeout, as: Response.self)
        }
        let eventLoop = group.any()
        let result = await withCheckedContinuation { continuation in
            start(method, request, metadata: metadata, timeout: timeout, on: eventLoop) { result in
                continuation.resume(returning: result)
            }
        }
        return try result.get()
    }

    /// Calls the method named `method` with a message and decodes the
    /// answer; see ``call(_:_:metadata:timeout:)``. In-process it is the
    /// typed call of a unary descriptor of that name and these types (the
    /// server refuses it as unknown when its method has other types).
    public func call<Request: WireMessage, Response: WireMessage>(
        _ method: String, _ request: Request, metadata: Metadata = Metadata(), timeout: Duration? = nil,
        as: Response.Type = Response.self
    ) async throws(RPCError) -> Response {
        guard local == nil else {
            return try await call(MethodDescriptor<Request, Response>.unary(method), request, metadata: metadata, timeout: timeout)
        }
        return try Self.decode(try await callRaw(method, payload: try Self.encode(request), metadata: metadata, timeout: timeout))
    }

    /// The request's bytes for a connection, refusing a string that
    /// protobuf-c would cut at a NUL byte: the server must store what the
    /// caller meant or nothing. The error is the one the server gives for
    /// such a string from a client that sends it whole.
    @usableFromInline
    static func encode<Request: WireMessage>(_ request: Request) throws(RPCError) -> ByteBuffer {
        do throws(MessageError) {
            return try request.exactlySerializedBuffer()
        } catch {
            throw RPCError(code: .invalidArgument, message: error.message, reason: .undecodableRequest)
        }
    }

    /// Calls `method` with raw payload bytes; returns the raw response payload.
    ///
    /// Over a connection only: an in-process endpoint takes typed messages,
    /// and refuses raw ones (UNIMPLEMENTED `UNKNOWN_METHOD`).
    public func callRaw(
        _ method: String, payload: ByteBuffer, metadata: Metadata = Metadata(), timeout: Duration? = nil
    ) async throws(RPCError) -> ByteBuffer {
        try Self.payload(of: try await exchange(method, payload: payload, metadata: metadata, timeout: timeout))
    }

    /// Starts a call and returns at once; `completion` gets the answer or
    /// the ``RPCError`` that ``call(_:_:metadata:timeout:)`` would throw.
    ///
    /// For callers on an event loop (the REST gateway), which must not wait:
    /// no task is made for the call when the connection is up, or when the
    /// endpoint is in-process and can answer without one. In-process, the
    /// request goes over as it is and the response comes back the same way:
    /// typed end to end. Inlinable so that callers get it specialized for
    /// their message types: unspecialized, each call looked up the generic
    /// metadata of its result and closures at run time (3 % of the gateway's CPU).
    ///
    /// - Parameters:
    ///   - memo: for an in-process endpoint, the caller's own ``CallerMemo``
    ///     (the gateway keeps one per HTTP connection); a connection to a
    ///     server has its memo there, so it is not sent.
    ///   - eventLoop: where `completion` runs; it never runs before `start` returns.
    @inlinable
    public func start<Request: WireMessage, Response: WireMessage>(
        _ method: MethodDescriptor<Request, Response>, _ request: Request, metadata: Metadata = Metadata(),
        timeout: Duration? = nil, memo: CallerMemo? = nil, as: Response.Type = Response.self, on eventLoop: any EventLoop,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    ) {
        if startLocal(method, request, metadata: metadata, timeout: timeout, memo: memo, on: eventLoop, completion: completion) {
            return
        }
        start(method.name, request, metadata: metadata, timeout: timeout, memo: memo, on: eventLoop, completion: completion)
    }

    /// ``start(_:_:metadata:timeout:memo:as:on:completion:)`` by the
    /// method's name: the request goes as bytes over a connection, and as
    /// the typed call of a unary descriptor of that name in-process.
    @inlinable
    public func start<Request: WireMessage, Response: WireMessage>(
        _ method: String, _ request: Request, metadata: Metadata = Metadata(), timeout: Duration? = nil,
        memo: CallerMemo? = nil, as: Response.Type = Response.self, on eventLoop: any EventLoop,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    ) {
        if startLocal(
            MethodDescriptor<Request, Response>.unary(method), request, metadata: metadata, timeout: timeout, memo: memo,
            on: eventLoop, completion: completion
        ) {
            return
        }
        let payload: ByteBuffer
        do throws(RPCError) {
            payload = try Self.encode(request)
        } catch {
            // Never before `start` returns.
            eventLoop.execute { completion(.failure(error)) }
            return
        }
        startExchange(
            method, payload: payload, metadata: metadata, timeout: timeout, memo: memo, on: eventLoop
        ) { result in
            completion(result.flatMap { response in
                Result { () throws(RPCError) -> Response in try Self.decode(try Self.payload(of: response)) }
            })
        }
    }

    @usableFromInline
    static func decode<Response: WireMessage>(_ payload: ByteBuffer) throws(RPCError) -> Response {
        do throws(MessageError) {
            return try Response(serializedBytes: payload)
        } catch {
            throw RPCError(code: .internalError, message: "undecodable response: \(error.message)", reason: .undecodableResponse)
        }
    }

    /// ``start(_:_:metadata:timeout:as:on:completion:)`` with raw payload
    /// bytes, as ``callRaw(_:payload:metadata:timeout:)`` is to ``call(_:_:metadata:timeout:as:)``:
    /// over a connection only.
    public func startRaw(
        _ method: String, payload: ByteBuffer, metadata: Metadata = Metadata(), timeout: Duration? = nil,
        on eventLoop: any EventLoop, completion: @escaping @Sendable (Result<ByteBuffer, RPCError>) -> Void
    ) {
        startExchange(method, payload: payload, metadata: metadata, timeout: timeout, memo: nil, on: eventLoop) { result in
            completion(result.flatMap { response in Result { () throws(RPCError) in try Self.payload(of: response) } })
        }
    }

    /// How many bytes of a stream's messages (their encoded size) may wait
    /// for the reader by default: two full feed pages.
    public static let defaultStreamBufferBytes = 512 * 1024

    /// Calls a server-streaming `method` and returns its messages as they
    /// arrive; the sequence ends when the call ends, throwing its
    /// ``RPCError`` unless the status is OK.
    ///
    /// Messages wait in a buffer of at most `bufferBytes` bytes (their
    /// encoded size; one message is always taken when the buffer is empty)
    /// for the reader. The connection is shared by many calls and is never
    /// paused for one reader, so a reader that leaves more than that unread
    /// ends the call with RESOURCE_EXHAUSTED (`CONSUMER_TOO_SLOW`) after the
    /// messages already buffered, instead of holding an unbounded backlog in
    /// memory. ``watchFeed(_:metadata:timeout:bufferBytes:)`` never does:
    /// it pauses the call and resumes it from its cursor instead. Ending the
    /// iteration (or cancelling its task) cancels the call on the server.
    ///
    /// - Parameters:
    ///   - timeout: the call's deadline from now; nil: none (a stream lasts
    ///     until it is ended; the configuration's default does not apply).
    public func stream<Request: WireMessage, Message: WireMessage>(
        _ method: MethodDescriptor<Request, Message>, _ request: Request, metadata: Metadata = Metadata(),
        timeout: Duration? = nil, bufferBytes: Int = NotifyClient.defaultStreamBufferBytes
    ) -> ServerMessages<Message> {
        stream(method, request, metadata: metadata, timeout: timeout, bufferBytes: bufferBytes, onOverflow: .fail)
    }

    /// ``stream(_:_:metadata:timeout:bufferBytes:)`` by the method's name
    /// (in-process: a server-stream descriptor of that name and these types).
    public func stream<Request: WireMessage, Message: WireMessage>(
        _ method: String, _ request: Request, metadata: Metadata = Metadata(), timeout: Duration? = nil,
        bufferBytes: Int = NotifyClient.defaultStreamBufferBytes, as: Message.Type = Message.self
    ) -> ServerMessages<Message> {
        stream(
            MethodDescriptor<Request, Message>.serverStream(method), request, metadata: metadata, timeout: timeout,
            bufferBytes: bufferBytes, onOverflow: .fail
        )
    }

    /// What a stream does when its reader leaves more than its buffer unread.
    enum StreamOverflow: Sendable {
        /// Ends the call with CONSUMER_TOO_SLOW, after the buffered messages.
        case fail
        /// Ends the call quietly: the sequence throws ``StreamPaused`` after
        /// the buffered messages, for a caller that resumes it.
        case pause
    }

    func stream<Request: WireMessage, Message: WireMessage>(
        _ method: MethodDescriptor<Request, Message>, _ request: Request, metadata: Metadata, timeout: Duration?,
        bufferBytes: Int, onOverflow: StreamOverflow
    ) -> ServerMessages<Message> {
        let (messages, continuation) = AsyncThrowingStream.makeStream(
            of: ServerMessages<Message>.Sized.self, throwing: (any Error).self)
        let buffer = StreamBuffer(limit: max(1, bufferBytes))
        let result = ServerMessages(stream: messages, buffer: buffer)
        /// Takes one message of `size` bytes (its encoded size), once it is
        /// known to fit: `make` gives the message (a connection decodes it
        /// only then, so a message that does not fit costs nothing more).
        /// Nil, or the error that ends the call.
        @Sendable func take(size: Int, _ make: () throws(RPCError) -> Message) -> RPCError? {
            guard buffer.admit(size) else {
                switch onOverflow {
                case .fail:
                    return RPCError(
                        code: .resourceExhausted,
                        message: "the stream's reader left more than \(bufferBytes) bytes unread", reason: .consumerTooSlow)
                case .pause:
                    continuation.finish(throwing: StreamPaused())
                    return RPCError(code: .cancelled, message: "paused for a slow reader", reason: .cancelled)
                }
            }
            let message: Message
            do throws(RPCError) {
                message = try make()
            } catch {
                return error
            }
            switch continuation.yield(ServerMessages.Sized(message: message, size: size)) {
            case .enqueued:
                return nil
            case .terminated:
                // The reader left before the call was up to hear it.
                return RPCError(code: .cancelled, message: "the stream's reader is gone", reason: .cancelled)
            case .dropped:
                // The buffer is unbounded in count: bytes bound it, above.
                return RPCError(code: .resourceExhausted, message: "the stream's buffer is full", reason: .consumerTooSlow)
            @unknown default:
                return nil
            }
        }
        if let local {
            guard !isClosed else {
                continuation.finish(throwing: Self.closedError)
                return result
            }
            // Typed end to end: each message is measured (its encoded size,
            // not written) so that the buffer bounds the same bytes as a
            // connection's reader.
            let end = local.startStream(method, request: request, metadata: metadata, onMessage: { message in
                guard let error = take(size: message.serializedSize, { message }) else { return true }
                continuation.finish(throwing: error)
                return false
            }, completion: { error in
                if let error {
                    continuation.finish(throwing: error)
                } else {
                    continuation.finish()
                }
            })
            continuation.onTermination = { _ in end() }
            if let timeout {
                group.any().scheduleTask(in: TimeAmount(timeout)) {
                    continuation.finish(throwing: RPCError(
                        code: .deadlineExceeded, message: "the call's deadline passed", reason: .deadlineExceeded))
                }
            }
            return result
        }
        let payload: ByteBuffer
        do throws(RPCError) {
            payload = try Self.encode(request)
        } catch {
            continuation.finish(throwing: error)
            return result
        }
        let onMessage: ClientConnectionHandler.MessageHandler = { payload in
            take(size: payload.readableBytes) { () throws(RPCError) in try Self.decode(payload) }
        }
        let finish: @Sendable (ResponseFrame) -> Void = { response in
            do throws(RPCError) {
                _ = try Self.payload(of: response)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        let method = method.name
        let deadline = timeout.map { NIODeadline.now() + TimeAmount($0) }
        let start: @Sendable (Connection) -> EventLoopFuture<ResponseFrame> = { connection in
            let handler = connection.handler
            let promise = handler.eventLoop.makePromise(of: ResponseFrame.self)
            handler.eventLoop.execute {
                handler.value.startCall(
                    method: method, metadata: metadata, payload: payload, deadline: deadline, promise: promise,
                    onMessage: onMessage)
            }
            continuation.onTermination = { _ in
                handler.eventLoop.execute { handler.value.cancel(promise) }
            }
            return promise.futureResult
        }
        let answer: EventLoopFuture<ResponseFrame>
        switch nextConnection() {
        case .use(let connection):
            answer = start(connection)
        case .wait(let connecting):
            answer = connecting.flatMap(start)
        case .fail(let error):
            continuation.finish(throwing: error)
            return result
        }
        answer.whenComplete { result in
            switch result.mapError(Self.rpcError) {
            case .success(let response): finish(response)
            case .failure(let error): continuation.finish(throwing: error)
            }
        }
        return result
    }

    /// The payload of an OK answer; the answer's status as an error otherwise.
    @usableFromInline
    static func payload(of response: ResponseFrame) throws(RPCError) -> ByteBuffer {
        guard response.status == .ok else {
            throw RPCError(
                code: response.status, message: response.message, reason: response.reason,
                fieldViolations: response.fieldViolations, metadata: response.metadata
            )
        }
        return response.payload ?? ByteBuffer()
    }

    /// Closes the connection; later calls fail with UNAVAILABLE.
    public func close() async {
        let channel: (any Channel)? = state.withLock { state in
            defer { state = .closed }
            if case .ready(let connection) = state { return connection.channel }
            return nil
        }
        try? await channel?.close()
    }

    // MARK: Internals

    /// Why an in-process client refuses raw payloads: its endpoint takes
    /// typed messages only, and nothing in the process needs bytes.
    static func rawInProcess(_ method: String) -> RPCError {
        RPCError(
            code: .unimplemented, message: "\(method): an in-process client calls with typed messages, not raw payloads",
            reason: .unknownMethod
        )
    }

    @usableFromInline
    static let closedError = RPCError(code: .unavailable, message: "the client is closed", reason: .clientClosed)

    private var isClosed: Bool {
        state.withLock { state in
            if case .closed = state { return true }
            return false
        }
    }

    private func exchange(
        _ method: String, payload: ByteBuffer, metadata: Metadata, timeout: Duration?
    ) async throws(RPCError) -> ResponseFrame {
        if local != nil {
            throw isClosed ? Self.closedError : Self.rawInProcess(method)
        }
        let connection = try await connection()
        let promise = send(method, payload: payload, metadata: metadata, timeout: timeout, over: connection)
        let handler = connection.handler
        do {
            return try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                handler.eventLoop.execute { handler.value.cancel(promise) }
            }
        } catch {
            throw Self.rpcError(error)
        }
    }

    /// Starts a typed call on the in-process endpoint, if this client has one.
    ///
    /// - Returns: false when the client has a connection instead; `completion`
    ///   is then not called.
    @usableFromInline
    func startLocal<Request: WireMessage, Response: WireMessage>(
        _ method: MethodDescriptor<Request, Response>, _ request: Request, metadata: Metadata, timeout: Duration?,
        memo: CallerMemo?, on eventLoop: any EventLoop,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    ) -> Bool {
        guard let local else { return false }
        guard !isClosed else {
            eventLoop.execute { completion(.failure(Self.closedError)) }
            return true
        }
        let deadline = (timeout ?? configuration.defaultTimeout).map { ContinuousClock.now.advanced(by: $0) }
        local.start(
            method, request: request, metadata: metadata, deadline: deadline, memo: memo, on: eventLoop,
            completion: completion
        )
        return true
    }

    /// ``exchange(_:payload:metadata:timeout:)`` with a completion on `eventLoop` instead of a task.
    @usableFromInline
    func startExchange(
        _ method: String, payload: ByteBuffer, metadata: Metadata, timeout: Duration?, memo: CallerMemo?,
        on eventLoop: any EventLoop, completion: @escaping @Sendable (Result<ResponseFrame, RPCError>) -> Void
    ) {
        if local != nil {
            let error = isClosed ? Self.closedError : Self.rawInProcess(method)
            return eventLoop.execute { completion(.failure(error)) }
        }
        let answer: EventLoopFuture<ResponseFrame>
        switch nextConnection() {
        case .use(let connection):
            answer = send(method, payload: payload, metadata: metadata, timeout: timeout, over: connection).futureResult
        case .wait(let connecting):
            answer = connecting.flatMap { connection in
                self.send(method, payload: payload, metadata: metadata, timeout: timeout, over: connection).futureResult
            }
        case .fail(let error):
            return eventLoop.execute { completion(.failure(error)) }
        }
        answer.hop(to: eventLoop).whenComplete { result in
            completion(result.mapError(Self.rpcError))
        }
    }

    /// Hands a call to the connection's handler; the promise gets its answer.
    private func send(
        _ method: String, payload: ByteBuffer, metadata: Metadata, timeout: Duration?, over connection: Connection
    ) -> EventLoopPromise<ResponseFrame> {
        let eventLoop = connection.channel.eventLoop
        let promise = eventLoop.makePromise(of: ResponseFrame.self)
        let deadline = (timeout ?? configuration.defaultTimeout).map { NIODeadline.now() + TimeAmount($0) }
        let handler = connection.handler
        eventLoop.execute {
            handler.value.startCall(method: method, metadata: metadata, payload: payload, deadline: deadline, promise: promise)
        }
        return promise
    }

    private static func rpcError(_ error: any Error) -> RPCError {
        (error as? RPCError) ?? RPCError(code: .unavailable, message: "\(error)", reason: .connectionFailed)
    }

    private enum Next {
        case use(Connection)
        case wait(EventLoopFuture<Connection>)
        case fail(RPCError)
    }

    private func connection() async throws(RPCError) -> Connection {
        switch nextConnection() {
        case .use(let connection):
            return connection
        case .fail(let error):
            throw error
        case .wait(let future):
            do {
                return try await future.get()
            } catch {
                throw Self.rpcError(error)
            }
        }
    }

    /// The connection to use, the one being made, or why there is none;
    /// starts connecting when there is no connection and no reason to wait.
    private func nextConnection() -> Next {
        state.withLock { state in
            switch state {
            case .ready(let connection) where connection.channel.isActive:
                return .use(connection)
            case .connecting(let future):
                return .wait(future)
            case .backingOff(let until, _, let lastError) where ContinuousClock.now < until:
                return .fail(RPCError(
                    code: .unavailable, message: "the server is unreachable: \(lastError.message)", reason: .backingOff
                ))
            case .closed:
                return .fail(Self.closedError)
            case .ready, .idle, .backingOff:
                let failures: Int = switch state {
                case .idle(let failures), .backingOff(_, let failures, _): failures
                default: 0
                }
                let future = connect(failuresSoFar: failures)
                state = .connecting(future)
                return .wait(future)
            }
        }
    }

    private func connect(failuresSoFar: Int) -> EventLoopFuture<Connection> {
        let eventLoop = group.next()
        let tlsContext: TLSContext
        switch self.tlsContext {
        case .success(let context):
            tlsContext = context
        case .failure(let error):
            return eventLoop.makeFailedFuture(RPCError(code: .unavailable, message: "TLS configuration: \(error)", reason: .tlsConfiguration))
        }
        let configuration = self.configuration
        let connectTimeout = TimeAmount(configuration.connectTimeout)
        let future = ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ready = channel.eventLoop.makePromise(of: Void.self)
                    let handler = ClientConnectionHandler(ready: ready, configuration: configuration) { [weak self] in
                        self?.connectionWentAway(channel)
                    }
                    try channel.pipeline.syncOperations.addHandlers([
                        TLSHandler(context: tlsContext),
                        ByteToMessageHandler(FrameDecoder(maximumMessageSize: 64 * 1024 * 1024)),
                        handler,
                    ])
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .flatMap { channel -> EventLoopFuture<Connection> in
                let handler: ClientConnectionHandler
                do {
                    handler = try channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                let ready = handler.ready
                let loopBound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
                let timeout = channel.eventLoop.scheduleTask(in: connectTimeout) {
                    ready.fail(RPCError(code: .unavailable, message: "the TLS handshake timed out", reason: .connectTimeout))
                    channel.close(promise: nil)
                }
                return ready.futureResult.map {
                    timeout.cancel()
                    return Connection(channel: channel, handler: loopBound)
                }.flatMapErrorThrowing { error in
                    timeout.cancel()
                    channel.close(promise: nil)
                    throw error
                }
            }
            .flatMapErrorThrowing { error -> Connection in
                if let error = error as? RPCError { throw error }
                throw RPCError(code: .unavailable, message: "cannot connect to \(configuration.host):\(configuration.port): \(error)", reason: .connectionFailed)
            }
        future.whenComplete { [weak self] result in
            self?.connectFinished(result, failuresSoFar: failuresSoFar)
        }
        return future
    }

    private func connectFinished(_ result: Result<Connection, any Error>, failuresSoFar: Int) {
        switch result {
        case .success(let connection):
            logger.debug("connected", metadata: ["notify.peer": "\(configuration.host):\(configuration.port)"])
            state.withLock { state in
                if case .closed = state {
                    connection.channel.close(promise: nil)
                    return
                }
                state = .ready(connection)
            }
            connection.channel.closeFuture.whenComplete { [weak self] _ in
                self?.connectionWentAway(connection.channel)
            }
        case .failure(let error):
            let rpcError = error as? RPCError
                ?? RPCError(code: .unavailable, message: "\(error)", reason: .connectionFailed)
            let failures = failuresSoFar + 1
            let backoff = min(configuration.maximumBackoff, configuration.initialBackoff * (1 << min(failures - 1, 16)))
            logger.debug("connect failed", metadata: ["error.message": "\(rpcError.message)", "notify.backoff": "\(backoff)"])
            state.withLock { state in
                if case .closed = state { return }
                state = .backingOff(until: .now + backoff, failures: failures, lastError: rpcError)
            }
        }
    }

    /// The connection closed or the server sent goaway: the next call connects anew.
    private func connectionWentAway(_ channel: any Channel) {
        state.withLock { state in
            if case .ready(let connection) = state, connection.channel === channel {
                state = .idle(failures: 0)
            }
        }
    }
}
