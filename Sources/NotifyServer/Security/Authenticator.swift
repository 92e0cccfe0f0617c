import Foundation
import NotifyCore
import NotifyCrypto
import NotifyDomain

/// Resolves a call's bearer token to its caller.
///
/// Tokens are opaque; the store keeps only their SHA-256, which is compared
/// in constant time after the lookup so that a stored hash never leaks
/// through timing.
struct Authenticator: Sendable {
    let lookups: CachedLookups

    /// - Throws: ``CallerError`` (a token missing, malformed, unknown, revoked
    ///   or expired); ``LookupMiss`` when the token must be loaded first.
    /// - Parameter memo: the caller's last token, so that a token sent
    ///   again is not parsed and hashed again.
    func authenticate(
        _ metadata: Metadata, memo: CallerMemo? = nil, known: KnownLookups, now: Timestamp = .now()
    ) throws -> Caller {
        guard let header = metadata["authorization"] else {
            throw CallerError.missingToken
        }
        let tokenHash: (String) -> [UInt8]? = { Self.bearerToken($0).map { SHA256.hash($0.utf8) } }
        guard let hash = memo.map({ $0.hash(for: header, compute: tokenHash) }) ?? tokenHash(header) else {
            throw CallerError.malformedAuthorization
        }
        guard let record = try lookups.token(hash: hash, known: known), constantTimeEquals(record.hash, hash) else {
            throw CallerError.invalidToken
        }
        guard !record.revoked else {
            throw CallerError.tokenRevoked
        }
        guard record.expiresAt > now else {
            throw CallerError.tokenExpired
        }
        return Caller(principal: record.principal, roles: record.roles, tokenID: record.id, expiresAt: record.expiresAt)
    }

    /// Extracts the token of "Bearer <token>" (the scheme is case-insensitive).
    ///
    /// It runs on every call, so it scans UTF-8 bytes instead of splitting
    /// and lower-casing strings.
    static func bearerToken(_ header: String) -> String? {
        let utf8 = Substring(header).utf8
        let scheme = "bearer".utf8
        guard utf8.count > scheme.count,
            ASCII.equalsIgnoringCase(utf8.prefix(scheme.count), scheme)
        else { return nil }
        let rest = utf8.dropFirst(scheme.count)
        let isSpace: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard let separator = rest.first, isSpace(separator),
            let start = rest.firstIndex(where: { !isSpace($0) }),
            let end = rest.lastIndex(where: { !isSpace($0) })
        else { return nil }
        return String(Substring(rest[start...end]))
    }
}
