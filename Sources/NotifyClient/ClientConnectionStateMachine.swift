import NIOCore
import NotifyCore
import NotifyWire

/// What one client connection is doing with its calls, and what each event
/// makes it do.
///
/// ``ClientConnectionHandler`` feeds it the connection's events (the server's
/// frames, calls started and given up, timers, the close) and carries out the
/// actions it returns: it writes the frames, completes the calls, and runs the
/// timers. The machine does no I/O, keeps no clock (an event that needs the
/// time is given `now`) and never logs, so that every rule below is tested as
/// a plain value.
///
/// The rules (docs/PROTOCOL.md, "What a client does with its calls"):
/// - Calls started before the server's `settings` wait; the settings' limits
///   then apply: at most `max_concurrent_calls` in flight, more wait in a
///   bounded queue, a payload too large for `max_message_size` is refused
///   without being sent. Call ids count from 1 in the order calls are sent.
/// - A `goaway` ends the taking of new calls. The calls in flight with an id
///   above its `last_call_id` were not processed: they fail at once with
///   UNAVAILABLE `GOING_AWAY`, which is safe to retry elsewhere, and so do
///   the calls that were still waiting. The calls at or below it were taken
///   and are still answered. When the goaway reports a connection error (a
///   status other than OK or UNAVAILABLE), the calls left unanswered when
///   the connection closes fail with that status (`CONNECTION_ERROR`).
/// - A stream's messages are handed over only while its call is in flight:
///   one that comes after the call's response, or after the client gave up
///   on it, is dropped.
/// - The close fails every call still pending or waiting, exactly once.
///
/// Events that cannot happen (a frame after the close; an event while the
/// state is being changed) stop the process: they would mean the handler
/// or NIO broke its contract.
///
/// `Call` is what the owner keeps for a call it must complete (the handler's
/// promise and stream handler); the machine only stores and returns it.
struct ClientConnectionStateMachine<Call> {
    /// A call's request, kept until it is sent.
    struct Request {
        var method: String
        var metadata: Metadata
        var payload: ByteBuffer
        /// When the caller stops waiting; nil: never.
        var deadline: NIODeadline?
    }

    /// A request to write now under `callID`.
    struct Send {
        var callID: UInt64
        var request: Request
        /// The time left before the request's deadline, as the wire carries it; nil: none.
        var timeoutMilliseconds: UInt64?
    }

    /// The server's limits until its settings say otherwise.
    static var defaultMaxConcurrentCalls: Int { 100 }
    static var defaultMaxMessageSize: Int { Limits.defaultMaxMessageSize }
    /// Room left under `max_message_size` for the request frame's own fields.
    static var frameOverhead: Int { 1024 }

    private struct Waiting {
        var call: Call
        var request: Request
    }

    /// Before the server's settings: calls wait.
    private struct Connecting {
        var queue: CircularBuffer<Waiting>
    }

    /// The settings came: calls are sent, up to the limit.
    private struct Ready {
        var pending: [UInt64: Call]
        var queue: CircularBuffer<Waiting>
        var nextCallID: UInt64
        var maxConcurrentCalls: Int
        var maxMessageSize: Int
        /// The opaque value of the ping still unanswered.
        var awaitingPong: UInt64?
    }

    /// A goaway came (or an error): no new calls; the pending ones wait for their answers.
    private struct GoingAway {
        var pending: [UInt64: Call]
        /// The highest call id the server says it took; calls above it were failed.
        var lastCallID: UInt64
        /// What the calls still pending get when the connection closes; nil: ``closedError``.
        var closeError: RPCError?
        var awaitingPong: UInt64?
    }

    private enum State {
        case connecting(Connecting)
        case ready(Ready)
        case goingAway(GoingAway)
        case closed
        /// Held only inside a mutating func, so that a state's dictionaries
        /// are changed in place rather than copied.
        case modifying
    }

    private var state: State = .connecting(Connecting(queue: CircularBuffer()))
    /// The most calls that may wait for a slot (``ClientConfiguration/maximumQueuedCalls``).
    let maximumQueuedCalls: Int

    init(maximumQueuedCalls: Int) {
        self.maximumQueuedCalls = maximumQueuedCalls
    }

    // MARK: Errors the machine gives

