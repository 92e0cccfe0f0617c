import NotifyMessages
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
    /// Service names a health check may ask about.
    static let knownServices: Set<String> = [
        "", "notify.v1.NotificationService", "notify.v1.FeedService", "notify.v1.AdminService", "notify.v1.Health",
    ]

    static func register(into router: inout RPCRouter, state: HealthState) {
        router.registerInline(Methods.healthCheck) { (request: HealthCheckRequest, _) in
            guard knownServices.contains(request.service ?? "") else {
                return HealthCheckResponse(status: .serviceUnknown)
            }
            return HealthCheckResponse(status: state.isServing ? .serving : .notServing)
        }
    }
}
