/// A violation of the framing or envelope rules, found while encoding or decoding.
///
/// Any of these on an inbound connection means the byte stream can no longer be trusted: the
/// connection should be closed (after a `GoAway` where possible), not resynchronised.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case messageTooLarge
            case unsupportedFlags
            case malformedFrame
            case truncated
            case invalidString
            case metadataTooLarge
        }

        private let wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// A frame's length exceeds the agreed maximum (or, when encoding, a `UInt32`).
        public static let messageTooLarge = Code(.messageTooLarge)
        /// The flag byte has the compressed bit or a reserved bit set.
        public static let unsupportedFlags = Code(.unsupportedFlags)
        /// The body is not a `notify.v1.Frame`, sets no `kind`, or lacks a field the kind requires
        /// (`call_id`, `method`, `status_code`).
        public static let malformedFrame = Code(.malformedFrame)
        /// The stream ended in the middle of a frame.
        public static let truncated = Code(.truncated)
        /// A string to encode, or a string field of a frame being decoded, contains a NUL byte,
        /// which protobuf-c's C strings cannot carry.
        public static let invalidString = Code(.invalidString)
        /// A frame carries more metadata entries or bytes than ``FrameLimits`` allows.
        public static let metadataTooLarge = Code(.metadataTooLarge)

        public var description: String {
            switch self.wrapped {
            case .messageTooLarge: "messageTooLarge"
            case .unsupportedFlags: "unsupportedFlags"
            case .malformedFrame: "malformedFrame"
            case .truncated: "truncated"
            case .invalidString: "invalidString"
            case .metadataTooLarge: "metadataTooLarge"
            }
        }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String {
        "WireError(\(self.code)): \(self.message)"
    }
}