    static var closedError: RPCError {
        RPCError(code: .unavailable, message: "the connection to the server closed", reason: .connectionClosed)
    }
    static var closingError: RPCError {
        RPCError(code: .unavailable, message: "the connection is closing", reason: .connectionClosed)
    }
    static var cancelledError: RPCError {
        RPCError(code: .cancelled, message: "the call was cancelled", reason: .cancelled)
    }
    static var deadlineError: RPCError {
        RPCError(code: .deadlineExceeded, message: "the call's deadline passed", reason: .deadlineExceeded)
    }
    static var queueFullError: RPCError {
        RPCError(code: .resourceExhausted, message: "too many calls queued on the client", reason: .clientQueueFull)
    }
    static func tooLargeError(maxMessageSize: Int) -> RPCError {
        RPCError(
            code: .resourceExhausted,
            message: "the request exceeds the server's maximum message size of \(maxMessageSize) bytes", reason: .requestTooLarge
        )
    }
    static func goingAwayError(_ message: String) -> RPCError {
        RPCError(code: .unavailable, message: "the server is going away: \(message)", reason: .goingAway)
    }

    // MARK: Questions

    /// Whether a call started now could be sent (or wait for its turn) on this connection.
    var isAcceptingCalls: Bool {
        switch state {
        case .connecting, .ready: true
        case .goingAway, .closed: false
        case .modifying: preconditionFailure("the state is being modified")
        }
    }

    // MARK: Settings

    enum SettingsAction: Equatable {
        /// The first settings: the connection is ready (start the keepalive,
        /// tell the owner); then send what ``sendNext(now:)`` gives.
        case ready
        /// New limits on a ready connection: send what ``sendNext(now:)`` gives.
        case limitsChanged
        /// After a goaway the limits no longer matter.
        case none
    }

    /// The server's `settings`. A `max_concurrent_calls` of 0 counts as 1; a
    /// `max_message_size` of 0 keeps the default.
    mutating func settingsReceived(maxConcurrentCalls: UInt32, maxMessageSize: UInt32) -> SettingsAction {
        let concurrency = max(1, Int(maxConcurrentCalls))
        switch state {
        case .connecting(let connecting):
            state = .ready(Ready(
                pending: [:], queue: connecting.queue, nextCallID: 1, maxConcurrentCalls: concurrency,
                maxMessageSize: maxMessageSize > 0 ? Int(maxMessageSize) : Self.defaultMaxMessageSize, awaitingPong: nil
            ))
            return .ready
        case .ready(var ready):
            state = .modifying
            ready.maxConcurrentCalls = concurrency
            if maxMessageSize > 0 { ready.maxMessageSize = Int(maxMessageSize) }
            state = .ready(ready)
            return .limitsChanged
        case .goingAway:
            return .none
        case .closed:
            preconditionFailure("settings after the connection closed")
        case .modifying:
            preconditionFailure("the state is being modified")
        }
    }

    // MARK: Starting calls

    enum StartAction {
        /// Write the request now.
        case send(Send)
        /// It waits for a free slot (or for the settings).
        case enqueued
        /// Fail the call with the error; nothing was sent.
        case fail(Call, RPCError)
    }

    /// The owner starts a call.
    ///
    /// - Parameter now: read only when the call is sent now and has a deadline.
    mutating func startCall(_ call: Call, request: Request, now: @autoclosure () -> NIODeadline) -> StartAction {
        switch state {
        case .connecting(var connecting):
            guard connecting.queue.count < maximumQueuedCalls else { return .fail(call, Self.queueFullError) }
            state = .modifying
            connecting.queue.append(Waiting(call: call, request: request))
            state = .connecting(connecting)
            return .enqueued
        case .ready(var ready):
            if request.payload.readableBytes > ready.maxMessageSize - Self.frameOverhead {
                return .fail(call, Self.tooLargeError(maxMessageSize: ready.maxMessageSize))
            }
            if ready.pending.count < ready.maxConcurrentCalls && ready.queue.isEmpty {
                state = .modifying
                let action: StartAction
                switch Self.admit(call, request, into: &ready, now: now) {
                case .success(let send): action = .send(send)
                case .failure(let error): action = .fail(call, error)
                }
                state = .ready(ready)
                return action
            }
            guard ready.queue.count < maximumQueuedCalls else { return .fail(call, Self.queueFullError) }
            state = .modifying
            ready.queue.append(Waiting(call: call, request: request))
            state = .ready(ready)
            return .enqueued
        case .goingAway, .closed:
            return .fail(call, Self.closingError)
        case .modifying:
            preconditionFailure("the state is being modified")
        }
    }

