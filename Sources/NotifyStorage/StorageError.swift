/// A storage failure, with a stable code for the edge to map.
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        package enum Wrapped: Hashable, Sendable {
            case notFound, alreadyExists, idempotencyKeyReused, busy, unavailable, corrupt, internalError, feedFull
        }
        package let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// A referenced row (user, subscription, ...) does not exist.
        public static let notFound = Code(.notFound)
        public static let alreadyExists = Code(.alreadyExists)
        /// An idempotency key came back with another request.
        public static let idempotencyKeyReused = Code(.idempotencyKeyReused)
        /// The database is busy: another process held its lock past the busy
        /// timeout, or too many appends wait for the writer. Passing: retry
        /// shortly (RESOURCE_EXHAUSTED `STORE_BUSY`).
        public static let busy = Code(.busy)
        /// The store cannot do the work at all: the disk is full, the database
        /// cannot be opened, read or written (I/O error, read-only, lost), or
        /// the store has stopped. Nothing of the failed call was stored; it lasts
        /// until an operator (or time) frees the resource (UNAVAILABLE
        /// `STORE_UNAVAILABLE`). ``NotificationLog/isWritable`` says whether
        /// the store is in that state now.
        public static let unavailable = Code(.unavailable)
        /// The data on disk is not what the schema says.
        public static let corrupt = Code(.corrupt)
        public static let internalError = Code(.internalError)
        /// Every feed an append was for holds the store's most entries.
        public static let feedFull = Code(.feedFull)

        public var description: String {
            switch wrapped {
            case .notFound: "notFound"
            case .alreadyExists: "alreadyExists"
            case .idempotencyKeyReused: "idempotencyKeyReused"
            case .busy: "busy"
            case .unavailable: "unavailable"
            case .corrupt: "corrupt"
            case .internalError: "internalError"
            case .feedFull: "feedFull"
            }
        }
    }

    public var code: Code
    public var message: String
    /// The underlying error, for logs only: never sent to a client.
    public var cause: String?

    public init(code: Code, message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        "StorageError(\(code)): \(message)" + (cause.map { " [\($0)]" } ?? "")
    }
}
