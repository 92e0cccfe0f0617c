package import GRDB
internal import GRDBSQLite

/// One of the append's cached statements, bound and stepped through
/// SQLite's C API.
///
/// The group-commit writer is one thread that every durable call passes
/// through, so its CPU per append bounds the store's throughput. GRDB's
/// `StatementArguments` (an array of existentials built per execution) and
/// its cursor for a one-row result were a fifth of that thread's time;
/// binding the few typed values straight costs almost nothing. The statement
/// stays in GRDB's cache, and SQLite's own hooks see these steps as any other.
/// Package access: `notify-bench` binds through it as the store does.
package struct HotStatement {
    package let statement: Statement

    package init(statement: Statement) {
        self.statement = statement
    }

    private var handle: SQLiteStatement { statement.sqliteStatement }

    package func bind(_ value: Int64, at index: CInt) {
        sqlite3_bind_int64(handle, index, value)
    }

    /// Binds NULL for nil.
    package func bind(_ value: Int64?, at index: CInt) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    package func bind(_ text: String, at index: CInt) {
        var text = text
        text.withUTF8 { utf8 in
            // SQLite copies the bytes (SQLITE_TRANSIENT): the buffer is only
            // borrowed for this call. A NULL pointer would bind NULL, not "".
            let bytes = UnsafeRawPointer(utf8.baseAddress ?? Self.empty.utf8Start).assumingMemoryBound(to: CChar.self)
            _ = sqlite3_bind_text(handle, index, bytes, CInt(utf8.count), Self.transient)
        }
    }

    /// Binds NULL for nil (an absent member; "" is a text).
    package func bind(optional text: String?, at index: CInt) {
        if let text { bind(text, at: index) } else { sqlite3_bind_null(handle, index) }
    }

    /// Runs a statement that returns no row.
    package func execute(_ db: Database) throws {
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else { throw failure(db, code) }
        sqlite3_reset(handle)
    }

    /// Runs a statement for its first row's first column, an integer, and
    /// resets it: nil when there is no row.
    package func fetchInt64(_ db: Database) throws -> Int64? {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW:
            let value = sqlite3_column_int64(handle, 0)
            sqlite3_reset(handle)
            return value
        case SQLITE_DONE:
            sqlite3_reset(handle)
            return nil
        default:
            throw failure(db, code)
        }
    }

    /// The error of a failed step, as GRDB would throw it; the statement is
    /// reset so it can run again.
    private func failure(_ db: Database, _ code: CInt) -> DatabaseError {
        let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }
        let extended = db.sqliteConnection.map { sqlite3_extended_errcode($0) } ?? code
        sqlite3_reset(handle)
        return DatabaseError(resultCode: ResultCode(rawValue: extended), message: message, sql: statement.sql)
    }

    private static let empty: StaticString = ""
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
}
