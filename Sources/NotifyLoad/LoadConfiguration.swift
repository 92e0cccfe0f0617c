import Foundation

/// One kind of call the load generator makes.
///
/// Each maps to one RPC method and, except ``health``, to one documented
/// REST endpoint of the gateway.
enum LoadOperation: String, CaseIterable, Hashable, Sendable, Comparable {
    /// Notify with `recipients_type` "user": one feed row per call.
    case notifyUser = "notify-user"
    /// Notify with `recipients_type` "connections": one row per friend of the issuer.
    case notifyConnections = "notify-connections"
    /// SendNotification to the subscription named by `--uns-id`.
    case send
    /// Health/Check: no token, no store; measures the transport alone.
    case health
    /// FeedService/MarkRead of everything up to the head of the feed (rpc only):
    /// one "read" event when Notify calls of the mix added unread entries, none otherwise.
    case markRead = "mark-read"
    /// FeedService/UnseenCount of the feed (rpc only): a counter, never a scan.
    case unseenCount = "unseen-count"

    static func < (lhs: LoadOperation, rhs: LoadOperation) -> Bool {
        allCases.firstIndex(of: lhs) ?? 0 < allCases.firstIndex(of: rhs) ?? 0
    }

    var needsToken: Bool { self != .health }

    /// Calls of the RPC protocol only: the gateway's routes for them are another contract's shapes.
    var isRPCOnly: Bool {
        switch self {
        case .health, .markRead, .unseenCount: true
        case .notifyUser, .notifyConnections, .send: false
        }
    }

    /// Calls that name a user's feed, so that they need `--user`.
    var needsUser: Bool {
        switch self {
        case .notifyUser, .notifyConnections, .markRead, .unseenCount: true
        case .send, .health: false
        }
    }
}

/// Which protocol a run drives.
enum LoadTarget: String, Sendable {
    case rpc
    case http
}

/// How the RPC target makes its calls.
enum RPCClientKind: String, Sendable {
    /// One ``NotifyClient`` per connection: what services use.
    case notifyClient = "notify-client"
    /// Frames written straight on the connection, to measure the client library's cost.
    case raw
}

/// A weighted choice of operations, spread evenly over each cycle.
///
/// The order is fixed in advance (smooth weighted round robin, as nginx
/// balances upstreams) rather than drawn at random, so a short run sends
/// exactly the proportions asked for and runs can be compared.
struct Mix: Hashable, Sendable {
    /// Weight per operation; zero weights are dropped.
    let weights: [LoadOperation: Int]
    /// One cycle of picks: each operation appears `weight` times, interleaved.
    let cycle: [LoadOperation]

    init(weights: [LoadOperation: Int]) throws(LoadConfigurationError) {
        let kept = weights.filter { $0.value > 0 }
        guard !kept.isEmpty else { throw LoadConfigurationError("--mix has no operation with a positive weight") }
        guard kept.values.reduce(0, +) <= 10_000 else { throw LoadConfigurationError("--mix weights add up to more than 10000") }
        self.weights = kept
        self.cycle = Mix.interleave(kept)
    }

    /// Parses `notify-user=70,notify-connections=10,send=20,health=0`.
    ///
    /// A name without `=` has weight 1, so `--mix health` is a valid mix.
    init(parsing text: String) throws(LoadConfigurationError) {
        var weights: [LoadOperation: Int] = [:]
        for item in text.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let name = parts.first, let operation = LoadOperation(rawValue: name) else {
                let known = LoadOperation.allCases.map(\.rawValue).joined(separator: ", ")
                throw LoadConfigurationError("--mix: unknown operation \"\(item)\" (known: \(known))")
            }
            let weight: Int
            if parts.count == 2 {
                guard let value = Int(parts[1]), value >= 0 else {
                    throw LoadConfigurationError("--mix: the weight of \(name) must be a non-negative integer")
                }
                weight = value
            } else {
                weight = 1
            }
            guard weights[operation] == nil else { throw LoadConfigurationError("--mix names \(name) twice") }
            weights[operation] = weight
        }
        try self.init(weights: weights)
    }

    /// The operation for the `index`th call of a worker.
    func operation(at index: Int) -> LoadOperation {
        cycle[index % cycle.count]
    }

    var operations: [LoadOperation] { weights.keys.sorted() }

    private static func interleave(_ weights: [LoadOperation: Int]) -> [LoadOperation] {
        let operations = weights.keys.sorted()
        let total = weights.values.reduce(0, +)
        var current = Dictionary(uniqueKeysWithValues: operations.map { ($0, 0) })
        var cycle: [LoadOperation] = []
        cycle.reserveCapacity(total)
        for _ in 0..<total {
            var best = operations[0]
            for operation in operations {
                current[operation, default: 0] += weights[operation, default: 0]
                if current[operation, default: 0] > current[best, default: 0] { best = operation }
            }
            current[best, default: 0] -= total
            cycle.append(best)
        }
        return cycle
    }
}

