import Synchronization

/// What the server remembers about one caller between its calls: the last
/// authorization it sent, with that token's hash, and the client address it
/// relays.
///
/// A caller (an RPC connection, an HTTP connection of the gateway) sends
/// the same authorization on call after call, and parsing it and hashing the
/// token was a sixth of an event loop's time per Notify. Each connection has
/// its own memo, made by whoever owns the connection; only the server reads
/// and fills it, and it compares the header in constant time (its
/// `hash(for:compute:)`, in NotifyServer), so the memo tells nobody anything
/// through timing, not even when one connection carries several clients (a
/// proxy). The hash still goes through the token lookup and its checks on
/// every call. The type lives here, in the vocabulary, so that the gateway
/// can keep one per HTTP connection without knowing how tokens are hashed.
public final class CallerMemo: Sendable {
    private let last = Mutex<(key: String, value: [UInt8])?>(nil)

    /// The IP address of the client the caller relays, when it relays one:
    /// the embedded gateway's HTTP connection gives its client's, so that
    /// the server's per-address limit on failed authentications counts each
    /// HTTP client apart rather than not at all.
    public let peer: String?

    public init(peer: String? = nil) {
        self.peer = peer
    }

    /// The value remembered for `key` when `key` is the one seen last, as
    /// `equals` (the server's constant-time comparison) judges it; else
    /// `compute`'s, which is then kept (nil is not).
    public func value(
        for key: String, equals: (String, String) -> Bool, compute: (String) -> [UInt8]?
    ) -> [UInt8]? {
        if let value = last.withLock({ $0.flatMap { equals($0.key, key) ? $0.value : nil } }) {
            return value
        }
        guard let value = compute(key) else { return nil }
        last.withLock { $0 = (key, value) }
        return value
    }
}
