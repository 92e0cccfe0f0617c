import Foundation
import NotifyDomain
import NotifyCrypto
import NotifyWire

/// Resolves a call's bearer token to its caller.
///
/// Tokens are opaque; the store keeps only their SHA-256, which is compared
/// in constant time after the lookup so that a stored hash never leaks
/// through timing.
struct Authenticator: Sendable {
    let lookups: CachedLookups

    /// - Throws: ``RPCError`` UNAUTHENTICATED with reason MISSING_TOKEN or INVALID_TOKEN.
    func authenticate(_ metadata: Metadata, now: Date = Date()) async throws -> Caller {
        guard let header = metadata["authorization"] else {
            throw RPCError(code: .unauthenticated, message: "a bearer token is required", reason: "MISSING_TOKEN")
        }
        guard let token = Self.bearerToken(header) else {
            throw RPCError(
                code: .unauthenticated, message: "the authorization must be \"Bearer <token>\"", reason: "INVALID_TOKEN"
            )
        }
        let hash = SHA256.hash(Array(token.utf8))
        guard let record = try await lookups.token(hash: hash), constantTimeEquals(record.hash, hash) else {
            throw RPCError(code: .unauthenticated, message: "the token is not valid", reason: "INVALID_TOKEN")
        }
        guard !record.revoked else {
            throw RPCError(code: .unauthenticated, message: "the token was revoked", reason: "TOKEN_REVOKED")
        }
        guard record.expiresAt > now else {
            throw RPCError(code: .unauthenticated, message: "the token has expired", reason: "TOKEN_EXPIRED")
        }
        return Caller(principal: record.principal, roles: record.roles, tokenID: record.id)
    }

    /// Extracts the token of "Bearer <token>" (the scheme is case-insensitive).
    static func bearerToken(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}
