package import NIOCore
package import NotifyWire

/// The protocol state of one server connection: the calls in flight, whether
/// frames are read or held back while the client does not read its answers,
/// and how the connection ends (idle, first-call timeout, graceful shutdown,
/// the client's goaway, a connection error).
///
/// A pure value: no I/O, no clock, no logging. The channel handler reports
/// each event (with the time, where it matters) and does what the returned
/// action says, so every rule lives here and is tested without a network.
///
/// - A call is in flight from ``receivedRequest(callID:)`` returning
///   ``RequestAction/dispatch`` until ``callCompleted(callID:)``. A cancelled
///   call stays in flight, and counts against the limit, until its handler
///   actually finishes: the work is still running until then.
/// - Every goaway carries the highest call id admitted, so a client knows
///   which of its calls were seen; each admitted call is still answered while
///   the connection drains.
/// - A draining connection closes once nothing is in flight, and, after the
///   server's own goaway, once the client answered the ping sent behind it:
///   requests the client wrote before it read the goaway arrive before that
///   pong and are answered UNAVAILABLE `GOING_AWAY`, not lost in a close.
/// - Frames read while the channel is not writable are held, in order, and
///   no more are read until the client has read its answers.
///
/// An event that cannot happen in the current state (a frame handed in after
/// the close, a state read while modifying) fails a precondition.
package struct ServerConnectionStateMachine: Sendable {
    /// The opaque value of the ping that follows the server's goaway: its
    /// pong says the client has read the goaway.
    package static let goAwayPingOpaque: UInt64 = 0x676F_6177_6179  // "goaway"

    /// The calls in flight and the frames held back: what every open state keeps.
    private struct Connection: Sendable {
        /// Calls in flight, by id; the value is whether the client cancelled the call.
        var inFlight: [UInt64: Bool] = [:]
        /// The highest id admitted, which every goaway reports.
        var highestAdmittedID: UInt64 = 0
        /// Whether the channel takes writes (below its high watermark).
        var writable = true
        /// Frames read while the channel could not write, in order. Nil until
        /// a client fills its channel: a `CircularBuffer` allocates when made,
        /// and most connections never need one.
        var held: CircularBuffer<Frame>?
        /// A read was asked for while frames were held or the channel was full.
        var readHeldBack = false

        /// Frames read now are handled at once.
        var handlesAtOnce: Bool { held == nil && writable }
    }

    private struct Active: Sendable {
        var connection = Connection()
        /// TLS completed its handshake: the client can have sent frames.
        var handshakeDone = false
        /// The handshake completed and no request came yet.
        var awaitingFirstCall = false
        /// When the last frame arrived (or the handshake completed).
        var lastActivity: NIODeadline
    }

    /// Why a connection drains.
    private enum DrainReason: Sendable, Equatable {
        /// The server sent its goaway and a ping; `awaitingPong` until the client answers it.
        case serverShutdown(awaitingPong: Bool)
        /// The client sent a goaway: it starts no new calls.
        case clientGoAway
        /// A frame broke the protocol: nothing more is read.
        case connectionError
    }

    private struct Draining: Sendable {
        var connection: Connection
        var reason: DrainReason

        /// Nothing in flight and nothing more to wait for.
        var canClose: Bool {
            connection.inFlight.isEmpty && reason != .serverShutdown(awaitingPong: true)
        }
    }

    private enum State: Sendable {
        /// Accepting calls.
        case active(Active)
        /// A goaway was sent: no new calls; close once the calls in flight are answered.
        case draining(Draining)
        /// Nothing more will be read, sent or dispatched.
        case closed
        /// Held only while a case's payload is being mutated, so its storage is not copied.
        case modifying
    }

    private let maxConcurrentCalls: Int
    private let idleTimeout: TimeAmount?
    private var state: State

    /// - Parameters:
    ///   - maxConcurrentCalls: Calls allowed in flight at once, as announced in ``Settings``.
    ///   - idleTimeout: How long a connection with nothing in flight may stay quiet; nil: forever.
    ///   - now: When the connection was accepted.
    package init(maxConcurrentCalls: Int, idleTimeout: TimeAmount? = nil, now: NIODeadline = .uptimeNanoseconds(0)) {
        precondition(maxConcurrentCalls >= 0, "maxConcurrentCalls must not be negative")
        self.maxConcurrentCalls = maxConcurrentCalls
        self.idleTimeout = idleTimeout
        self.state = .active(Active(lastActivity: now))
    }

    /// The calls admitted and not yet completed, cancelled ones included.
    package var callsInFlight: Int {
        switch state {
        case .active(let active): active.connection.inFlight.count
        case .draining(let draining): draining.connection.inFlight.count
        case .closed: 0
        case .modifying: preconditionFailure("ServerConnectionStateMachine read while modifying")
        }
    }

    /// Frames read and not yet handled.
    package var heldFrames: Int {
        switch state {
        case .active(let active): active.connection.held?.count ?? 0
        case .draining(let draining): draining.connection.held?.count ?? 0
        case .closed: 0
        case .modifying: preconditionFailure("ServerConnectionStateMachine read while modifying")
        }
    }

    /// Whether the connection stopped reading for good after a connection
    /// error: the decoder's complaints about the bytes behind it are expected.
    package var stoppedReadingAfterError: Bool {
        if case .draining(let draining) = state { return draining.reason == .connectionError }
        return false
    }

    // MARK: Handshake and timers

    package enum HandshakeAction: Equatable, Sendable {
        /// Send ``Settings`` and arm the idle and first-call timers.
        case sendSettings
        /// The connection is closed.
        case none
    }

    /// TLS completed its handshake: the client may send frames now.
    package mutating func handshakeCompleted(now: NIODeadline) -> HandshakeAction {
        switch state {
        case .active(var active):
            active.handshakeDone = true
            active.awaitingFirstCall = true
            active.lastActivity = now
            state = .active(active)
            return .sendSettings
        case .draining:
            // Shutdown began during the handshake: the goaway is waiting behind TLS.
            return .sendSettings
        case .closed:
            return .none
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    package enum TimerAction: Equatable, Sendable {
        /// Send a goaway with status 0 and close.
        case sendGoAwayAndClose(lastCallID: UInt64)
        /// Check again at this time.
        case recheck(at: NIODeadline)
        /// Nothing to do, and no need to check again.
        case none
    }

    /// The first-call timer fired: a connection that has sent no request
    /// since its handshake gives its place back.
    package mutating func firstCallTimerFired() -> TimerAction {
        switch state {
        case .active(let active):
            guard active.awaitingFirstCall else { return .none }
            state = .closed
            return .sendGoAwayAndClose(lastCallID: active.connection.highestAdmittedID)
        case .draining, .closed:
            return .none
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    /// The idle timer fired. A connection closes when nothing is in flight
    /// and no frame came for the idle timeout.
    package mutating func idleTimerFired(now: NIODeadline) -> TimerAction {
        guard let idleTimeout else { return .none }
        switch state {
        case .active(let active):
            guard active.connection.inFlight.isEmpty else { return .recheck(at: now + idleTimeout) }
            let quietUntil = active.lastActivity + idleTimeout
            guard now >= quietUntil else { return .recheck(at: quietUntil) }
            state = .closed
            return .sendGoAwayAndClose(lastCallID: active.connection.highestAdmittedID)
        case .draining, .closed:
            // Draining closes on its own; a closed connection has nothing to close.
            return .none
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    // MARK: Reading and back-pressure

    package enum ReadAction: Equatable, Sendable {
        /// Read from the socket.
        case read
        /// Not now: the read is remembered (or, after a connection error or the close, dropped).
        case holdBack
    }

    /// The pipeline asks for a read.
    package mutating func readRequested() -> ReadAction {
        switch state {
        case .active(var active):
            if active.connection.handlesAtOnce { return .read }
            active.connection.readHeldBack = true
            state = .active(active)
            return .holdBack
        case .draining(var draining):
            guard draining.reason != .connectionError else { return .holdBack }
            if draining.connection.handlesAtOnce { return .read }
            draining.connection.readHeldBack = true
            state = .draining(draining)
            return .holdBack
        case .closed:
            return .holdBack
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    package enum FrameAction: Equatable, Sendable {
        /// Handle the frame now.
        case handle
        /// Held (until the channel drains) or dropped (after a connection error or the close).
        case none
    }

    /// A frame was read. It counts as activity for the idle timeout.
    package mutating func frameRead(_ frame: Frame, now: NIODeadline) -> FrameAction {
        switch state {
        case .active(var active):
            if active.connection.handlesAtOnce {
                active.lastActivity = now
                state = .active(active)
                return .handle
            }
            state = .modifying
            active.lastActivity = now
            active.connection.held = active.connection.held ?? CircularBuffer()
            active.connection.held?.append(frame)
            state = .active(active)
            return .none
        case .draining(var draining):
            guard draining.reason != .connectionError else { return .none }
            if draining.connection.handlesAtOnce { return .handle }
            state = .modifying
            draining.connection.held = draining.connection.held ?? CircularBuffer()
            draining.connection.held?.append(frame)
            state = .draining(draining)
            return .none
        case .closed:
            return .none
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    package enum WritabilityAction: Equatable, Sendable {
        /// Handle the held frames (``nextHeldFrame()``) and resume reading.
        case resumeHeld
        case none
    }

    /// The channel's writability changed.
    package mutating func writabilityChanged(writable: Bool) -> WritabilityAction {
        switch state {
        case .active(var active):
            active.connection.writable = writable
            state = .active(active)
            let waiting = active.connection.held != nil || active.connection.readHeldBack
            return writable && waiting ? .resumeHeld : .none
        case .draining(var draining):
            draining.connection.writable = writable
            state = .draining(draining)
            let waiting = draining.connection.held != nil || draining.connection.readHeldBack
            return writable && waiting && draining.reason != .connectionError ? .resumeHeld : .none
        case .closed:
            return .none
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    package enum HeldAction: Equatable, Sendable {
        /// Handle this frame, then ask again.
        case handle(Frame)
        /// Every held frame is handled and a read was held back: read now.
        case read
        /// Stop: the channel filled again, nothing is held, or the connection closed.
        case stop
    }

    /// The next held frame to handle, while the channel is writable.
    package mutating func nextHeldFrame() -> HeldAction {
        switch state {
        case .active(var active):
            state = .modifying
            let action = Self.nextHeld(&active.connection)
            state = .active(active)
            return action
        case .draining(var draining):
            guard draining.reason != .connectionError else { return .stop }
            state = .modifying
            let action = Self.nextHeld(&draining.connection)
            state = .draining(draining)
            return action
        case .closed:
            return .stop
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    private static func nextHeld(_ connection: inout Connection) -> HeldAction {
        guard connection.writable else { return .stop }
        if let frame = connection.held?.popFirst() {
            return .handle(frame)
        }
        connection.held = nil
        guard connection.readHeldBack else { return .stop }
        connection.readHeldBack = false
        return .read
    }

    // MARK: Requests

    package enum RequestAction: Equatable, Sendable {
        /// Start the call.
        case dispatch
        /// Answer `RESOURCE_EXHAUSTED`: the connection is at ``Settings/maxConcurrentCalls``.
        case rejectTooManyCalls
        /// A call with this id is still in flight (a client bug): a connection
        /// error (``connectionError()``).
        case rejectDuplicateCallID
        /// Answer `UNAVAILABLE` `GOING_AWAY`: a goaway was sent, so the client should retry elsewhere.
        case rejectGoingAway
        /// Nothing is read any more; nothing can be sent.
        case ignore
    }

    /// A `request` frame arrived.
    package mutating func receivedRequest(callID: UInt64) -> RequestAction {
        switch state {
        case .active(var active):
            active.awaitingFirstCall = false
            if active.connection.inFlight[callID] != nil {
                state = .active(active)
                return .rejectDuplicateCallID
            }
            if active.connection.inFlight.count >= maxConcurrentCalls {
                state = .active(active)
                return .rejectTooManyCalls
            }
            state = .modifying
            active.connection.inFlight[callID] = false
            active.connection.highestAdmittedID = max(active.connection.highestAdmittedID, callID)
            state = .active(active)
            return .dispatch

        case .draining(let draining):
            guard draining.reason != .connectionError else { return .ignore }
            // A duplicate id is still the more precise answer, even while going away.
            return draining.connection.inFlight[callID] != nil ? .rejectDuplicateCallID : .rejectGoingAway

        case .closed:
            return .ignore

        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    // MARK: Completion

    package enum CompletionAction: Equatable, Sendable {
        /// Send the response.
        case send
        /// Send the response, then close: the connection was draining and this was the last call.
        case sendAndClose
        /// Send nothing: the call was cancelled, is unknown, or the connection is closed.
        case drop
        /// Send nothing and close: the connection was draining and this last call had been cancelled.
        case dropAndClose
    }

    /// A call's handler finished (or its deadline passed) and its final response is ready.
    package mutating func callCompleted(callID: UInt64) -> CompletionAction {
        switch state {
        case .active(var active):
            state = .modifying
            let cancelled = active.connection.inFlight.removeValue(forKey: callID)
            state = .active(active)
            return cancelled == false ? .send : .drop

        case .draining(var draining):
            state = .modifying
            let cancelled = draining.connection.inFlight.removeValue(forKey: callID)
            guard draining.canClose else {
                state = .draining(draining)
                return cancelled == false ? .send : .drop
            }
            state = .closed
            return cancelled == false ? .sendAndClose : .dropAndClose

        case .closed:
            return .drop

        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    // MARK: Cancellation

    package enum CancelAction: Equatable, Sendable {
        /// Cancel the call's work; its response will be dropped.
        case cancel
        /// Unknown, already cancelled, or the connection is closed.
        case ignore
    }

    /// A `cancel` frame arrived.
    package mutating func receivedCancel(callID: UInt64) -> CancelAction {
        switch state {
        case .active(var active):
            guard active.connection.inFlight[callID] == false else { return .ignore }
            state = .modifying
            active.connection.inFlight[callID] = true
            state = .active(active)
            return .cancel

        case .draining(var draining):
            guard draining.connection.inFlight[callID] == false else { return .ignore }
            state = .modifying
            draining.connection.inFlight[callID] = true
            state = .draining(draining)
            return .cancel

        case .closed:
            return .ignore

        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    // MARK: Goaways

    package enum GoAwayAction: Equatable, Sendable {
        /// Send a goaway with this id; calls in flight drain, and the server
        /// streams among them are ended at once.
        case sendGoAway(lastCallID: UInt64)
        /// Send a goaway with this id, then a ping with ``goAwayPingOpaque``; calls in flight drain.
        case sendGoAwayAndPing(lastCallID: UInt64)
        /// Send a goaway with this id and close: nothing is in flight.
        case sendGoAwayAndClose(lastCallID: UInt64)
        /// Close now, sending nothing more.
        case close
        /// Nothing to do.
        case none
    }

    /// The server is shutting down gracefully: no new calls; the calls in
    /// flight are answered, and requests that cross the goaway are answered
    /// `GOING_AWAY` until the client answers the ping that follows it.
    package mutating func beginGracefulShutdown() -> GoAwayAction {
        switch state {
        case .active(let active):
            guard active.handshakeDone else {
                // Still in its TLS handshake: the client has sent nothing, and a goaway could not
                // reach it before the handshake ends; closing now keeps the drain short.
                state = .closed
                return .close
            }
            state = .draining(Draining(connection: active.connection, reason: .serverShutdown(awaitingPong: true)))
            return .sendGoAwayAndPing(lastCallID: active.connection.highestAdmittedID)
        case .draining, .closed:
            return .none
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    /// A `pong` arrived.
    package mutating func receivedPong(opaque: UInt64) -> GoAwayAction {
        switch state {
        case .draining(var draining):
            guard opaque == Self.goAwayPingOpaque, draining.reason == .serverShutdown(awaitingPong: true) else {
                return .none
            }
            draining.reason = .serverShutdown(awaitingPong: false)
            guard draining.canClose else {
                state = .draining(draining)
                return .none
            }
            state = .closed
            return .close
        case .active, .closed:
            return .none
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    /// The client sent a goaway: it starts no new calls on this connection.
    /// The server answers with its own (status 0, the highest id admitted),
    /// answers the calls in flight, then closes.
    package mutating func receivedGoAway() -> GoAwayAction {
        switch state {
        case .active(let active):
            let draining = Draining(connection: active.connection, reason: .clientGoAway)
            let lastCallID = active.connection.highestAdmittedID
            guard !draining.canClose else {
                state = .closed
                return .sendGoAwayAndClose(lastCallID: lastCallID)
            }
            state = .draining(draining)
            return .sendGoAway(lastCallID: lastCallID)
        case .draining(var draining):
            // The server's goaway is out already; only the ping need not be waited for.
            guard draining.reason == .serverShutdown(awaitingPong: true) else { return .none }
            draining.reason = .clientGoAway
            guard draining.canClose else {
                state = .draining(draining)
                return .none
            }
            state = .closed
            return .close
        case .closed:
            return .none
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    /// A frame broke the protocol (it does not decode, is too large, reuses a
    /// call id in flight, or is a kind a client may not send). Nothing more
    /// is read: the bytes behind it cannot be trusted. The goaway names the
    /// highest call id admitted; those calls are still answered, then the
    /// connection closes.
    package mutating func connectionError() -> GoAwayAction {
        let connection: Connection
        switch state {
        case .active(let active):
            connection = active.connection
        case .draining(let draining):
            guard draining.reason != .connectionError else { return .none }
            connection = draining.connection
        case .closed:
            return .none
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
        var draining = Draining(connection: connection, reason: .connectionError)
        draining.connection.held = nil
        draining.connection.readHeldBack = false
        guard !draining.canClose else {
            state = .closed
            return .sendGoAwayAndClose(lastCallID: connection.highestAdmittedID)
        }
        state = .draining(draining)
        return .sendGoAway(lastCallID: connection.highestAdmittedID)
    }

    /// The channel closed, for whatever reason; later events do nothing.
    package mutating func closed() {
        state = .closed
    }
}
