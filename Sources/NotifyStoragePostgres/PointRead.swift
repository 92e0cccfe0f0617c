import NotifyDomain
import PostgresNIO

/// The directory's reads by key, each a statement prepared once per
/// connection. They come on every call whose lookup the server's cache
/// does not hold (a user called less often than its lifetime, a reload
/// ahead of expiry): parsed and planned anew, each cost PostgreSQL about
/// 0.1 ms, nine tenths of it before the read itself.
enum PointRead {
    struct User: PostgresPreparedStatement {
        static let name = "notify_user"
        static let sql = "SELECT id, name FROM users WHERE id = $1"
        typealias Row = PostgresRow
        let id: Int64
        func makeBindings() -> PostgresBindings { bindings(id) }
        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    struct Token: PostgresPreparedStatement {
        static let name = "notify_token"
        static let sql = "SELECT \(PostgresNotificationStore.tokenColumns) FROM tokens t WHERE t.hash = $1"
        typealias Row = PostgresRow
        let hash: [UInt8]
        func makeBindings() -> PostgresBindings { bindings(ByteBuffer(bytes: hash)) }
        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    struct Blocked: PostgresPreparedStatement {
        static let name = "notify_blocked"
        static let sql = "SELECT 1 FROM blocked WHERE principal = $1"
        typealias Row = PostgresRow
        let principal: Principal
        func makeBindings() -> PostgresBindings { bindings(principal.description) }
        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    struct Subscription: PostgresPreparedStatement {
        static let name = "notify_subscription"
        static let sql = "SELECT \(PostgresNotificationStore.subscriptionColumns) FROM subscriptions WHERE id = $1"
        typealias Row = PostgresRow
        let id: String
        func makeBindings() -> PostgresBindings { bindings(id) }
        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    static func user(_ id: Int64) -> User { User(id: id) }
    static func token(_ hash: [UInt8]) -> Token { Token(hash: hash) }
    static func blocked(_ principal: Principal) -> Blocked { Blocked(principal: principal) }
    static func subscription(_ id: String) -> Subscription { Subscription(id: id) }
}

private func bindings(_ value: some PostgresNonThrowingEncodable & Sendable) -> PostgresBindings {
    var bindings = PostgresBindings()
    bindings.append(value)
    return bindings
}
