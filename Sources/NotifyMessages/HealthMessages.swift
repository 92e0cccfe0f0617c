internal import CNotifyProto

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

extension HealthCheckRequest: WireMessage, MessageCodec {
    init(reading message: Notify__V1__HealthCheckRequest, _ reader: FieldReader) throws(MessageError) {
        self.init(service: try reader.string(message.service, "service"))
    }

    func write(to message: inout Notify__V1__HealthCheckRequest, _ arena: PackArena) {
        message.service = arena.cString(service)
    }
}

extension HealthCheckResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__HealthCheckResponse, _ reader: FieldReader) {
        // Absent is proto2's default, the first value: UNKNOWN.
        let status: ServingStatus =
            switch message.status {
            case NOTIFY__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING: .serving
            case NOTIFY__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING: .notServing
            case NOTIFY__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN: .serviceUnknown
            default: .unknown
            }
        self.init(status: message.has_status != 0 ? status : .unknown)
    }

    func write(to message: inout Notify__V1__HealthCheckResponse, _ arena: PackArena) {
        message.has_status = 1
        message.status =
            switch status {
            case .unknown: NOTIFY__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__UNKNOWN
            case .serving: NOTIFY__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
            case .notServing: NOTIFY__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
            case .serviceUnknown: NOTIFY__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN
            }
    }
}