/// When a run stops counting.
enum StopCondition: Hashable, Sendable {
    /// Seconds of measurement after the warm-up.
    case duration(Double)
    /// Measured calls after the warm-up.
    case count(Int)
}

/// Closed loop: each worker waits for its answer before the next call.
/// Open loop: calls leave on a fixed schedule whatever the answers do.
enum LoadModel: Hashable, Sendable {
    case closed(inFlightPerConnection: Int)
    /// `maxOutstandingPerConnection` bounds memory when the server falls
    /// behind; time spent waiting under that bound still counts as latency.
    case open(ratePerSecond: Double, maxOutstandingPerConnection: Int)
}

/// Everything a run needs, parsed and checked once.
struct LoadConfiguration: Sendable {
    var target: LoadTarget
    var rpcClient: RPCClientKind = .notifyClient
    var host: String
    var port: Int
    /// PEM CA; for rpc always set, for http nil means plain HTTP.
    var caFile: String?
    var token: String?
    var unsID: String?
    var user: Int64?
    var connections: Int
    var model: LoadModel
    var stop: StopCondition
    var warmup: Double
    var mix: Mix
    var payloadBytes: Int
    /// Deadline of each call; a call past it counts as an error. Making a
    /// connection, TLS handshake included, may take as long: on a loaded
    /// machine a fixed 5 s failed runs that `--timeout` allowed.
    var timeout: Double
    var maxErrorRate: Double?
    /// Live readers of `user`'s feed during the run (rpc only): ``FeedWatchers``.
    var watchers = 0
    /// Where the watchers connect; nil: `port`. Another instance's port
    /// times delivery across instances (commit on one, arrival from the other).
    var watchPort: Int?
    /// How many users, from `user` on, the feed calls (notify-user, mark-read,
    /// unseen-count) and the watchers are spread over, in turn: 1 is `user` alone.
    var users = 1
    /// Notify calls to the connections of a user during the measured time
    /// (``FanOuts``): their answers are not counted with the mix's.
    var fanOut: FanOutPlan?

    /// `--fan-outs`: large audiences notified during the run, beside the mix.
    struct FanOutPlan: Hashable, Sendable {
        /// The issuer, whose friends or followers receive each one.
        var issuer: Int64
        /// How many, the first at the start of the measured time.
        var count: Int
        /// Seconds between two.
        var spacing: Double
        /// A member of the audience, the last in id order, whose feed is
        /// watched: the background fan-out writes feeds in id order, so an
        /// entry's arrival there is when every feed holds it.
        var lastRecipient: Int64?
    }

    /// ``timeout`` as a duration, for calls and connections alike.
    /// Held to 1e9 s, so that a huge `--timeout` does not trap the conversion.
    var timeoutDuration: Duration { .milliseconds(Int64(Swift.min(timeout, 1e9) * 1000)) }

