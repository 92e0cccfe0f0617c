import Logging
import NIOCore
import NotifyCore
import NotifyCrypto
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyWire
import Synchronization

/// Runs every call, whichever transport brought it: routing, admission (the
/// executor's limits, the drain), the staged fast path, the task fallback,
/// server streams and error mapping are written here once.
///
/// Two transports call it. A connection (``ServerConnectionHandler``) hands
/// it request frames and gets response frames back, encoded on its event
/// loop; an in-process caller (``RPCServer``'s ``InProcessEndpoint``
/// conformance) hands it typed messages and gets typed messages back. The
/// path between is one generic function, ``run(_:_:context:timeoutMilliseconds:transport:)``,
/// specialised for each method's messages and each transport's answers, so
/// that the staged path costs no task, no existential and no allocation
/// beyond the one closure that carries its answer back.
final class Dispatcher: Sendable {
    let router: RPCRouter
    let executor: CallExecutor
    let maxMessageSize: Int
    /// False once graceful shutdown has begun: in-process calls are then
    /// refused like calls on a connection that got a goaway (connections
    /// refuse theirs in their state machine).
    private let acceptsLocalCalls = Atomic<Bool>(true)
    /// The in-process callers' streams, which no connection's drain ends.
    let localStreams = LocalStreams()
    /// Where in-process calls' request ids get their random bits.
    private let random = SecureRandom.Source()
    private let logger: Logger

    init(router: RPCRouter, executor: CallExecutor, maxMessageSize: Int, logger: Logger) {
        self.router = router
        self.executor = executor
        self.maxMessageSize = maxMessageSize
        self.logger = logger
    }

    /// Refuses new in-process calls (GOING_AWAY) and ends their streams.
    func stopLocalCalls() {
        acceptsLocalCalls.store(false, ordering: .relaxed)
    }

    var acceptingLocalCalls: Bool { acceptsLocalCalls.load(ordering: .relaxed) }

    // MARK: Frames

    /// Dispatches a request frame's call: its metadata checked, its method
    /// looked up, its payload decoded by the method's codec, then run.
    ///
    /// - Parameters:
    ///   - context: the call's context, its payload the frame's; the
    ///     transport's ``FrameTransport/admitted(_:timeoutMilliseconds:)``
    ///     may set its deadline.
    ///   - timeoutMilliseconds: the frame's timeout, for the transport's timer.
    func dispatch(
        _ context: inout ServerContext, timeoutMilliseconds: UInt64?, transport: some FrameTransport
    ) {
        if let error = CallMetadata.violation(in: context.metadata) {
            return transport.complete(CallJob.failure(error, context: context))
        }
        guard let entry = router.entry(for: context.method) else {
            return transport.complete(CallJob.failure(Self.unknownMethod(context.method), context: context))
        }
        entry.frames(self, &context, timeoutMilliseconds, transport)
    }

    /// A method's frame: decoded, then run; a stream is opened on the transport.
    func dispatchFrame<Request: WireMessage, Response: WireMessage>(
        _ handler: MethodHandler<Request, Response>, context: inout ServerContext, timeoutMilliseconds: UInt64?,
        transport: any FrameTransport
    ) {
        let request: Request
        do throws(MessageError) {
            request = try Request(serializedBytes: context.requestPayload)
        } catch {
            return transport.complete(CallJob.failure(
                RPCError(code: .invalidArgument, message: error.message, reason: .undecodableRequest), context: context
            ))
        }
        switch (handler, transport.role) {
        case (.stream(let stream), .connection), (.stream(let stream), .streams):
            runStream(stream, request, context: &context, timeoutMilliseconds: timeoutMilliseconds, transport: transport)
        case (.stream, .unary):
            transport.complete(CallJob.failure(Self.streamingUnsupported, context: context))
        case (_, .streams):
            transport.complete(CallJob.failure(
                RPCError(code: .unimplemented, message: "\(context.method) is not a server stream", reason: .notAStream),
                context: context
            ))
        case (_, .connection), (_, .unary):
            run(
                handler, request, context: &context, timeoutMilliseconds: timeoutMilliseconds,
                transport: FrameCall<Response>(transport: transport)
            )
        }
    }

