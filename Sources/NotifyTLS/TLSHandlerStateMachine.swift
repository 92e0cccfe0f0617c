internal import NIOCore

/// The protocol state of one ``TLSHandler``: which phase the connection is in and what the
/// handler must do on each event. It does no I/O and owns no OpenSSL object; the handler runs
/// OpenSSL, feeds the results back in, and performs the returned actions.
///
/// Phases: `idle` (channel not active) → `handshaking` → `active` → `closing` → `closed`.
/// `closing(.clean)` means our close_notify is out and we wait for the peer's (or the close
/// timeout); `closing(.unclean)` means the transport close has been requested and only
/// `channelInactive` is awaited.
struct TLSHandlerStateMachine {
    enum CloseKind: Equatable { case clean, unclean }

    private enum State {
        case idle
        case handshaking
        case active(negotiatedProtocol: String?)
        /// `promise` is the user's close promise while we wait for the peer's close_notify.
        case closing(CloseKind, promise: EventLoopPromise<Void>?)
        case closed
    }

    private var state: State = .idle
    /// When set, a handshake without a negotiated ALPN protocol is a failure.
    private let requiresApplicationProtocol: Bool

    init(requiresApplicationProtocol: Bool) {
        self.requiresApplicationProtocol = requiresApplicationProtocol
    }

    // MARK: Activation and handshake

    enum ActivateAction: Equatable { case startHandshake, none }

    /// The channel became active (or the handler was added to an active one).
    mutating func channelActive() -> ActivateAction {
        switch state {
        case .idle:
            state = .handshaking
            return .startHandshake
        case .handshaking, .active, .closing, .closed:
            return .none
        }
    }

    enum HandshakeAction: Equatable {
        /// Send what OpenSSL produced and wait for more bytes.
        case proceed
        /// Fire the event, then encrypt buffered writes and read any application data.
        case completed(negotiatedProtocol: String?)
        /// Send any alert OpenSSL queued, fire the error and close the transport.
        case fail(TLSError)
    }

    /// Feeds back the result of one `SSL_do_handshake` step.
    ///
    /// - Parameters:
    ///   - result: What the step returned.
    ///   - negotiatedProtocol: The ALPN result, read only when the handshake completed.
    mutating func handshakeStepped(_ result: TLSOperationResult, negotiatedProtocol: () -> String?) -> HandshakeAction {
        guard case .handshaking = state else {
            preconditionFailure("handshake step outside the handshake: \(state)")
        }
        switch result {
        case .incomplete:
            return .proceed
        case .failed(let error):
            state = .closing(.unclean, promise: nil)
            return .fail(error)
        case .complete:
            let negotiated = negotiatedProtocol()
            if requiresApplicationProtocol && negotiated == nil {
                state = .closing(.unclean, promise: nil)
                return .fail(TLSError(code: .alpnMismatch, message: "the peer negotiated no application protocol (ALPN)"))
            }
            state = .active(negotiatedProtocol: negotiated)
            return .completed(negotiatedProtocol: negotiated)
        }
    }

    /// The handshake timer fired.
    mutating func handshakeTimedOut(after timeout: TimeAmount) -> HandshakeAction? {
        switch state {
        case .handshaking:
            state = .closing(.unclean, promise: nil)
            let milliseconds = timeout.nanoseconds / 1_000_000
            return .fail(TLSError(code: .handshakeTimeout, message: "the TLS handshake did not finish within \(milliseconds) ms"))
        case .idle, .active, .closing, .closed:
            return nil
        }
    }

    // MARK: Reading

    enum ReadAction: Equatable {
        /// Step the handshake with the new bytes.
        case handshake
        /// Decrypt application data (also while waiting for the peer's close_notify).
        case readApplicationData
        /// Drop the bytes: the connection is being torn down.
        case discard
    }

    /// Ciphertext arrived from the network.
    func channelRead() -> ReadAction {
        switch state {
        case .handshaking: .handshake
        case .active, .closing(.clean, _): .readApplicationData
        case .idle, .closing(.unclean, _), .closed: .discard
        }
    }

    enum PeerClosedAction: Equatable {
        /// The peer closed first: answer with our close_notify, flush, close the transport.
        case replyAndClose
        /// The peer answered our close_notify: close the transport, completing the promise.
        case closeTransport(EventLoopPromise<Void>?)
        case none
    }

