internal import COpenSSL

/// Reads OpenSSL's thread-local error queue, which is where the *reason* for a failure lives
/// (`SSL_get_error` only says which kind of failure it was).
enum OpenSSLErrorQueue {
    /// At most this many entries are read, so a flood of errors cannot stall the event loop.
    private static let maximumEntries = 16

    /// Empties the queue and returns its reason codes and a readable summary.
    ///
    /// - Returns: The `ERR_GET_REASON` of each entry, oldest first, and the entries joined by "; ".
    static func drain() -> (reasons: [Int32], text: String) {
        var reasons: [Int32] = []
        var parts: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        for _ in 0..<maximumEntries {
            let code = ERR_get_error()
            if code == 0 { break }
            reasons.append(COpenSSL_ERR_GET_REASON(code))
            let text = buffer.withUnsafeMutableBufferPointer { pointer -> String in
                ERR_error_string_n(code, pointer.baseAddress, pointer.count)
                let bytes = UnsafeRawBufferPointer(pointer).prefix { $0 != 0 }
                return String(decoding: bytes, as: UTF8.self)
            }
            parts.append(text)
        }
        ERR_clear_error()
        return (reasons, parts.joined(separator: "; "))
    }

    /// A ``TLSError`` whose message is `context` followed by whatever OpenSSL queued.
    static func error(_ code: TLSError.Code, _ context: String) -> TLSError {
        let queued = drain().text
        return TLSError(code: code, message: queued.isEmpty ? context : "\(context): \(queued)")
    }
}