    /// Runs an admitted server stream as a task until its handler returns
    /// or the transport ends the call; its final answer goes to the stream's
    /// `finish`.
    private func runStream<Request: Sendable>(
        _ handler: @escaping @Sendable (Request, ServerContext, ServerStream) async throws -> Void, _ request: Request,
        context: inout ServerContext, timeoutMilliseconds: UInt64?, transport: any FrameTransport
    ) {
        guard executor.admitStream() else {
            return transport.complete(CallJob.overloaded(context))
        }
        transport.admitted(&context, timeoutMilliseconds: timeoutMilliseconds)
        guard let open = transport.openStream(context, maxMessageSize: maxMessageSize) else {
            executor.releaseStream()
            return transport.complete(CallJob.goingAway(context))
        }
        let streamContext = context
        let submitted = executor.submitStream {
            open.finish(await CallJob.respond(
                { context, stream in try await handler(request, context, stream) }, stream: open.stream, context: streamContext
            ))
        }
        if !submitted {
            open.abandon()
            executor.releaseStream()
            transport.complete(CallJob.goingAway(context))
        }
    }

    // MARK: The one path

    /// Runs one unary call: inline at once, or admitted and then staged on
    /// the caller's thread or run as a task; the answer goes to `transport`.
    private func run<Request: Sendable, Response: Sendable, Transport: CallTransport<Response>>(
        _ handler: MethodHandler<Request, Response>, _ request: Request, context: inout ServerContext,
        timeoutMilliseconds: UInt64?, transport: Transport
    ) {
        switch handler {
        case .inline(let inline):
            do {
                transport.answer(.success(try inline(request, context)), context: context)
            } catch {
                transport.answer(.failure(ErrorMapping.rpcError(for: error, logger: context.logger)), context: context)
            }
        case .task(let task):
            guard admit(&context, timeoutMilliseconds: timeoutMilliseconds, transport: transport) else { return }
            submit({ context in try await task(request, context) }, context: context, transport: transport)
        case .staged(let start):
            guard admit(&context, timeoutMilliseconds: timeoutMilliseconds, transport: transport) else { return }
            let (executor, replies, staged) = (executor, transport.replies, context)
            let completion = CallCompletion<Response> { build in
                // The place is free before the answer leaves (see CallExecutor.run).
                executor.release()
                replies.deliver(build, context: staged)
            }
            if case .needsTask(let task) = start(request, context, completion) {
                submit(task, context: context, transport: transport)
            }
        case .stream:
            transport.answer(.failure(Self.streamingUnsupported), context: context)
        }
    }

    /// Takes a place in the executor and starts the call's deadline, or
    /// answers OVERLOADED.
    private func admit<Transport: CallTransport>(
        _ context: inout ServerContext, timeoutMilliseconds: UInt64?, transport: Transport
    ) -> Bool {
        guard executor.admit() else {
            transport.answer(.failure(CallJob.overloadedError), context: context)
            return false
        }
        transport.admitted(&context, timeoutMilliseconds: timeoutMilliseconds)
        return true
    }

    /// Runs an admitted call as a child task of the executor's; it answers
    /// from the task.
    private func submit<Response: Sendable, Transport: CallTransport<Response>>(
        _ task: @escaping @Sendable (ServerContext) async throws -> Response, context: ServerContext,
        transport: Transport
    ) {
        let (executor, replies) = (executor, transport.replies)
        let submitted = executor.submit {
            let result: Result<Response, any Error>
            do {
                result = .success(try await task(context))
            } catch {
                result = .failure(error)
            }
            // The place is free before the answer leaves: a client that
            // sends its next call the moment it reads this answer must not
            // find the server still counting this one.
            executor.release()
            replies.finish(result, context: context)
        }
        if !submitted {
            executor.release()
            transport.answer(.failure(CallJob.goingAwayError), context: context)
        }
    }

    // MARK: In-process

