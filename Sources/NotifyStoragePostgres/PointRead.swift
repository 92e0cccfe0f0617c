import NotifyDomain
import PostgresNIO

/// The directory's reads by key, each a statement prepared once per
/// connection. They come on every call whose lookup the server's cache
/// does not hold (a user called less often than its lifetime, a reload
/// ahead of expiry): parsed and planned anew, each cost PostgreSQL about
/// 0.1 ms, nine tenths of it before the read itself.
protocol PointRead: PostgresPreparedStatement where Row == PostgresRow {
    associatedtype Key: PostgresNonThrowingEncodable & Sendable
    /// The one binding, `$1`.
    var key: Key { get }
}

extension PointRead {
    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(key)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

struct UserRead: PointRead {
    static let name = "notify_user"
    static let sql = "SELECT id, name FROM users WHERE id = $1"
    let key: Int64
}

struct TokenRead: PointRead {
    static let name = "notify_token"
    static let sql = "SELECT \(PostgresNotificationStore.tokenColumns) FROM tokens t WHERE t.hash = $1"
    let key: ByteBuffer
}

struct BlockedRead: PointRead {
    static let name = "notify_blocked"
    static let sql = "SELECT 1 FROM blocked WHERE principal = $1"
    /// The principal's text (`app:<name>`, `user:<id>`).
    let key: String
}

struct SubscriptionRead: PointRead {
    static let name = "notify_subscription"
    static let sql = "SELECT \(PostgresNotificationStore.subscriptionColumns) FROM subscriptions WHERE id = $1"
    let key: String
}
