/// Sizes fixed by the wire format, and defaults for the ones a deployment may tune.
public enum Limits {
    /// The default largest frame body, in bytes, either side accepts (4 MiB, as gRPC).
    public static let defaultMaxMessageSize = 4 * 1024 * 1024

    /// The fixed frame prefix: one flag byte and a four-byte big-endian length.
    public static let frameHeaderSize = 5
}
