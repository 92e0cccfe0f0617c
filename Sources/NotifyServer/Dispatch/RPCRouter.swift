import NIOCore
import NotifyMessages
public import NotifyProtobuf
public import NotifyCore
import NotifyWire

/// The table of methods the server answers: each registered once, by its
/// ``MethodDescriptor``, with a handler over its typed messages.
///
/// Handlers throw whatever their layer throws; ``ErrorMapping`` turns it into
/// a status once, at the edge. The ``Dispatcher`` runs them for both
/// transports: a connection's frames are decoded by the codec the
/// registration knows, an in-process caller's messages are used as they are.
public struct RPCRouter: Sendable {
    private var methods: [String: MethodEntry] = [:]
    /// What the handlers start beside their calls; the ``RPCServer``
    /// serving this router runs it in its task group.
    let background = BackgroundWork()
    /// Where each method's calls are counted and timed; nil: not at all.
    private let metrics: ServerMetrics?
    /// The observer of calls refused before they were routed (an unknown
    /// method, bad metadata): their method label is `unknown`.
    let unrouted: CallObserver

    /// - Parameter metrics: where the calls' metrics go; nil for none (the
    ///   debug line per call is written either way).
    public init(metrics: ServerMetrics? = nil) {
        self.metrics = metrics
        unrouted = CallObserver(method: "unknown", metrics: metrics)
    }

    /// Registers a handler that may wait: it runs as a task once admitted.
    public mutating func register<Request: WireMessage, Response: WireMessage>(
        _ method: MethodDescriptor<Request, Response>,
        _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response
    ) {
        add(method, .task(handler))
    }

    /// Registers a handler that never waits (the health check): it runs on
    /// the caller's thread (the connection's event loop) with no task, no
    /// hop and no allocation of its own, and no admission.
    public mutating func registerInline<Request: WireMessage, Response: WireMessage>(
        _ method: MethodDescriptor<Request, Response>,
        _ handler: @escaping @Sendable (Request, ServerContext) throws -> Response
    ) {
        add(method, .inline(handler))
    }

    /// Registers a staged handler: it starts on the caller's thread (a
    /// connection's event loop), must not wait there, and answers later
    /// through its ``CallCompletion`` from whatever thread finishes the work
    /// (the store's writer). It costs no task; when it must wait after all
    /// (a lookup the cache does not hold) it hands the call to a task with
    /// ``StagedStart/needsTask(_:)``.
    public mutating func registerStaged<Request: WireMessage, Response: WireMessage>(
        _ method: MethodDescriptor<Request, Response>,
        _ start: @escaping @Sendable (Request, ServerContext, CallCompletion<Response>) -> StagedStart<Response>
    ) {
        add(method, .staged(start))
    }

    /// Registers a server-streaming handler: it sends messages through its
    /// ``ServerStream`` for as long as the call lasts. Returning ends the
    /// call with OK; throwing, with the mapped error.
    public mutating func registerStream<Request: WireMessage, Message: WireMessage>(
        _ method: MethodDescriptor<Request, Message>,
        _ handler: @escaping @Sendable (Request, ServerContext, ServerStream<Message>) async throws -> Void
    ) {
        add(method, .stream(handler))
    }

    /// Builds the method's entry: the typed handler, and the closure a
    /// connection's frames go through, made here where the codec is known
    /// so that the dispatcher's generic path is specialised for the
    /// method's messages.
    private mutating func add<Request: WireMessage, Response: WireMessage>(
        _ method: MethodDescriptor<Request, Response>, _ handler: MethodHandler<Request, Response>
    ) {
        precondition(methods[method.name] == nil, "\(method.name) is registered twice")
        methods[method.name] = TypedMethodEntry(
            method: method, handler: handler, observer: CallObserver(method: method.name, metrics: metrics))
    }

    func entry(for method: String) -> MethodEntry? {
        methods[method]
    }

    /// The typed entry of an in-process call's method.
    ///
    /// The table is keyed by name, so this is where the types are checked
    /// again: registration and calls share one descriptor per name, so the
    /// check only fails for a descriptor declared outside ``NotifyMethods``
    /// with another method's name; that call is refused as unknown.
    func entry<Request, Response>(for method: MethodDescriptor<Request, Response>) -> TypedMethodEntry<Request, Response>? {
        methods[method.name] as? TypedMethodEntry<Request, Response>
    }