    /// Gives a call its id and counts it in flight; a deadline already passed fails it instead.
    private static func admit(
        _ call: Call, _ request: Request, into ready: inout Ready, now: () -> NIODeadline
    ) -> Result<Send, RPCError> {
        var timeoutMilliseconds: UInt64?
        if let deadline = request.deadline {
            let remaining = deadline - now()
            guard remaining > .zero else { return .failure(deadlineError) }
            timeoutMilliseconds = UInt64(max(1, remaining.nanoseconds / 1_000_000))
        }
        let id = ready.nextCallID
        ready.nextCallID += 1
        ready.pending[id] = call
        return .success(Send(callID: id, request: request, timeoutMilliseconds: timeoutMilliseconds))
    }

    enum NextAction {
        case send(Send)
        /// A waiting call whose deadline passed while it waited: fail it; then ask again.
        case fail(Call, RPCError)
        /// Nothing more to send now.
        case none
    }

    /// The next waiting call to send, if a slot is free. The owner asks after
    /// every event that may free one (settings, an answer, a failed call)
    /// until it gets ``NextAction/none``.
    ///
    /// - Parameter now: read only when a waiting call with a deadline is taken:
    ///   the clock costs nothing after an answer when none waits.
    mutating func sendNext(now: @autoclosure () -> NIODeadline) -> NextAction {
        guard case .ready(var ready) = state else { return .none }
        guard ready.pending.count < ready.maxConcurrentCalls, !ready.queue.isEmpty else { return .none }
        state = .modifying
        let waiting = ready.queue.removeFirst()
        let action: NextAction
        if waiting.request.payload.readableBytes > ready.maxMessageSize - Self.frameOverhead {
            // It waited for settings that allow less than the default.
            action = .fail(waiting.call, Self.tooLargeError(maxMessageSize: ready.maxMessageSize))
        } else {
            switch Self.admit(waiting.call, waiting.request, into: &ready, now: now) {
            case .success(let send): action = .send(send)
            case .failure(let error): action = .fail(waiting.call, error)
            }
        }
        state = .ready(ready)
        return action
    }

    // MARK: The server's answers

    enum ResponseAction {
        /// Complete the call with the response.
        case succeed(Call)
        /// No call in flight has this id (it was given up, or failed by a goaway): drop it.
        case drop
    }

    /// A `response` frame: the call's end.
    mutating func responseReceived(callID: UInt64) -> ResponseAction {
        guard let call = removePending(callID) else { return .drop }
        return .succeed(call)
    }

    enum MessageAction {
        /// Hand the message to the call's stream.
        case deliver(Call)
        /// The call is over, or was never in flight: drop the message.
        case drop
    }

    /// A stream's `message` frame.
    mutating func messageReceived(callID: UInt64) -> MessageAction {
        switch state {
        case .ready(let ready):
            if let call = ready.pending[callID] { return .deliver(call) }
            return .drop
        case .goingAway(let goingAway):
            if let call = goingAway.pending[callID] { return .deliver(call) }
            return .drop
        case .connecting:
            return .drop
        case .closed:
            preconditionFailure("a message after the connection closed")
        case .modifying:
            preconditionFailure("the state is being modified")
        }
    }

    // MARK: Giving up on calls

    enum GiveUpAction {
        /// Fail the call and send `cancel` for `callID`: the server stops working on it.
        case failAndCancel(Call, callID: UInt64, RPCError)
        /// Fail the call; it was never sent.
        case fail(Call, RPCError)
        /// The call is already over.
        case none
    }

    /// The call's deadline timer fired.
    mutating func deadlinePassed(callID: UInt64) -> GiveUpAction {
        guard let call = removePending(callID) else { return .none }
        return .failAndCancel(call, callID: callID, Self.deadlineError)
    }

