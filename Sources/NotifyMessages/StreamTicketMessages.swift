internal import CNotifyProto

/// `notify.v1.CreateStreamTicketRequest`: a ticket for the caller's next
/// stream start; the caller is the bearer token's.
public struct CreateStreamTicketRequest: Hashable, Sendable {
    public init() {}
}

/// `notify.v1.CreateStreamTicketResponse`.
public struct CreateStreamTicketResponse: Hashable, Sendable {
    /// The ticket, shown once: the server keeps only its SHA-256.
    public var ticket: String
    /// RFC 3339 text, as the server wrote it: when the ticket stops being accepted.
    public var expiresDateTime: String

    public init(ticket: String, expiresDateTime: String) {
        self.ticket = ticket
        self.expiresDateTime = expiresDateTime
    }
}

extension CreateStreamTicketResponse: CustomStringConvertible {
    /// Leaves the ticket out, so that logging a response never leaks it.
    public var description: String { "CreateStreamTicketResponse(expiresDateTime: \(expiresDateTime))" }
}

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