    /// A typed in-process call (``InProcessEndpoint``).
    func start<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor<Request, Response>, request: Request, metadata: Metadata,
        deadline: ContinuousClock.Instant?, memo: TokenMemo?, on eventLoop: any EventLoop,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    ) {
        var random = random.generator
        let requestID = metadata["x-request-id"] ?? UUIDText.random(using: &random)
        let transport = LocalCall(replies: LocalReplies(eventLoop: eventLoop, completion: completion))
        // Refused before routing, in a connection's order: the drain, the
        // metadata, then the method.
        let refusal = acceptingLocalCalls ? CallMetadata.violation(in: metadata) : CallJob.goingAwayError
        guard refusal == nil, let entry = router.entry(for: method) else {
            let context = localContext(method.name, metadata, deadline, memo, requestID) { ByteBuffer() }
            return transport.answer(.failure(refusal ?? Self.unknownMethod(method.name)), context: context)
        }
        var context = localContext(method.name, metadata, deadline, memo, requestID) { [encode = entry.encode] in
            encode(request)
        }
        run(entry.handler, request, context: &context, timeoutMilliseconds: nil, transport: transport)
    }

    /// An in-process call given as bytes; answered with a frame.
    func start(
        method: String, metadata: Metadata, payload: ByteBuffer, deadline: ContinuousClock.Instant?,
        on eventLoop: any EventLoop, completion: @escaping @Sendable (ResponseFrame) -> Void
    ) {
        var random = random.generator
        var context = ServerContext(
            callID: 0, method: method, metadata: metadata, deadline: deadline, requestPayload: payload,
            requestID: metadata["x-request-id"] ?? UUIDText.random(using: &random), logger: logger
        )
        let transport = LocalFrames(role: .unary, eventLoop: eventLoop, completion: completion)
        guard acceptingLocalCalls else { return transport.complete(CallJob.goingAway(context)) }
        dispatch(&context, timeoutMilliseconds: nil, transport: transport)
    }

    /// An in-process server stream: the stream limit and the drain apply as
    /// on a connection; its reader paces it (see ``InProcessEndpoint``).
    func startStream(
        method: String, metadata: Metadata, payload: ByteBuffer,
        onMessage: @escaping @Sendable (ByteBuffer) -> Bool,
        completion: @escaping @Sendable (ResponseFrame) -> Void
    ) -> @Sendable () -> Void {
        var random = random.generator
        var context = ServerContext(
            callID: 0, method: method, metadata: metadata, deadline: nil, requestPayload: payload,
            requestID: metadata["x-request-id"] ?? UUIDText.random(using: &random), logger: logger
        )
        let transport = LocalFrames(role: .streams(self, onMessage), eventLoop: nil, completion: completion)
        guard acceptingLocalCalls else {
            transport.complete(CallJob.goingAway(context))
            return {}
        }
        dispatch(&context, timeoutMilliseconds: nil, transport: transport)
        return { transport.endStream() }
    }

    private func localContext(
        _ method: String, _ metadata: Metadata, _ deadline: ContinuousClock.Instant?, _ memo: TokenMemo?,
        _ requestID: String, encode: @escaping @Sendable () -> ByteBuffer
    ) -> ServerContext {
        var context = ServerContext(
            callID: 0, method: method, metadata: metadata, deadline: deadline, encode: encode, requestID: requestID,
            logger: logger
        )
        context.tokenMemo = memo
        context.peer = memo?.peer
        return context
    }

    // MARK: Errors

    static func unknownMethod(_ method: String) -> RPCError {
        RPCError(code: .unimplemented, message: "unknown method \(method)", reason: .unknownMethod)
    }

    static let streamingUnsupported = RPCError(
        code: .unimplemented, message: "server streams are served on connections only", reason: .streamingUnsupported
    )
}

// MARK: Transports

/// A transport's side of one unary call, for ``Dispatcher``'s one path:
/// used on the caller's thread, at once.
protocol CallTransport<Response> {
    associatedtype Response: Sendable
    associatedtype Replies: CallReplies<Response>
    /// Answers the call now (an inline answer, a refusal).
    func answer(_ result: Result<Response, RPCError>, context: ServerContext)
    /// The call was admitted: the transport starts its deadline.
    func admitted(_ context: inout ServerContext, timeoutMilliseconds: UInt64?)
    /// Where the answers finished on other threads go.
    var replies: Replies { get }
}

