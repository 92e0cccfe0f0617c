import NotifyCore
import NotifyCrypto

extension CallerMemo {
    /// The hash of the token in `header`: the memo's when it is the header
    /// seen last (compared in constant time), else `compute`'s, which is then
    /// kept (nil, a malformed header, is not).
    func hash(for header: String, compute: (String) -> [UInt8]?) -> [UInt8]? {
        value(for: header, equals: { constantTimeEquals($0, $1) }, compute: compute)
    }
}
