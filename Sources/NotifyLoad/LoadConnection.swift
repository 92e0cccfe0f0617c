import NIOCore

/// One connection of a run, shared by the calls in flight on it.
protocol LoadConnection: Sendable {
    /// Opens the connection before the clock starts, so that the handshake is
    /// not counted as the first call's latency.
    ///
    /// - Throws: ``LoadConfigurationError`` saying why the server cannot be used.
    func prepare() async throws(LoadConfigurationError)

    /// The loop the connection's channel runs on: the open loop starts each
    /// call from it, so that sending never crosses threads.
    var eventLoop: any EventLoop { get }

    /// Starts one call and returns at once; `completion` gets its outcome,
    /// once, on any thread, possibly before `start` returns. Every failure is
    /// an ``Outcome``. Both loops use it: a task per call cost the generator
    /// more than the call itself, on the cores it shares with the server it
    /// measures.
    func start(_ operation: LoadOperation, completion: @escaping @Sendable (Outcome) -> Void)

    func close() async
}

extension Outcome {
    static let ok = Outcome(status: "OK", isSuccess: true)

    /// The call failed for want of a connection, not by the server's answer.
    var isConnectionFailure: Bool {
        switch status {
        case "NOT_CONNECTED", "CONNECTION_CLOSED", "CONNECTION_FAILED": true
        default: status.hasPrefix("UNAVAILABLE/")
        }
    }
}

/// The pause after a failure to connect, before a closed-loop lane's next call.
let connectFailurePause: Duration = .milliseconds(50)
