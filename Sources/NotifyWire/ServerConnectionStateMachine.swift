/// The call bookkeeping of one server connection: which calls are in flight, which were cancelled,
/// and whether the connection is open, draining or closed.
///
/// A pure value: no I/O, no clock, no logging. The channel handler reports each event and does what
/// the returned action says, so every rule about concurrency limits, duplicate ids, cancellation and
/// graceful shutdown lives here and is tested without a network.
///
/// A call is in flight from ``receivedRequest(callID:)`` returning ``RequestAction/dispatch`` until
/// ``callCompleted(callID:)``. A cancelled call stays in flight, and counts against the limit, until
/// its handler actually finishes: the work is still running until then.
public struct ServerConnectionStateMachine: Sendable {
    /// Calls in flight, by id; the value is whether the client cancelled the call.
    private struct Calls: Sendable {
        var inFlight: [UInt64: Bool] = [:]
        /// The highest id dispatched, which ``GoAwayFrame/lastCallID`` reports.
        var highestDispatchedID: UInt64 = 0
    }

    private enum State: Sendable {
        /// Accepting calls.
        case active(Calls)
        /// A GoAway was sent: no new calls; close once the last call completes.
        case draining(Calls)
        /// Nothing more will be sent or dispatched.
        case closed
        /// Held only while a case's payload is being mutated, so the dictionary is not copied.
        case modifying
    }

    private let maxConcurrentCalls: Int
    private var state: State

    /// - Parameter maxConcurrentCalls: Calls allowed in flight at once, as announced in ``Settings``.
    public init(maxConcurrentCalls: Int) {
        precondition(maxConcurrentCalls >= 0, "maxConcurrentCalls must not be negative")
        self.maxConcurrentCalls = maxConcurrentCalls
        self.state = .active(Calls())
    }

    /// The calls dispatched and not yet completed, cancelled ones included.
    public var callsInFlight: Int {
        switch self.state {
        case .active(let calls), .draining(let calls):
            calls.inFlight.count
        case .closed:
            0
        case .modifying:
            preconditionFailure("ServerConnectionStateMachine read while modifying")
        }
    }

    // MARK: Requests

    public enum RequestAction: Equatable, Sendable {
        /// Start the call.
        case dispatch
        /// Answer `RESOURCE_EXHAUSTED`: the connection is at ``Settings/maxConcurrentCalls``.
        case rejectTooManyCalls
        /// Answer with an error: a call with this id is still in flight (a client bug).
        case rejectDuplicateCallID
        /// Answer `UNAVAILABLE`: a GoAway was sent, so the client should retry elsewhere.
        case rejectGoingAway
        /// The connection is closed; nothing can be sent.
        case ignore
    }

    /// A `Request` frame arrived.
    public mutating func receivedRequest(callID: UInt64) -> RequestAction {
        switch self.state {
        case .active(var calls):
            if calls.inFlight[callID] != nil {
                return .rejectDuplicateCallID
            }
            if calls.inFlight.count >= self.maxConcurrentCalls {
                return .rejectTooManyCalls
            }
            self.state = .modifying
            calls.inFlight[callID] = false
            calls.highestDispatchedID = max(calls.highestDispatchedID, callID)
            self.state = .active(calls)
            return .dispatch

        case .draining(let calls):
            // A duplicate id is still the more precise answer, even while going away.
            return calls.inFlight[callID] != nil ? .rejectDuplicateCallID : .rejectGoingAway

        case .closed:
            return .ignore

        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    // MARK: Completion

    public enum CompletionAction: Equatable, Sendable {
        /// Send the response.
        case send
        /// Send the response, then close: the connection was draining and this was the last call.
        case sendAndClose
        /// Send nothing: the call was cancelled, is unknown, or the connection is closed.
        case drop
        /// Send nothing and close: the connection was draining and this last call had been cancelled.
        case dropAndClose
    }

    /// A call's handler finished and its final response is ready.
    public mutating func callCompleted(callID: UInt64) -> CompletionAction {
        switch self.state {
        case .active(var calls):
            self.state = .modifying
            let cancelled = calls.inFlight.removeValue(forKey: callID)
            self.state = .active(calls)
            switch cancelled {
            case .none: return .drop
            case .some(true): return .drop
            case .some(false): return .send
            }

        case .draining(var calls):
            self.state = .modifying
            let cancelled = calls.inFlight.removeValue(forKey: callID)
            guard calls.inFlight.isEmpty else {
                self.state = .draining(calls)
                return cancelled == false ? .send : .drop
            }
            self.state = .closed
            return cancelled == false ? .sendAndClose : .dropAndClose

        case .closed:
            return .drop

        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    // MARK: Cancellation

    public enum CancelAction: Equatable, Sendable {
        /// Cancel the call's work; its response will be dropped.
        case cancel
        /// Unknown, already cancelled, or the connection is closed.
        case ignore
    }

    /// A `Cancel` frame arrived.
    public mutating func receivedCancel(callID: UInt64) -> CancelAction {
        switch self.state {
        case .active(var calls):
            guard calls.inFlight[callID] == false else { return .ignore }
            self.state = .modifying
            calls.inFlight[callID] = true
            self.state = .active(calls)
            return .cancel

        case .draining(var calls):
            guard calls.inFlight[callID] == false else { return .ignore }
            self.state = .modifying
            calls.inFlight[callID] = true
            self.state = .draining(calls)
            return .cancel

        case .closed:
            return .ignore

        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    // MARK: Shutdown

    public enum ShutdownAction: Equatable, Sendable {
        /// Nothing in flight: send GoAway and close now.
        case sendGoAwayAndClose(lastCallID: UInt64)
        /// Calls in flight: send GoAway and keep the connection open until they complete.
        case sendGoAway(lastCallID: UInt64)
        /// Already draining or closed.
        case none
    }

    /// The server is shutting down gracefully.
    public mutating func beginGracefulShutdown() -> ShutdownAction {
        switch self.state {
        case .active(let calls):
            if calls.inFlight.isEmpty {
                self.state = .closed
                return .sendGoAwayAndClose(lastCallID: calls.highestDispatchedID)
            }
            self.state = .draining(calls)
            return .sendGoAway(lastCallID: calls.highestDispatchedID)

        case .draining, .closed:
            return .none

        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    /// The idle timer fired: the handler resets it on every inbound frame, so this only decides
    /// whether calls in flight keep the connection open.
    ///
    /// - Returns: `true` if the connection should close now.
    public mutating func idleTimeoutFired() -> Bool {
        switch self.state {
        case .active(let calls):
            guard calls.inFlight.isEmpty else { return false }
            self.state = .closed
            return true

        case .draining, .closed:
            // Draining closes on its last completion; a closed connection has nothing to close.
            return false

        case .modifying:
            preconditionFailure("ServerConnectionStateMachine re-entered while modifying")
        }
    }

    /// The channel closed, for whatever reason; later completions are dropped.
    public mutating func closed() {
        self.state = .closed
    }
}
