import NotifyCore

/// Checks of a call's metadata made before the call is routed, the same on a
/// connection and in-process.
///
/// How much metadata a frame may carry is the frame decoder's business
/// (``FrameLimits``); here are the limits on what one key means.
enum CallMetadata {
    /// The longest `idempotency-key`, in UTF-8 bytes: the key is stored with
    /// every notification sent with it, for a day. The gateway forwards a
    /// longer header as it came, so that it gets this error too.
    static let maxIdempotencyKeyBytes = 255

    /// - Returns: INVALID_ARGUMENT `INVALID_METADATA` when a key breaks its
    ///   limit, nil when the call may go on.
    static func violation(in metadata: Metadata) -> RPCError? {
        for key in metadata.values(forKey: "idempotency-key") where key.utf8.count > maxIdempotencyKeyBytes {
            return RPCError(
                code: .invalidArgument,
                message: "idempotency-key is longer than \(maxIdempotencyKeyBytes) bytes (\(key.utf8.count))",
                reason: .invalidMetadata
            )
        }
        return nil
    }
}
