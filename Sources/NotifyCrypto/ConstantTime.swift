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
    a.withUnsafeBytes { left in b.withUnsafeBytes { right in constantTimeEquals(left, right) } }
}

/// The same comparison of two strings' UTF-8 bytes (a header a caller sent, and the one it sent
/// before): no Unicode equivalence, so two different byte strings are never equal.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    var (a, b) = (a, b)
    return a.withUTF8 { left in
        b.withUTF8 { right in constantTimeEquals(UnsafeRawBufferPointer(left), UnsafeRawBufferPointer(right)) }
    }
}

private func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard !a.isEmpty else { return true }
    return CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
}