    /// `SSL_read` reported the peer's close_notify.
    mutating func receivedCloseNotify() -> PeerClosedAction {
        switch state {
        case .active:
            state = .closing(.unclean, promise: nil)
            return .replyAndClose
        case .closing(.clean, let promise):
            state = .closing(.unclean, promise: nil)
            return .closeTransport(promise)
        case .idle, .handshaking, .closing(.unclean, _), .closed:
            return .none
        }
    }

    enum FailAction: Equatable {
        /// Fire the error and close the transport (flushing any alert first).
        case fireErrorAndClose(TLSError, closePromise: EventLoopPromise<Void>?)
        /// Already tearing down: drop it.
        case ignore
    }

    /// A read, write or shutdown step failed after the handshake.
    mutating func failed(_ error: TLSError) -> FailAction {
        switch state {
        case .idle, .handshaking, .active:
            state = .closing(.unclean, promise: nil)
            return .fireErrorAndClose(error, closePromise: nil)
        case .closing(.clean, let promise):
            state = .closing(.unclean, promise: nil)
            return .fireErrorAndClose(error, closePromise: promise)
        case .closing(.unclean, _), .closed:
            return .ignore
        }
    }

    // MARK: Writing

    enum WriteAction: Equatable { case buffer, fail(TLSError) }

    /// The application wrote plaintext.
    func write() -> WriteAction {
        switch state {
        case .idle, .handshaking, .active:
            .buffer
        case .closing, .closed:
            .fail(TLSError(code: .closed, message: "write after the TLS connection started closing"))
        }
    }

    enum FlushAction: Equatable { case encryptAndFlush, none }

    /// The application flushed; before the handshake completes writes stay buffered.
    func flush() -> FlushAction {
        switch state {
        case .active: .encryptAndFlush
        case .idle, .handshaking, .closing, .closed: .none
        }
    }

    // MARK: Closing

    enum CloseAction: Equatable {
        /// Encrypt buffered writes, send close_notify, flush, start the close timer.
        case sendCloseNotify
        /// Close the transport now with this promise.
        case closeTransport(EventLoopPromise<Void>?)
        /// A close is already waiting for the peer: complete this promise with that one.
        case chain(EventLoopPromise<Void>, to: EventLoopPromise<Void>)
        case none
    }

    /// The application asked to close.
    mutating func close(promise: EventLoopPromise<Void>?) -> CloseAction {
        switch state {
        case .idle, .handshaking:
            // No TLS session to close cleanly yet.
            state = .closing(.unclean, promise: nil)
            return .closeTransport(promise)
        case .active:
            state = .closing(.clean, promise: promise)
            return .sendCloseNotify
        case .closing(.clean, let existing):
            guard let promise else { return .none }
            guard let existing else {
                state = .closing(.clean, promise: promise)
                return .none
            }
            return .chain(promise, to: existing)
        case .closing(.unclean, _), .closed:
            // Let the channel complete (or fail) it as for any repeated close.
            return .closeTransport(promise)
        }
    }

    /// Our close_notify is out and the peer's had already arrived (`SSL_shutdown` returned 1).
    mutating func shutdownCompleted() -> CloseAction {
        switch state {
        case .closing(.clean, let promise):
            state = .closing(.unclean, promise: nil)
            return .closeTransport(promise)
        case .idle, .handshaking, .active, .closing(.unclean, _), .closed:
            return .none
        }
    }

    /// The peer did not answer our close_notify in time.
    mutating func closeTimedOut() -> CloseAction {
        shutdownCompleted()
    }

    // MARK: Inactive

    struct InactiveAction: Equatable {
        /// An error to fire before `channelInactive`: the connection ended without a clean close.
        var error: TLSError?
        /// A close promise that was waiting for the peer; the channel is closed now, so succeed it.
        var closePromise: EventLoopPromise<Void>?
    }

    /// The transport closed.
    mutating func channelInactive() -> InactiveAction {
        let previous = state
        state = .closed
        switch previous {
        case .idle, .closed, .closing(.unclean, _):
            return InactiveAction()
        case .handshaking:
            return InactiveAction(error: TLSError(code: .handshakeFailed, message: "the peer closed the connection during the TLS handshake"))
        case .active:
            return InactiveAction(error: TLSError(code: .uncleanShutdown, message: "the peer closed the connection without a TLS close_notify"))
        case .closing(.clean, let promise):
            return InactiveAction(closePromise: promise)
        }
    }

    /// Whether the handshake finished and the connection has not started closing.
    var isActive: Bool {
        if case .active = state { return true }
        return false
    }

    /// The ALPN protocol of an established connection.
    var negotiatedProtocol: String? {
        if case .active(let negotiated) = state { return negotiated }
        return nil
    }
}
