public import NIOCore
public import NotifyMessages
import NotifyWire

/// Maps method names to handlers.
///
/// Handlers throw whatever their layer throws; ``ErrorMapping`` turns it into
/// a status once, at the edge.
public struct RPCRouter: Sendable {
    /// A handler over raw bytes: the request payload in, the response payload out.
    public typealias Handler = @Sendable (ServerContext) async throws -> ByteBuffer

    private var handlers: [String: Handler] = [:]

    public init() {}

    /// Registers a handler over raw payloads.
    public mutating func register(_ method: String, _ handler: @escaping Handler) {
        handlers[method] = handler
    }

    /// Registers a handler over decoded messages. An undecodable request is
    /// answered INVALID_ARGUMENT with the decoder's reason.
    public mutating func register<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response
    ) {
        handlers[method] = { context in
            let request: Request
            do throws(MessageError) {
                request = try Request(serializedBytes: context.requestPayload)
            } catch {
                throw RPCError(code: .invalidArgument, message: error.message, reason: "UNDECODABLE_REQUEST")
            }
            return try await handler(request, context).serializedBuffer()
        }
    }

    public func handler(for method: String) -> Handler? {
        handlers[method]
    }

    public var methods: [String] { handlers.keys.sorted() }
}
