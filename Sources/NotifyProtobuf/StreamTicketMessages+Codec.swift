internal import CNotifyProto
public import NotifyMessages

extension CreateStreamTicketRequest: WireMessage, EmptyMessageCodec {
    typealias CType = Notify__V1__CreateStreamTicketRequest
}

extension CreateStreamTicketResponse: WireMessage, MessageCodec {
    init(reading message: Notify__V1__CreateStreamTicketResponse, _ reader: FieldReader) throws(MessageError) {
        self.init(
            ticket: try reader.required(reader.string(message.ticket, "ticket"), "ticket"),
            expiresDateTime: try reader.required(
                reader.string(message.expires_date_time, "expires_date_time"), "expires_date_time")
        )
    }

    func write(to message: inout Notify__V1__CreateStreamTicketResponse, _ arena: PackArena) {
        message.ticket = arena.cString(ticket)
        message.expires_date_time = arena.cString(expiresDateTime)
    }
}

extension Notify__V1__CreateStreamTicketRequest: CMessage {
    static var functions: CMessageFunctions<Self> {
        .init(initialize: notify__v1__create_stream_ticket_request__init, unpack: notify__v1__create_stream_ticket_request__unpack)
    }
}

extension Notify__V1__CreateStreamTicketResponse: CMessage {
    static var functions: CMessageFunctions<Self> {
        .init(
            initialize: notify__v1__create_stream_ticket_response__init, unpack: notify__v1__create_stream_ticket_response__unpack)
    }
}
