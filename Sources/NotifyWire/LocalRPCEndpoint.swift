public import NIOCore

/// Something that answers RPC calls in this process, with no connection.
///
/// The RPC server is one: the REST gateway that runs inside `notifyd serve`
/// calls it through ``NotifyClient`` like a remote client would (same
/// method names, protobuf payloads, metadata, statuses and admission limits),
/// but without encrypting, framing and decrypting each call to itself.
public protocol LocalRPCEndpoint: Sendable {
    /// Runs one unary call to its end.
    ///
    /// - Parameters:
    ///   - method: the full method name, such as `/notify.v1.Notifications/Notify`.
    ///   - deadline: when the caller stops waiting; handlers see it, but the
    ///     call is not cut short in-process.
    /// - Returns: the response, as the server would have framed it.
    func call(
        method: String, metadata: Metadata, payload: ByteBuffer, deadline: ContinuousClock.Instant?
    ) async -> ResponseFrame
}
