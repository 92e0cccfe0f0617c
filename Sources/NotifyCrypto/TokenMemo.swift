import Synchronization

/// The last authorization one caller sent, with its token's hash.
///
/// A caller (an RPC connection, an HTTP connection of the gateway) sends
/// the same authorization on call after call, and parsing it and hashing the
/// token was a sixth of an event loop's time per Notify. Each connection has
/// its own memo, and the header is compared in constant time, so the memo
/// tells nobody anything through timing, not even when one connection
/// carries several clients (a proxy). The hash still goes through the token
/// lookup and its checks on every call.
public final class TokenMemo: Sendable {
    private let last = Mutex<(header: String, hash: [UInt8])?>(nil)

    /// The IP address of the client the caller relays, when it relays one:
    /// the embedded gateway's HTTP connection gives its client's, so that
    /// the server's per-address limit on failed authentications counts each
    /// HTTP client apart rather than not at all.
    public let peer: String?

    public init(peer: String? = nil) {
        self.peer = peer
    }

    /// The hash for `header`: the memo's when it is the header seen last,
    /// else `compute`'s, which is then kept (nil, a malformed header, is not).
    public func hash(for header: String, compute: (String) -> [UInt8]?) -> [UInt8]? {
        if let hash = last.withLock({ $0.flatMap { constantTimeEquals($0.header, header) ? $0.hash : nil } }) {
            return hash
        }
        guard let hash = compute(header) else { return nil }
        last.withLock { $0 = (header, hash) }
        return hash
    }
}