    /// Checks what the flags cannot check one by one.
    func validate() throws(LoadConfigurationError) {
        guard (1...65_535).contains(port) else { throw LoadConfigurationError("--port must be 1 to 65535") }
        guard (1...10_000).contains(connections) else { throw LoadConfigurationError("--connections must be 1 to 10000") }
        switch model {
        case .closed(let inFlight):
            guard (1...100_000).contains(inFlight) else { throw LoadConfigurationError("--in-flight must be 1 to 100000") }
        case .open(let rate, let outstanding):
            guard rate > 0, rate.isFinite else { throw LoadConfigurationError("--rate must be positive") }
            guard (1...100_000).contains(outstanding) else { throw LoadConfigurationError("--in-flight must be 1 to 100000") }
        }
        switch stop {
        case .duration(let seconds):
            guard seconds > 0, seconds.isFinite else { throw LoadConfigurationError("--duration must be positive") }
        case .count(let count):
            guard count > 0 else { throw LoadConfigurationError("--count must be positive") }
        }
        guard warmup >= 0, warmup.isFinite else { throw LoadConfigurationError("--warmup must not be negative") }
        guard timeout > 0, timeout.isFinite else { throw LoadConfigurationError("--timeout must be positive") }
        if let maxErrorRate, !(0...1).contains(maxErrorRate) {
            throw LoadConfigurationError("--max-error-rate is a fraction from 0 to 1")
        }
        if target == .rpc, caFile == nil {
            throw LoadConfigurationError("--target rpc needs --ca (or NOTIFY_CA): the RPC protocol is TLS only")
        }
        if target == .http, mix.weights[.health] != nil {
            throw LoadConfigurationError("health is an RPC call; the gateway documents no health endpoint: drop it from --mix")
        }
        if target == .http, let rpcOnly = mix.operations.first(where: \.isRPCOnly) {
            throw LoadConfigurationError("\(rpcOnly.rawValue) is measured over RPC only: drop it from --mix or use --target rpc")
        }
        if mix.operations.contains(where: \.needsToken), token == nil {
            throw LoadConfigurationError("notify and send need --token (or NOTIFY_TOKEN)")
        }
        if mix.operations.contains(where: \.needsUser), user == nil {
            throw LoadConfigurationError("notify, mark-read and unseen-count need --user: the issuer or feed, who must exist")
        }
        guard (1...100_000).contains(users) else { throw LoadConfigurationError("--users must be 1 to 100000") }
        if users > 1, target == .http {
            throw LoadConfigurationError("--users spreads RPC calls: it needs --target rpc")
        }
        if let user, users > 1, user > Int64.max - Int64(users) {
            throw LoadConfigurationError("--users goes past the largest user id")
        }
        if let fanOut {
            guard target == .rpc else { throw LoadConfigurationError("--fan-outs calls Notify over RPC: it needs --target rpc") }
            guard token != nil else { throw LoadConfigurationError("--fan-outs needs --token") }
            guard (1...1_000).contains(fanOut.count) else { throw LoadConfigurationError("--fan-outs must be 1 to 1000") }
            guard fanOut.spacing >= 0, fanOut.spacing.isFinite else {
                throw LoadConfigurationError("--fan-out-spacing must not be negative")
            }
        }
        guard (0...10_000).contains(watchers) else { throw LoadConfigurationError("--watchers must be 0 to 10000") }
        if watchers > 0 {
            guard target == .rpc else { throw LoadConfigurationError("--watchers reads the feed over RPC: it needs --target rpc") }
            guard user != nil, token != nil else { throw LoadConfigurationError("--watchers needs --user (the feed) and --token") }
        }
        if let watchPort {
            guard watchers > 0, (1...65535).contains(watchPort) else {
                throw LoadConfigurationError("--watch-port is a port, and goes with --watchers")
            }
        }
        if mix.weights[.send] != nil, unsID == nil {
            throw LoadConfigurationError("send needs --uns-id: a subscription id (notifyd admin subscription create)")
        }
        for operation in mix.operations {
            let limit = PayloadText.maximumBytes(for: operation)
            guard payloadBytes >= 0, payloadBytes <= limit else {
                throw LoadConfigurationError("--payload-bytes must be 0 to \(limit) for \(operation.rawValue)")
            }
        }
    }
}

/// A configuration that cannot run, with what to change.
struct LoadConfigurationError: Error, CustomStringConvertible, Equatable {
    let message: String

    init(_ message: String) {
        self.message = message
    }

    var description: String { message }
}
