public import NIOCore
import NotifyCore
public import NotifyMessages
import NotifyWire

/// Maps method names to handlers.
///
/// Handlers throw whatever their layer throws; ``ErrorMapping`` turns it into
/// a status once, at the edge.
public struct RPCRouter: Sendable {
    /// A handler over raw bytes: the request payload in, the response payload out.
    public typealias AsyncHandler = @Sendable (ServerContext) async throws -> ByteBuffer
    /// A handler that never waits (the health check): it runs on the
    /// connection's event loop with no task, no hop and no allocation of its own.
    public typealias InlineHandler = @Sendable (ServerContext) throws -> ByteBuffer

    /// A handler that starts on the caller's thread (a connection's event
    /// loop), must not wait there, and answers later through its
    /// ``CallCompletion`` from whatever thread finishes the work (the store's
    /// writer). It costs no task; when it must wait after all (a lookup the
    /// cache does not hold) it hands the call to a task with
    /// ``StagedStart/needsTask(_:)``.
    public typealias StagedHandler = @Sendable (ServerContext, CallCompletion) -> StagedStart
    /// A server-streaming handler: it sends messages through its
    /// ``ServerStream`` for as long as the call lasts. Returning ends the call
    /// with OK; throwing, with the mapped error.
    public typealias StreamHandler = @Sendable (ServerContext, ServerStream) async throws -> Void

    public enum Handler: Sendable {
        case async(AsyncHandler)
        case inline(InlineHandler)
        case staged(StagedHandler)
        case stream(StreamHandler)
    }

    private var handlers: [String: Handler] = [:]
    /// What the handlers start beside their calls; the ``RPCServer``
    /// serving this router runs it in its task group.
    let background = BackgroundWork()

    public init() {}

    /// Registers a handler over raw payloads.
    public mutating func register(_ method: String, _ handler: @escaping AsyncHandler) {
        handlers[method] = .async(handler)
    }

    /// Registers a handler over decoded messages that returns at once without
    /// blocking. It runs on the event loop: it must not wait for anything.
    public mutating func registerInline<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ handler: @escaping @Sendable (Request, ServerContext) throws -> Response
    ) {
        handlers[method] = .inline { context in
            try handler(try Self.decode(context), context).serializedBuffer()
        }
    }

    /// Registers a handler over decoded messages. An undecodable request is
    /// answered INVALID_ARGUMENT with the decoder's reason.
    public mutating func register<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response
    ) {
        handlers[method] = .async { context in
            try await handler(try Self.decode(context), context).serializedBuffer()
        }
    }

    /// Registers a staged handler over a decoded request. An undecodable
    /// request is answered INVALID_ARGUMENT with the decoder's reason.
    public mutating func registerStaged<Request: WireMessage>(
        _ method: String,
        _ start: @escaping @Sendable (Request, ServerContext, CallCompletion) -> StagedStart
    ) {
        handlers[method] = .staged { context, completion in
            let request: Request
            do {
                request = try Self.decode(context)
            } catch {
                completion.fail(error)
                return .started
            }
            return start(request, context, completion)
        }
    }

    /// Registers a server-streaming handler over a decoded request. An
    /// undecodable request is answered INVALID_ARGUMENT before any message.
    public mutating func registerStream<Request: WireMessage>(
        _ method: String,
        _ handler: @escaping @Sendable (Request, ServerContext, ServerStream) async throws -> Void
    ) {
        handlers[method] = .stream { context, stream in
            try await handler(try Self.decode(context), context, stream)
        }
    }

    /// The request an in-process caller handed over as it is, or the one
    /// its bytes encode.
    private static func decode<Request: WireMessage>(_ context: ServerContext) throws(RPCError) -> Request {
        if let request = context.request.message as? Request { return request }
        do throws(MessageError) {
            return try Request(serializedBytes: context.requestPayload)
        } catch {
            throw RPCError(code: .invalidArgument, message: error.message, reason: .undecodableRequest)
        }
    }

    public func handler(for method: String) -> Handler? {
        handlers[method]
    }

    public var methods: [String] { handlers.keys.sorted() }
}

/// How a staged handler went on.
public enum StagedStart: Sendable {
    /// It will call its completion exactly once (it may already have).
    case started
    /// It must wait for something: run this as a task instead. The completion
    /// was not and will not be called.
    case needsTask(RPCRouter.AsyncHandler)
}

/// Where a staged call sends its answer: exactly once, from any thread.
///
/// The answer travels as a closure that builds the response message, and it
/// runs where the answer is delivered (the connection's event loop, or the
/// in-process caller's): the thread that completes the call (the store's
/// one writer) only hands it over. A connection encodes the message; an
/// in-process caller that handed over its request as a message gets it as is.
public struct CallCompletion: Sendable {
    public typealias Answer = @Sendable () throws -> any WireMessage
    private let deliver: @Sendable (@escaping Answer) -> Void

    public init(_ deliver: @escaping @Sendable (@escaping Answer) -> Void) {
        self.deliver = deliver
    }

    /// Answers with the response `build` returns, or the error it throws.
    public func finish<Response: WireMessage>(_ build: @escaping @Sendable () throws -> Response) {
        deliver { try build() }
    }

    /// Answers with `error`, mapped to a status like any handler's.
    public func fail(_ error: any Error) {
        deliver { throw error }
    }
}