    /// The call's stream refused a message (a slow reader, an undecodable
    /// message): the call ends with `error`.
    mutating func messageRefused(callID: UInt64, error: RPCError) -> GiveUpAction {
        guard let call = removePending(callID) else { return .none }
        return .failAndCancel(call, callID: callID, error)
    }

    /// The caller gave up (its task was cancelled, its stream's reader left):
    /// the first call, waiting or in flight, that `matches`.
    mutating func cancel(where matches: (Call) -> Bool) -> GiveUpAction {
        switch state {
        case .connecting(var connecting):
            guard let index = connecting.queue.firstIndex(where: { matches($0.call) }) else { return .none }
            state = .modifying
            let waiting = connecting.queue.remove(at: index)
            state = .connecting(connecting)
            return .fail(waiting.call, Self.cancelledError)
        case .ready(var ready):
            if let index = ready.queue.firstIndex(where: { matches($0.call) }) {
                state = .modifying
                let waiting = ready.queue.remove(at: index)
                state = .ready(ready)
                return .fail(waiting.call, Self.cancelledError)
            }
            guard let id = ready.pending.first(where: { matches($0.value) })?.key else { return .none }
            state = .modifying
            let call = ready.pending.removeValue(forKey: id)
            state = .ready(ready)
            return call.map { .failAndCancel($0, callID: id, Self.cancelledError) } ?? .none
        case .goingAway(var goingAway):
            guard let id = goingAway.pending.first(where: { matches($0.value) })?.key else { return .none }
            state = .modifying
            let call = goingAway.pending.removeValue(forKey: id)
            state = .goingAway(goingAway)
            return call.map { .failAndCancel($0, callID: id, Self.cancelledError) } ?? .none
        case .closed:
            return .none
        case .modifying:
            preconditionFailure("the state is being modified")
        }
    }

    private mutating func removePending(_ callID: UInt64) -> Call? {
        switch state {
        case .ready(var ready):
            state = .modifying
            let call = ready.pending.removeValue(forKey: callID)
            state = .ready(ready)
            return call
        case .goingAway(var goingAway):
            state = .modifying
            let call = goingAway.pending.removeValue(forKey: callID)
            state = .goingAway(goingAway)
            return call
        case .connecting:
            return nil
        case .closed:
            // Timers and cancellations may still come; answers may not.
            return nil
        case .modifying:
            preconditionFailure("the state is being modified")
        }
    }

    // MARK: Goaway, errors, close

    /// Calls to fail, each once, with one error.
    struct Failures {
        /// The calls in flight, by id (the owner forgets their deadlines), and the waiting ones.
        var pending: [(callID: UInt64, call: Call)]
        var waiting: [Call]
        var error: RPCError

        var isEmpty: Bool { pending.isEmpty && waiting.isEmpty }
    }

    enum GoAwayAction {
        /// The first goaway: tell the owner to stop using this connection, then fail `failures`.
        case goingAway(Failures)
        /// A later goaway (with a lower `last_call_id`): fail `failures`.
        case fail(Failures)
    }

    /// The server's `goaway`: no new calls. Calls in flight above
    /// `lastCallID` and calls waiting fail, retryable; calls at or below it
    /// stay and are answered. A status other than OK or UNAVAILABLE reports
    /// a connection error: the calls left when the connection closes fail with it.
    mutating func goAwayReceived(lastCallID: UInt64, status: StatusCode, message: String) -> GoAwayAction {
        let error = Self.goingAwayError(message)
        let closeError = status == .ok || status == .unavailable
            ? nil : RPCError(code: status, message: message, reason: .connectionError)
        switch state {
        case .connecting(let connecting):
            state = .goingAway(GoingAway(pending: [:], lastCallID: lastCallID, closeError: closeError, awaitingPong: nil))
            return .goingAway(Failures(pending: [], waiting: connecting.queue.map(\.call), error: error))
        case .ready(var ready):
            state = .modifying
            let unseen = Self.removeCalls(above: lastCallID, from: &ready.pending)
            state = .goingAway(GoingAway(
                pending: ready.pending, lastCallID: lastCallID, closeError: closeError, awaitingPong: ready.awaitingPong
            ))
            return .goingAway(Failures(pending: unseen, waiting: ready.queue.map(\.call), error: error))
        case .goingAway(var goingAway):
            // A later goaway may only lower the id; it cannot bring back calls already failed.
            state = .modifying
            let unseen = Self.removeCalls(above: lastCallID, from: &goingAway.pending)
            goingAway.lastCallID = min(goingAway.lastCallID, lastCallID)
            if let closeError, goingAway.closeError == nil { goingAway.closeError = closeError }
            state = .goingAway(goingAway)
            return .fail(Failures(pending: unseen, waiting: [], error: error))
        case .closed:
            preconditionFailure("a goaway after the connection closed")
        case .modifying:
            preconditionFailure("the state is being modified")
        }
    }

