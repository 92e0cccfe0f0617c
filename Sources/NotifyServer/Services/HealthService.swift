import NotifyMessages
import NotifyStorage
import Synchronization

/// Whether the server is serving, for `/notify.v1.Health/Check`.
///
/// The server turns it to not-serving when graceful shutdown begins, so that
/// load balancers stop sending new work while calls in flight drain.
public final class HealthState: Sendable {
    private let serving = Mutex(true)

    public init() {}

    public var isServing: Bool {
        get { serving.withLock { $0 } }
        set { serving.withLock { $0 = newValue } }
    }
}

enum HealthService {
    /// The service name of readiness: SERVING only while the server is not
    /// draining and its store can write. The default service (`""`) and the
    /// others report liveness, which a full disk does not change, so that an
    /// orchestrator does not restart a process that waits for space.
    static let readinessService = "notify.v1.Readiness"

    /// Service names a health check may ask about.
    static let knownServices: Set<String> = [
        "", "notify.v1.NotificationService", "notify.v1.FeedService", "notify.v1.AdminService", "notify.v1.Health",
        readinessService,
    ]

    static func register(into router: inout RPCRouter, state: HealthState, store: any NotificationLog) {
        router.registerInline(Methods.healthCheck) { (request: HealthCheckRequest, _) in
            let service = request.service ?? ""
            guard knownServices.contains(service) else {
                return HealthCheckResponse(status: .serviceUnknown)
            }
            let serving = state.isServing && (service != readinessService || store.isWritable)
            return HealthCheckResponse(status: serving ? .serving : .notServing)
        }
    }
}
