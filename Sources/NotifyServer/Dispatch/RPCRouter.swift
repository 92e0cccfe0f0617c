public import NIOCore
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

    public enum Handler: Sendable {
        case async(AsyncHandler)
        case inline(InlineHandler)
    }

    private var handlers: [String: Handler] = [:]

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

    private static func decode<Request: WireMessage>(_ context: ServerContext) throws(RPCError) -> Request {
        do throws(MessageError) {
            return try Request(serializedBytes: context.requestPayload)
        } catch {
            throw RPCError(code: .invalidArgument, message: error.message, reason: "UNDECODABLE_REQUEST")
        }
    }

    public func handler(for method: String) -> Handler? {
        handlers[method]
    }

    public var methods: [String] { handlers.keys.sorted() }
}
