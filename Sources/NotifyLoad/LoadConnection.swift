/// One connection of a run, shared by the calls in flight on it.
protocol LoadConnection: Sendable {
    /// Opens the connection before the clock starts, so that the handshake is
    /// not counted as the first call's latency.
    ///
    /// - Throws: ``LoadConfigurationError`` saying why the server cannot be used.
    func prepare() async throws(LoadConfigurationError)

    /// Makes one call. It never throws: every failure is an ``Outcome``.
    /// After a failure to connect it waits a little before returning, so that
    /// a closed loop against a dead server counts errors instead of spinning.
    func perform(_ operation: LoadOperation) async -> Outcome

    /// Starts one call and returns at once; `completion` gets its outcome,
    /// once, on any thread. The open loop uses it: a task per call (what
    /// ``perform(_:)`` needs) cost the generator more than the call itself,
    /// on the cores it shares with the server it measures.
    func start(_ operation: LoadOperation, completion: @escaping @Sendable (Outcome) -> Void)

    func close() async
}

extension LoadConnection {
    /// A task per call, for connections with nothing better.
    func start(_ operation: LoadOperation, completion: @escaping @Sendable (Outcome) -> Void) {
        Task { completion(await perform(operation)) }
    }
}

extension Outcome {
    static let ok = Outcome(status: "OK", isSuccess: true)
}

/// The pause after a failure to connect, before the worker's next call.
let connectFailurePause: Duration = .milliseconds(50)
