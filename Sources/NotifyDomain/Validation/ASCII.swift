/// Byte-level text checks for protocol tokens (header names, auth schemes),
/// which are ASCII and compared without regard to case.
public enum ASCII {
    /// Whether `bytes` spell `lowercased` (lower-case ASCII), A–Z read as a–z.
    ///
    /// Only letters are folded, so "\r" never passes for "-". Inlinable: it
    /// runs for every header of every request.
    @inlinable
    public static func equalsIgnoringCase(_ bytes: some Collection<UInt8>, _ lowercased: some Collection<UInt8>) -> Bool {
        bytes.count == lowercased.count
            && zip(bytes, lowercased).allSatisfy { byte, want in
                byte == want || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") && byte | 0x20 == want)
            }
    }
}
