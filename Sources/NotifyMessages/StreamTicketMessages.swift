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
