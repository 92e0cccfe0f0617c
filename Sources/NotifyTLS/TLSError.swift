/// A TLS failure: configuration, handshake, certificate or record-layer, with a stable code to
/// `catch` or log by, and OpenSSL's own reasons in the message.
public struct TLSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure, as a struct over a private enum so new codes are not API breaks.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case configuration, handshakeFailed, handshakeTimeout, certificate, alpnMismatch
            case uncleanShutdown, protocolFailure, closed, internalError
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// Files, keys, ciphers or options were rejected when building a ``TLSContext``.
        public static let configuration = Code(.configuration)
        /// The handshake failed for a reason other than those below (e.g. a plaintext peer).
        public static let handshakeFailed = Code(.handshakeFailed)
        /// The peer did not finish the handshake in time.
        public static let handshakeTimeout = Code(.handshakeTimeout)
        /// A peer certificate was missing, untrusted, expired or for another name.
        public static let certificate = Code(.certificate)
        /// The peers share no application protocol, or the peer offered none.
        public static let alpnMismatch = Code(.alpnMismatch)
        /// The transport closed without a TLS close_notify: data may have been truncated.
        public static let uncleanShutdown = Code(.uncleanShutdown)
        /// A record-layer failure after the handshake (bad MAC, unexpected message, ...).
        public static let protocolFailure = Code(.protocolFailure)
        /// A write arrived after the connection started closing.
        public static let closed = Code(.closed)
        public static let internalError = Code(.internalError)

        public var description: String {
            switch wrapped {
            case .configuration: "configuration"
            case .handshakeFailed: "handshakeFailed"
            case .handshakeTimeout: "handshakeTimeout"
            case .certificate: "certificate"
            case .alpnMismatch: "alpnMismatch"
            case .uncleanShutdown: "uncleanShutdown"
            case .protocolFailure: "protocolFailure"
            case .closed: "closed"
            case .internalError: "internalError"
            }
        }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "TLSError(\(code)): \(message)" }
}
