import NIOCore
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf

/// The RPC calls of a run, encoded once.
///
/// Every call of an operation sends the same bytes, so the load generator
/// spends its CPU on the transport, not on protobuf packing.
struct RPCWorkload: Sendable {
    struct Call: Sendable {
        var method: String
        var payload: ByteBuffer
        var metadata: Metadata
    }

    let calls: [LoadOperation: Call]

    init(configuration: LoadConfiguration) {
        var calls: [LoadOperation: Call] = [:]
        let bearer = configuration.token.map { Metadata.bearer($0) } ?? Metadata()
        for operation in configuration.mix.operations {
            let text = PayloadText(bytes: configuration.payloadBytes, for: operation)
            switch operation {
            case .notifyUser, .notifyConnections:
                let request = NotifyRequest(
                    recipientsType: operation == .notifyUser ? "user" : "connections", type: "load",
                    title: .value(text.title), description: text.body.map { .value($0) } ?? .null,
                    user: configuration.user
                )
                calls[operation] = Call(method: Methods.notify, payload: request.serializedBuffer(), metadata: bearer)
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
                calls[operation] = Call(method: Methods.sendNotification, payload: request.serializedBuffer(), metadata: metadata)
            case .health:
                calls[operation] = Call(method: Methods.healthCheck, payload: HealthCheckRequest().serializedBuffer(), metadata: Metadata())
            }
        }
        self.calls = calls
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
    /// The client's connection lives here, and answers are taken here.
    let eventLoop: any EventLoop

    init(configuration: LoadConfiguration, workload: RPCWorkload, group: any EventLoopGroup) {
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
        guard let call = workload.calls[operation] else {
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
