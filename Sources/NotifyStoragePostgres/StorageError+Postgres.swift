import NotifyStorage
import PostgresNIO

extension StorageError {
    /// Maps what postgres-nio throws to a ``StorageError``, once, at the store's edge.
    ///
    /// The server's SQLSTATE decides: a unique violation is `alreadyExists`,
    /// a foreign key violation `notFound`, a serialization failure or a
    /// deadlock `busy` (passing), a server out of resources or shutting down
    /// `unavailable`. A client-side failure (no connection, a connection
    /// lost, the pool closed) is `unavailable`. The cause keeps the detail,
    /// for logs only; `PSQLError`'s description hides the query's values.
    init(mappingPostgres error: any Error, during operation: String) {
        if let error = error as? StorageError {
            self = error
            return
        }
        if let error = error as? PSQLError {
            let state = error.serverInfo?[.sqlState]
            let detail = error.serverInfo?[.message] ?? "\(error.code)"
            let cause = state.map { "SQLSTATE \($0): \(detail)" } ?? detail
            guard let state else {
                self.init(code: .unavailable, message: "the database cannot be reached while \(operation)", cause: cause)
                return
            }
            let code: StorageError.Code
            switch state {
            case "23505": code = .alreadyExists
            case "23503": code = .notFound
            case "40001", "40P01", "55P03": code = .busy
            default:
                if state.hasPrefix("53") || state.hasPrefix("57") || state.hasPrefix("08") || state.hasPrefix("58") {
                    code = .unavailable
                } else {
                    code = .internalError
                }
            }
            self.init(code: code, message: "the database refused \(operation)", cause: cause)
            return
        }
        if error is PostgresDecodingError {
            self.init(code: .corrupt, message: "a stored row is unreadable while \(operation)", cause: "\(error)")
            return
        }
        if error is CancellationError {
            self.init(code: .unavailable, message: "the store stopped while \(operation)")
            return
        }
        self.init(code: .internalError, message: "the store failed while \(operation)", cause: "\(error)")
    }

    /// A commit whose outcome is not known (the connection lost during a
    /// COMMIT or a statement that commits by itself, or that statement's
    /// answer unreadable): it may or may not have committed, so the caller
    /// must not be told either.
    static func commitOutcomeUnknown(_ error: any Error) -> StorageError {
        let lost = error is PSQLError
        return StorageError(
            code: .unavailable,
            message: lost
                ? "the database connection was lost before the commit was confirmed: the call may be stored; retry it with its idempotency key"
                : "the database's answer to a commit could not be read: the call may be stored; retry it with its idempotency key",
            cause: "\(error)")
    }

    /// What the PostgreSQL store does not do yet: said, never faked.
    static func notBuilt(_ what: String) -> StorageError {
        StorageError(code: .internalError, message: "\(what) is not yet built in the PostgreSQL store")
    }
}
