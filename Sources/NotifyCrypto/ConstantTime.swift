internal import COpenSSL

/// Compares two byte strings in time that depends only on their length, so comparing a secret
/// (a token hash, a MAC) against attacker input leaks nothing about where they first differ.
///
/// - Parameters:
///   - a: One byte string.
///   - b: The other.
/// - Returns: `true` when both have the same length and the same bytes; `false` on a length
///   mismatch (lengths are not secret).
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    guard !a.isEmpty else { return true }
    return a.withUnsafeBytes { left in
        b.withUnsafeBytes { right in
            CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
        }
    }
}