/// Where a call's answer goes from another thread.
protocol CallReplies<Response>: Sendable {
    associatedtype Response: Sendable
    /// A staged call's answer, from whatever thread finished it: `build`
    /// runs on the transport's thread.
    func deliver(_ build: @escaping @Sendable () throws -> Response, context: ServerContext)
    /// A task's answer, on the task.
    func finish(_ result: Result<Response, any Error>, context: ServerContext)
}

/// What carries request frames to the ``Dispatcher`` and its response
/// frames back: a connection, or an in-process caller of raw payloads.
protocol FrameTransport: AnyObject {
    /// Which calls it carries.
    var role: FrameTransportRole { get }
    /// Answers a call now, on the transport's thread.
    func complete(_ response: ResponseFrame)
    /// The call was admitted: starts its deadline.
    func admitted(_ context: inout ServerContext, timeoutMilliseconds: UInt64?)
    /// Where answers finished on other threads go; nil once the transport is gone.
    var answers: (@Sendable (AnswerInbox.Answer) -> Void)? { get }
    /// Opens a server stream for an admitted call; nil when the transport
    /// takes no more (the call is answered GOING_AWAY).
    func openStream(_ context: ServerContext, maxMessageSize: Int) -> OpenStream?
}

enum FrameTransportRole: Sendable {
    /// Unary calls and server streams.
    case connection
    /// Unary calls only: an in-process caller of raw payloads.
    case unary
    /// One server stream: an in-process reader, whose messages go to the closure.
    case streams(Dispatcher, @Sendable (ByteBuffer) -> Bool)
}

/// A stream a transport opened: the handler sends through `stream`; its
/// final answer goes to `finish`, from its task.
struct OpenStream: Sendable {
    var stream: ServerStream
    var finish: @Sendable (ResponseFrame) -> Void
    /// Undoes the opening: the stream could not be started.
    var abandon: @Sendable () -> Void = {}
}

/// A unary call off a ``FrameTransport``: answers as response frames,
/// encoded on the transport's thread (staged) or on the task.
struct FrameCall<Response: WireMessage>: CallTransport {
    let transport: any FrameTransport

    /// Read only by calls that answer later: an inline call needs none.
    /// A transport that is gone drops the answers.
    var replies: FrameReplies<Response> {
        FrameReplies(deliver: transport.answers ?? { _ in })
    }

    func answer(_ result: Result<Response, RPCError>, context: ServerContext) {
        switch result {
        case .success(let response):
            transport.complete(CallJob.success(response.serializedBuffer(), context: context))
        case .failure(let error):
            transport.complete(CallJob.failure(error, context: context))
        }
    }

    func admitted(_ context: inout ServerContext, timeoutMilliseconds: UInt64?) {
        transport.admitted(&context, timeoutMilliseconds: timeoutMilliseconds)
    }
}

struct FrameReplies<Response: WireMessage>: CallReplies {
    let deliver: @Sendable (AnswerInbox.Answer) -> Void

    func deliver(_ build: @escaping @Sendable () throws -> Response, context: ServerContext) {
        deliver(.build(context, { try build().serializedBuffer() }))
    }

    func finish(_ result: Result<Response, any Error>, context: ServerContext) {
        switch result {
        case .success(let response):
            deliver(.ready(CallJob.success(response.serializedBuffer(), context: context)))
        case .failure(let error):
            deliver(.ready(CallJob.failure(ErrorMapping.rpcError(for: error, logger: context.logger), context: context)))
        }
    }
}

/// A typed in-process call: answers are the messages themselves, on the
/// caller's event loop, never before ``Dispatcher/start(_:request:metadata:deadline:memo:on:completion:)`` returns.
struct LocalCall<Response: Sendable>: CallTransport {
    let replies: LocalReplies<Response>

    func answer(_ result: Result<Response, RPCError>, context: ServerContext) {
        let requestID = context.requestID
        let completion = replies.completion
        replies.eventLoop.execute { completion(result.mapError { CallJob.withRequestID($0, requestID) }) }
    }

