import NotifyCrypto
import NotifyDomain
import NotifyStorage

/// Stream tickets: short-lived, single-use credentials that start one live
/// stream as the token that obtained them.
///
/// They exist for browsers: an EventSource cannot send an Authorization
/// header, so its page obtains a ticket with its token (a fetch can send
/// headers) and puts the ticket in the stream's URL, where proxies and
/// histories may keep it. That is why a ticket lives about a minute, is
/// gone once redeemed, only starts streams, and is stored as its hash
/// (docs/SECURITY.md, "Stream tickets").
enum StreamTickets {
    /// The metadata a stream start carries its ticket in, instead of `authorization`.
    static let metadataKey = "x-stream-ticket"

    /// How long a ticket is accepted: long enough for a page to open its
    /// stream, short enough that one read from a log is already dead.
    static let lifetimeSeconds: Int64 = 60

    /// SHA-256 of the ticket's text: what the store keeps and looks up.
    static func hash(_ ticket: String) -> [UInt8] {
        SHA256.hash(Array(ticket.utf8))
    }

    /// Makes and stores a ticket for `caller`'s token.
    ///
    /// It expires ``lifetimeSeconds`` from now, or with its token when that
    /// comes first, so that a ticket never outlives what it stands for.
    /// - Returns: the ticket's text (shown once) and its expiry.
    static func issue(
        for caller: Caller, store: any Directory, now: Timestamp = .now()
    ) async throws(StorageError) -> (ticket: String, expiresAt: Timestamp) {
        let ticket = "nst_" + Base64URL.encode(SecureRandom.bytes(count: 32))
        var expiresAt = now.truncatedToMilliseconds.adding(seconds: lifetimeSeconds)
        if let tokenExpiry = caller.expiresAt, tokenExpiry < expiresAt { expiresAt = tokenExpiry }
        try await store.insertStreamTicket(StreamTicketRecord(hash: hash(ticket), tokenID: caller.tokenID, expiresAt: expiresAt))
        return (ticket, expiresAt)
    }
}
