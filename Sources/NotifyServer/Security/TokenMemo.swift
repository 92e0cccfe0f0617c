import Synchronization

/// The last bearer token one connection sent, with its hash.
///
/// A connection sends the same authorization on call after call, and
/// parsing it and hashing the token (an OpenSSL digest) was a sixth of an
/// event loop's time per Notify. The memo belongs to one connection, so
/// comparing against it can tell a client only what it sent itself; the hash
/// still goes through the token lookup and its checks on every call.
final class TokenMemo: Sendable {
    private let last = Mutex<(header: String, hash: [UInt8])?>(nil)

    /// The hash for `header`: the memo's when it is the header seen last,
    /// else `compute`'s, which is then kept (nil, a malformed header, is not).
    func hash(for header: String, compute: (String) -> [UInt8]?) -> [UInt8]? {
        if let hash = last.withLock({ $0?.header == header ? $0?.hash : nil }) { return hash }
        guard let hash = compute(header) else { return nil }
        last.withLock { $0 = (header, hash) }
        return hash
    }
}