    /// The deadline is the caller's, set with the context: in-process, the
    /// caller keeps it.
    func admitted(_ context: inout ServerContext, timeoutMilliseconds: UInt64?) {}
}

struct LocalReplies<Response: Sendable>: CallReplies {
    let eventLoop: any EventLoop
    let completion: @Sendable (Result<Response, RPCError>) -> Void

    func deliver(_ build: @escaping @Sendable () throws -> Response, context: ServerContext) {
        let completion = self.completion
        eventLoop.execute {
            do {
                completion(.success(try build()))
            } catch {
                completion(.failure(CallJob.withRequestID(
                    ErrorMapping.rpcError(for: error, logger: context.logger), context.requestID
                )))
            }
        }
    }

    func finish(_ result: Result<Response, any Error>, context: ServerContext) {
        let completion = self.completion
        let mapped = result.mapError {
            CallJob.withRequestID(ErrorMapping.rpcError(for: $0, logger: context.logger), context.requestID)
        }
        eventLoop.execute { completion(mapped) }
    }
}

/// An in-process call of raw payloads or a stream: answered with frames.
final class LocalFrames: FrameTransport, Sendable {
    let role: FrameTransportRole
    private let eventLoop: (any EventLoop)?
    private let completion: @Sendable (ResponseFrame) -> Void
    /// The stream this transport opened, for its reader's early end.
    private let stream = Mutex<ServerStream?>(nil)

    init(role: FrameTransportRole, eventLoop: (any EventLoop)?, completion: @escaping @Sendable (ResponseFrame) -> Void) {
        self.role = role
        self.eventLoop = eventLoop
        self.completion = completion
    }

    func complete(_ response: ResponseFrame) {
        if let eventLoop {
            let completion = self.completion
            eventLoop.execute { completion(response) }
        } else {
            completion(response)
        }
    }

    func admitted(_ context: inout ServerContext, timeoutMilliseconds: UInt64?) {}

    var answers: (@Sendable (AnswerInbox.Answer) -> Void)? {
        { [self] answer in
            switch answer {
            case .ready(let response):
                complete(response)
            case .build(let context, let build):
                if let eventLoop {
                    let completion = self.completion
                    eventLoop.execute { completion(CallJob.respond(build, context: context)) }
                } else {
                    completion(CallJob.respond(build, context: context))
                }
            }
        }
    }

    func openStream(_ context: ServerContext, maxMessageSize: Int) -> OpenStream? {
        guard case .streams(let dispatcher, let onMessage) = role else { return nil }
        let stream = ServerStream(maxMessageSize: maxMessageSize, writable: true, emit: onMessage)
        guard let id = dispatcher.localStreams.add(stream) else { return nil }
        self.stream.withLock { $0 = stream }
        let completion = self.completion
        return OpenStream(stream: stream, finish: { answer in
            dispatcher.localStreams.remove(id)
            // Ended by the drain: the reader resumes elsewhere.
            completion(dispatcher.acceptingLocalCalls ? answer : CallJob.goingAway(context))
        }, abandon: {
            dispatcher.localStreams.remove(id)
        })
    }

    /// The reader went away: ends the stream, if one was opened.
    func endStream() {
        stream.withLock { $0 }?.end()
    }
}

/// The streams of in-process callers, so that shutdown can end them: the
/// executor's group waits for every stream before the server returns.
final class LocalStreams: Sendable {
    private struct State {
        var next: UInt64 = 0
        var open: [UInt64: ServerStream] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// - Returns: the stream's id; nil once shutdown has ended them all.
    func add(_ stream: ServerStream) -> UInt64? {
        state.withLock { state in
            guard !state.closed else { return nil }
            state.next += 1
            state.open[state.next] = stream
            return state.next
        }
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.open.removeValue(forKey: id) }
    }

    /// Ends every stream and admits no more.
    func endAll() {
        let open = state.withLock { state in
            state.closed = true
            return Array(state.open.values)
        }
        for stream in open { stream.end() }
    }
}
