import Logging
import NIOCore
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyTracing
import NotifyWire
import Synchronization

/// Runs every call, whichever transport brought it: routing, admission (the
/// executor's limits, the drain), the staged fast path, the task fallback,
/// server streams and error mapping are written here once.
///
/// Two transports call it. A connection (``ServerConnectionHandler``) hands
/// it request frames and gets response frames back, encoded on its event
/// loop; an in-process caller (``RPCServer``'s ``InProcessEndpoint``
/// conformance) hands it typed messages and gets typed messages back, a
/// stream's included: nothing in-process is encoded except an idempotency
/// fingerprint. The
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
    private let random = RandomPool()
    private let logger: Logger
    /// The calls' spans, or off (see CallTracing.swift).
    let tracer: CallTracer

    init(router: RPCRouter, executor: CallExecutor, maxMessageSize: Int, logger: Logger, tracer: CallTracer = .off) {
        self.router = router
        self.executor = executor
        self.maxMessageSize = maxMessageSize
        self.logger = logger
        self.tracer = tracer
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
        if tracer.isOn { startSpan(&context) }
        if let error = CallMetadata.violation(in: context.metadata) {
            context.observe(router.unrouted)
            return transport.complete(CallJob.failure(error, context: context))
        }
        guard let entry = router.entry(for: context.method) else {
            context.observe(router.unrouted)
            return transport.complete(CallJob.failure(Self.unknownMethod(context.method), context: context))
        }
        context.observe(entry.observer)
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
            return transport.complete(CallJob.failure(ErrorMapping.rpcError(for: error), context: context))
        }
        if case .stream(let stream) = handler {
            return runStream(stream, request, context: &context, timeoutMilliseconds: timeoutMilliseconds, transport: transport)
        }
        run(
            handler, request, context: &context, timeoutMilliseconds: timeoutMilliseconds,
            transport: FrameCall<Response>(transport: transport)
        )
    }

    /// Runs an admitted server stream of a connection as a task until its
    /// handler returns or the connection ends the call; its final answer
    /// goes to the stream's `finish`.
    private func runStream<Request: Sendable, Response: WireMessage>(
        _ handler: @escaping @Sendable (Request, ServerContext, ServerStream<Response>) async throws -> Void,
        _ request: Request, context: inout ServerContext, timeoutMilliseconds: UInt64?, transport: any FrameTransport
    ) {
        guard executor.admitStream() else {
            return transport.complete(CallJob.overloaded(context))
        }
        transport.admitted(&context, timeoutMilliseconds: timeoutMilliseconds)
        guard let open = transport.openStream(context) else {
            executor.releaseStream()
            return transport.complete(CallJob.goingAway(context))
        }
        let stream = ServerStream<Response>(
            flow: open.flow,
            sink: .frames(encode: { $0.serializedBuffer() }, maxMessageSize: maxMessageSize, emit: open.emit)
        )
        let streamContext = context
        let submitted = executor.submitStream {
            open.finish(await CallJob.respond(
                { context, stream in try await handler(request, context, stream) }, stream: stream, context: streamContext
            ))
        }
        if !submitted {
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
        deadline: ContinuousClock.Instant?, memo: CallerMemo?, on eventLoop: any EventLoop,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    ) {
        var random = random.generator
        let requestID = metadata["x-request-id"] ?? UUIDText.random(using: &random)
        let transport = LocalCall(replies: LocalReplies(eventLoop: eventLoop, completion: completion))
        // Refused before routing, in a connection's order: the drain, the
        // metadata, then the method.
        let refusal = acceptingLocalCalls ? CallMetadata.violation(in: metadata) : CallJob.goingAwayError
        guard refusal == nil, let entry = router.entry(for: method) else {
            var context = localContext(method.name, metadata, deadline, memo, requestID) { ByteBuffer() }
            context.observe(router.unrouted)
            return transport.answer(.failure(refusal ?? Self.unknownMethod(method.name)), context: context)
        }
        var context = localContext(method.name, metadata, deadline, memo, requestID) { [encode = entry.encode] in
            encode(request)
        }
        context.observe(entry.observer)
        if tracer.isOn { startSpan(&context) }
        run(entry.handler, request, context: &context, timeoutMilliseconds: nil, transport: transport)
    }

    /// A typed in-process server stream: refused as a connection would
    /// refuse it (the drain, the metadata, the method, its kind, the stream
    /// limit), then run as a task whose messages go to `onMessage` as they
    /// are; its reader paces it (see ``InProcessEndpoint``).
    func startStream<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor<Request, Response>, request: Request, metadata: Metadata,
        onMessage: @escaping @Sendable (Response) -> Bool, completion: @escaping @Sendable (RPCError?) -> Void
    ) -> @Sendable () -> Void {
        var random = random.generator
        let requestID = metadata["x-request-id"] ?? UUIDText.random(using: &random)
        let refusal = acceptingLocalCalls ? CallMetadata.violation(in: metadata) : CallJob.goingAwayError
        guard refusal == nil, let entry = router.entry(for: method) else {
            var context = localContext(method.name, metadata, nil, nil, requestID) { ByteBuffer() }
            context.observe(router.unrouted)
            completion(Self.error(of: CallJob.failure(refusal ?? Self.unknownMethod(method.name), context: context)))
            return {}
        }
        var started = localContext(method.name, metadata, nil, nil, requestID) { [encode = entry.encode] in
            encode(request)
        }
        started.observe(entry.observer)
        if tracer.isOn { startSpan(&started) }
        let context = started
        guard case .stream(let handler) = entry.handler else {
            completion(Self.error(of: CallJob.failure(
                RPCError(code: .unimplemented, message: "\(method.name) is not a server stream", reason: .notAStream),
                context: context
            )))
            return {}
        }
        guard executor.admitStream() else {
            completion(Self.error(of: CallJob.overloaded(context)))
            return {}
        }
        let flow = StreamFlow(writable: true)
        guard let id = localStreams.add(flow) else {
            executor.releaseStream()
            completion(Self.error(of: CallJob.goingAway(context)))
            return {}
        }
        let stream = ServerStream<Response>(flow: flow, sink: .messages(onMessage))
        let submitted = executor.submitStream { [self] in
            let answer = await CallJob.respond(
                { context, stream in try await handler(request, context, stream) }, stream: stream, context: context
            )
            localStreams.remove(id)
            // Ended by the drain: the reader resumes elsewhere. (Counted
            // once, with the answer its handler made.)
            completion(Self.error(of: acceptingLocalCalls ? answer : CallJob.failure(
                CallJob.goingAwayError, callID: context.callID, requestID: context.requestID)))
        }
        if !submitted {
            localStreams.remove(id)
            executor.releaseStream()
            completion(Self.error(of: CallJob.goingAway(context)))
        }
        return { flow.end() }
    }

    /// A stream's final answer as its in-process reader gets it: nil for OK,
    /// else the error with the metadata a response frame would carry.
    private static func error(of answer: ResponseFrame) -> RPCError? {
        guard answer.status != .ok else { return nil }
        return RPCError(
            code: answer.status, message: answer.message, reason: answer.reason,
            fieldViolations: answer.fieldViolations, metadata: answer.metadata
        )
    }

    private func localContext(
        _ method: String, _ metadata: Metadata, _ deadline: ContinuousClock.Instant?, _ memo: CallerMemo?,
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
/// frames back: a connection.
protocol FrameTransport: AnyObject {
    /// Answers a call now, on the transport's thread.
    func complete(_ response: ResponseFrame)
    /// The call was admitted: starts its deadline.
    func admitted(_ context: inout ServerContext, timeoutMilliseconds: UInt64?)
    /// Where answers finished on other threads go; nil once the transport is gone.
    var answers: (@Sendable (AnswerInbox.Answer) -> Void)? { get }
    /// Opens a server stream for an admitted call; nil when the transport
    /// takes no more (the call is answered GOING_AWAY).
    func openStream(_ context: ServerContext) -> OpenStream?
}

/// A stream a transport opened: its pacing, where its encoded messages go,
/// and where its final answer goes, from its task.
struct OpenStream: Sendable {
    var flow: StreamFlow
    var emit: @Sendable (ByteBuffer) -> Bool
    var finish: @Sendable (ResponseFrame) -> Void
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
        context.ended(result)
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
                let response = try build()
                context.ended(status: .ok, reason: nil, message: nil)
                completion(.success(response))
            } catch {
                let failure = CallJob.withRequestID(ErrorMapping.rpcError(for: error, logger: context.logger), context.requestID)
                context.ended(status: failure.code, reason: failure.reason, message: failure.message)
                completion(.failure(failure))
            }
        }
    }

    func finish(_ result: Result<Response, any Error>, context: ServerContext) {
        let completion = self.completion
        let mapped = result.mapError {
            CallJob.withRequestID(ErrorMapping.rpcError(for: $0, logger: context.logger), context.requestID)
        }
        context.ended(mapped)
        eventLoop.execute { completion(mapped) }
    }
}

/// The streams of in-process callers, so that shutdown can end them: the
/// executor's group waits for every stream before the server returns.
final class LocalStreams: Sendable {
    private struct State {
        var next: UInt64 = 0
        var open: [UInt64: StreamFlow] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// - Returns: the stream's id; nil once shutdown has ended them all.
    func add(_ stream: StreamFlow) -> UInt64? {
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
