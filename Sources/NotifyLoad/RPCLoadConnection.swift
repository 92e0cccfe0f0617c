import NIOCore
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import Synchronization

/// The RPC calls of a run, encoded once.
///
/// Every call of an operation sends the same bytes, so the load generator
/// spends its CPU on the transport, not on protobuf packing. With `--users N`
/// the calls that name a feed have one encoding per user, taken in turn.
struct RPCWorkload: Sendable {
    struct Call: Sendable {
        var method: String
        var payload: ByteBuffer
        var metadata: Metadata
    }

    /// Each operation's calls: one, or one per user of `--users`.
    let calls: [LoadOperation: [Call]]

    init(configuration: LoadConfiguration) {
        var calls: [LoadOperation: [Call]] = [:]
        let bearer = configuration.token.map { Metadata.bearer($0) } ?? Metadata()
        let first = configuration.user ?? 0
        let users = (0..<Int64(configuration.users)).map { first + $0 }
        for operation in configuration.mix.operations {
            let text = PayloadText(bytes: configuration.payloadBytes, for: operation)
            switch operation {
            case .notifyUser, .notifyConnections:
                // notify-connections stays with --user: its audience is that user's connections.
                let issuers = operation == .notifyUser ? users : [first]
                calls[operation] = issuers.map { issuer in
                    let request = NotifyRequest(
                        recipientsType: operation == .notifyUser ? "user" : "connections", type: "load",
                        title: .value(text.title), description: text.body.map { .value($0) } ?? .null,
                        user: configuration.user == nil ? nil : issuer
                    )
                    return Call(method: Methods.notify, payload: request.serializedBuffer(), metadata: bearer)
                }
            case .send:
                let request = SendNotificationRequest(
                    groupName: "load",
                    payload: PayloadInput(
                        rawContent: text.rawContent, visualContent: VisualContentInput(title: text.title, body: text.body)
                    ),
                    priority: "High", displayTimeToLive: 60
                )
                var metadata = bearer
                metadata.replace("x-uns-id", configuration.unsID ?? "")
                calls[operation] = [Call(method: Methods.sendNotification, payload: request.serializedBuffer(), metadata: metadata)]
            case .health:
                calls[operation] = [
                    Call(method: Methods.healthCheck, payload: HealthCheckRequest().serializedBuffer(), metadata: Metadata())
                ]
            case .markRead:
                // Everything up to the head: the store holds the sequence to the head.
                calls[operation] = users.map { user in
                    Call(
                        method: Methods.markRead,
                        payload: MarkReadRequest(user: user, upToSequence: UInt64(Int64.max)).serializedBuffer(),
                        metadata: bearer)
                }
            case .unseenCount:
                calls[operation] = users.map { user in
                    Call(method: Methods.unseenCount, payload: UnseenCountRequest(user: user).serializedBuffer(), metadata: bearer)
                }
            }
        }
        self.calls = calls
    }

    /// The call for the `turn`th use of `operation` on a connection.
    func call(_ operation: LoadOperation, turn: Int) -> Call? {
        guard let calls = calls[operation], !calls.isEmpty else { return nil }
        return calls.count == 1 ? calls[0] : calls[turn % calls.count]
    }
}

/// One ``NotifyClient``, hence one TLS connection, with many calls in flight.
///
/// The raw-bytes call (``NotifyClient/callRaw(_:payload:metadata:timeout:)``)
/// skips decoding the answer: only its status matters here.
final class RPCLoadConnection: LoadConnection {
    private let client: NotifyClient
    private let workload: RPCWorkload
    private let timeout: Duration
    /// Calls started, so that `--users` takes its users in turn, from this
    /// connection's own first one.
    private let turns: Atomic<Int>
    /// The client's connection lives here, and answers are taken here.
    let eventLoop: any EventLoop

    init(configuration: LoadConfiguration, workload: RPCWorkload, firstTurn: Int, group: any EventLoopGroup) {
        self.turns = Atomic(firstTurn)
        var clientConfiguration = ClientConfiguration(
            host: configuration.host, port: configuration.port, trustRootsFile: configuration.caFile ?? ""
        )
        clientConfiguration.defaultTimeout = configuration.timeoutDuration
        clientConfiguration.connectTimeout = configuration.timeoutDuration
        clientConfiguration.initialBackoff = .milliseconds(50)
        clientConfiguration.maximumBackoff = .seconds(1)
        // The run bounds what is outstanding itself; the client must not refuse it first.
        clientConfiguration.maximumQueuedCalls = 1_000_000
        self.eventLoop = group.next()
        self.client = NotifyClient(configuration: clientConfiguration, group: eventLoop)
        self.workload = workload
        self.timeout = configuration.timeoutDuration
    }

    func prepare() async throws(LoadConfigurationError) {
        let health: HealthCheckResponse
        do {
            health = try await client.health()
        } catch {
            throw LoadConfigurationError("cannot reach the RPC server: \(error)")
        }
        guard health.status == .serving else {
            throw LoadConfigurationError("the server answers health \(health.status), not SERVING")
        }
    }

    func start(_ operation: LoadOperation, completion: @escaping @Sendable (Outcome) -> Void) {
        guard let call = workload.call(operation, turn: turns.add(1, ordering: .relaxed).oldValue) else {
            return completion(Outcome(status: "NOT_IN_MIX", isSuccess: false))
        }
        client.startRaw(call.method, payload: call.payload, metadata: call.metadata, timeout: timeout, on: eventLoop) { result in
            switch result {
            case .success: completion(.ok)
            case .failure(let error): completion(Self.outcome(error))
            }
        }
    }

    private static func outcome(_ error: RPCError) -> Outcome {
        Outcome(status: error.reason.map { "\(error.code.name)/\($0)" } ?? error.code.name, isSuccess: false)
    }

    func close() async {
        await client.close()
    }
}
