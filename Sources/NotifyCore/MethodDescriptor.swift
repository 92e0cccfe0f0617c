/// One RPC method: its full name, its request and response types, and
/// whether it answers once or streams.
///
/// The types are the messages themselves, unconstrained here: the codec is
/// the message's own business (`NotifyProtobuf`'s `WireMessage`), so that a
/// descriptor names a method for every transport, including the in-process
/// one, which hands the messages over unencoded. The descriptors of the
/// protocol are declared once, in `NotifyMethods`; the server registers its
/// handlers by them and the client calls by them, so both sides agree on the
/// types at compile time.
public struct MethodDescriptor<Request: Sendable, Response: Sendable>: Sendable, Hashable, CustomStringConvertible {
    /// How a method answers.
    public enum Kind: Sendable, Hashable {
        /// One request, one response.
        case unary
        /// One request, then `Response` messages until the call's final status.
        case serverStream
    }

    /// The full method path, `/package.Service/Method`, as the request frame carries it.
    public let name: String
    public let kind: Kind

    public init(_ name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }

    /// A method that answers once.
    public static func unary(_ name: String) -> Self { Self(name, kind: .unary) }

    /// A method that answers with a stream of messages.
    public static func serverStream(_ name: String) -> Self { Self(name, kind: .serverStream) }

    public var description: String { name }
}
