import GRDB
import NotifyStorage

extension StorageError {
    /// Maps any error from a database access to a ``StorageError``: the one
    /// place SQLite result codes become storage codes.
    ///
    /// - Parameters:
    ///   - error: what the access threw; a ``StorageError`` passes through.
    ///   - operation: what was being done, for the message.
    init(mapping error: any Error, during operation: String) {
        switch error {
        case let error as StorageError:
            self = error
        case let error as DatabaseError:
            let cause = "\(error.extendedResultCode): \(error.message ?? "")"
            switch error.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                self.init(code: .busy, message: "the database is busy: \(operation)", cause: cause)
            case .SQLITE_INTERRUPT:
                // GRDB interrupts a statement whose task was cancelled.
                self.init(code: .busy, message: "interrupted: \(operation)", cause: cause)
            case .SQLITE_FULL:
                self.init(code: .unavailable, message: "the disk is full: \(operation)", cause: cause)
            case .SQLITE_CONSTRAINT:
                switch error.extendedResultCode {
                case .SQLITE_CONSTRAINT_FOREIGNKEY:
                    self.init(code: .notFound, message: "a referenced row does not exist: \(operation)", cause: cause)
                case .SQLITE_CONSTRAINT_PRIMARYKEY, .SQLITE_CONSTRAINT_UNIQUE:
                    self.init(code: .alreadyExists, message: "it already exists: \(operation)", cause: cause)
                default:
                    self.init(code: .internalError, message: "a constraint failed: \(operation)", cause: cause)
                }
            case .SQLITE_CORRUPT, .SQLITE_NOTADB:
                self.init(code: .corrupt, message: "the database file is corrupt: \(operation)", cause: cause)
            case .SQLITE_CANTOPEN, .SQLITE_IOERR, .SQLITE_READONLY:
                self.init(code: .unavailable, message: "the database cannot be used: \(operation)", cause: cause)
            default:
                self.init(code: .internalError, message: "a database error: \(operation)", cause: cause)
            }
        case is CancellationError:
            self.init(code: .busy, message: "cancelled: \(operation)", cause: "CancellationError")
        case let error as RowDecodingError:
            self.init(code: .corrupt, message: "a row is unreadable: \(operation)", cause: "\(error)")
        default:
            self.init(code: .internalError, message: "unexpected error: \(operation)", cause: "\(error)")
        }
    }
}
