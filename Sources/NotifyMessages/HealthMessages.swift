/// `notify.v1.HealthCheckRequest`: which service a probe asks about.
public struct HealthCheckRequest: Hashable, Sendable {
    /// Absent or empty: the whole server. Otherwise a service name such as
    /// `notify.v1.NotificationService`.
    public var service: String?

    public init(service: String? = nil) {
        self.service = service
    }
}

/// `notify.v1.HealthCheckResponse`.
public struct HealthCheckResponse: Hashable, Sendable {
    /// grpc.health.v1's statuses. The set is fixed by that protocol, so an
    /// enum; a number this version does not know decodes as `unknown`.
    public enum ServingStatus: Hashable, Sendable, CaseIterable {
        case unknown
        case serving
        case notServing
        case serviceUnknown
    }

    public var status: ServingStatus

    public init(status: ServingStatus) {
        self.status = status
    }
}
