internal import CNotifyProto
public import NotifyMessages

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