    private static func removeCalls(above lastCallID: UInt64, from pending: inout [UInt64: Call]) -> [(callID: UInt64, call: Call)] {
        var removed: [(callID: UInt64, call: Call)] = []
        for id in pending.keys where id > lastCallID {
            if let call = pending.removeValue(forKey: id) { removed.append((id, call)) }
        }
        removed.sort { $0.callID < $1.callID }
        return removed
    }

    /// The connection failed (TLS, the socket, an undecodable frame): it will
    /// close; no new calls. The waiting calls fail now; those in flight when it closes.
    mutating func errorCaught() -> Failures {
        switch state {
        case .connecting(let connecting):
            state = .goingAway(GoingAway(pending: [:], lastCallID: .max, closeError: nil, awaitingPong: nil))
            return Failures(pending: [], waiting: connecting.queue.map(\.call), error: Self.closedError)
        case .ready(let ready):
            state = .goingAway(GoingAway(
                pending: ready.pending, lastCallID: .max, closeError: nil, awaitingPong: ready.awaitingPong
            ))
            return Failures(pending: [], waiting: ready.queue.map(\.call), error: Self.closedError)
        case .goingAway, .closed:
            return Failures(pending: [], waiting: [], error: Self.closedError)
        case .modifying:
            preconditionFailure("the state is being modified")
        }
    }

    /// The connection closed: every call still pending or waiting fails, once.
    mutating func closed() -> Failures {
        let failures: Failures
        switch state {
        case .connecting(let connecting):
            failures = Failures(pending: [], waiting: connecting.queue.map(\.call), error: Self.closedError)
        case .ready(let ready):
            failures = Failures(
                pending: ready.pending.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                waiting: ready.queue.map(\.call), error: Self.closedError
            )
        case .goingAway(let goingAway):
            failures = Failures(
                pending: goingAway.pending.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                waiting: [], error: goingAway.closeError ?? Self.closedError
            )
        case .closed:
            failures = Failures(pending: [], waiting: [], error: Self.closedError)
        case .modifying:
            preconditionFailure("the state is being modified")
        }
        state = .closed
        return failures
    }

    // MARK: Keepalive

    enum KeepaliveAction: Equatable {
        /// Send a ping carrying `opaque`.
        case ping(UInt64)
        /// The last ping went unanswered for a whole interval: the peer is gone; close.
        case close
        case none
    }

    /// The keepalive timer fired; `opaque` is a fresh random value for the ping.
    mutating func keepaliveTimerFired(opaque: UInt64) -> KeepaliveAction {
        switch state {
        case .ready(var ready):
            if ready.awaitingPong != nil { return .close }
            state = .modifying
            ready.awaitingPong = opaque
            state = .ready(ready)
            return .ping(opaque)
        case .goingAway(var goingAway):
            if goingAway.awaitingPong != nil { return .close }
            state = .modifying
            goingAway.awaitingPong = opaque
            state = .goingAway(goingAway)
            return .ping(opaque)
        case .connecting, .closed:
            return .none
        case .modifying:
            preconditionFailure("the state is being modified")
        }
    }

    /// A `pong`: it answers the ping in flight when it carries its value.
    mutating func pongReceived(opaque: UInt64) {
        switch state {
        case .ready(var ready):
            guard ready.awaitingPong == opaque else { return }
            state = .modifying
            ready.awaitingPong = nil
            state = .ready(ready)
        case .goingAway(var goingAway):
            guard goingAway.awaitingPong == opaque else { return }
            state = .modifying
            goingAway.awaitingPong = nil
            state = .goingAway(goingAway)
        case .connecting:
            return
        case .closed:
            preconditionFailure("a pong after the connection closed")
        case .modifying:
            preconditionFailure("the state is being modified")
        }
    }
}