    public var methodNames: [String] { methods.keys.sorted() }
}

/// A registered handler over its method's typed messages.
enum MethodHandler<Request: Sendable, Response: Sendable>: Sendable {
    case inline(@Sendable (Request, ServerContext) throws -> Response)
    case task(@Sendable (Request, ServerContext) async throws -> Response)
    case staged(@Sendable (Request, ServerContext, CallCompletion<Response>) -> StagedStart<Response>)
    case stream(@Sendable (Request, ServerContext, ServerStream<Response>) async throws -> Void)
}

/// One method of the table, as a connection's frames reach it.
///
/// A class so that an in-process call can find its typed subclass; it is
/// immutable, hence `@unchecked Sendable` (a non-final class cannot state
/// `Sendable` otherwise).
class MethodEntry: @unchecked Sendable {
    /// Decodes a request frame's payload and dispatches it.
    let frames: @Sendable (Dispatcher, inout ServerContext, UInt64?, any FrameTransport) -> Void
    /// Counts, times and logs the method's calls as they end.
    let observer: CallObserver

    init(
        observer: CallObserver,
        frames: @escaping @Sendable (Dispatcher, inout ServerContext, UInt64?, any FrameTransport) -> Void
    ) {
        self.observer = observer
        self.frames = frames
    }
}

/// A method's entry with its typed handler, for in-process calls.
final class TypedMethodEntry<Request: Sendable, Response: Sendable>: MethodEntry, @unchecked Sendable {
    let method: MethodDescriptor<Request, Response>
    let handler: MethodHandler<Request, Response>
    /// The request's protobuf encoding, for a typed call's idempotency fingerprint.
    let encode: @Sendable (Request) -> ByteBuffer

    init(
        method: MethodDescriptor<Request, Response>, handler: MethodHandler<Request, Response>,
        encode: @escaping @Sendable (Request) -> ByteBuffer, observer: CallObserver,
        frames: @escaping @Sendable (Dispatcher, inout ServerContext, UInt64?, any FrameTransport) -> Void
    ) {
        self.method = method
        self.handler = handler
        self.encode = encode
        super.init(observer: observer, frames: frames)
    }
}

extension TypedMethodEntry where Request: WireMessage, Response: WireMessage {
    /// The entry of a method over protobuf messages: frames are decoded with
    /// the request's codec.
    convenience init(
        method: MethodDescriptor<Request, Response>, handler: MethodHandler<Request, Response>, observer: CallObserver
    ) {
        self.init(method: method, handler: handler, encode: { $0.serializedBuffer() }, observer: observer) { dispatcher, context, timeout, transport in
            dispatcher.dispatchFrame(handler, context: &context, timeoutMilliseconds: timeout, transport: transport)
        }
    }
}

/// How a staged handler went on.
public enum StagedStart<Response: Sendable>: Sendable {
    /// It will call its completion exactly once (it may already have).
    case started
    /// It must wait for something: run this as a task instead. The completion
    /// was not and will not be called.
    case needsTask(@Sendable (ServerContext) async throws -> Response)
}

/// Where a staged call sends its answer: exactly once, from any thread.
///
/// The answer travels as a closure that builds the response message, and it
/// runs where the answer is delivered (the connection's event loop, or the
/// in-process caller's): the thread that completes the call (the store's
/// one writer) only hands it over. A connection encodes the message; an
/// in-process caller gets it as is.
public struct CallCompletion<Response: Sendable>: Sendable {
    public typealias Answer = @Sendable () throws -> Response
    private let deliver: @Sendable (@escaping Answer) -> Void

    init(_ deliver: @escaping @Sendable (@escaping Answer) -> Void) {
        self.deliver = deliver
    }

    /// Answers with the response `build` returns, or the error it throws.
    public func finish(_ build: @escaping Answer) {
        deliver(build)
    }

    /// Answers with `error`, mapped to a status like any handler's.
    public func fail(_ error: any Error) {
        deliver { throw error }
    }
}
