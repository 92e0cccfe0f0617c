/// Why the checks every authenticated call shares (``Authenticator``,
/// ``CallerGuard``, ``RateLimiter``, ``AuthFailureLimiter``) refuse a caller.
///
/// ``ErrorMapping`` turns each case into UNAUTHENTICATED, PERMISSION_DENIED or
/// RESOURCE_EXHAUSTED with its reason and `retry-after`, in one exhaustive
/// switch.
enum CallerError: Error, Hashable, Sendable {
    /// No `authorization` metadata.
    case missingToken
    /// `authorization` is not `Bearer <token>`.
    case malformedAuthorization
    /// No token has this hash.
    case invalidToken
    case tokenRevoked
    case tokenExpired
    /// The caller is on the blocked list.
    case blocked
    /// The caller's rate limit is spent: whole seconds to wait, 1 to 86,400.
    case throttled(retryAfterSeconds: Int)
    /// The peer address failed to authenticate too often: whole seconds to wait.
    case addressThrottled(retryAfterSeconds: Int)

    /// Whole seconds to wait for a token bucket's `wait`: at least 1, at most a
    /// day (a rate near zero, or not finite, waits a day instead of trapping).
    static func retryAfterSeconds(_ wait: Double) -> Int {
        wait.isFinite ? Int(min(max(1, wait.rounded(.up)), 86_400)) : 86_400
    }
}
