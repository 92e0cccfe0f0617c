import NIOCore
import NotifyCore
@testable import NotifyClient
import NotifyWire
import Testing

/// The client connection's rules as plain values: each call is an `Int` the
/// machine stores and hands back.
@Suite("ClientConnectionStateMachine: settings, the concurrency limit, goaway, streams, the close")
struct ClientConnectionStateMachineTests {
    typealias Machine = ClientConnectionStateMachine<Int>

    private let now = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func request(bytes: Int = 3, deadline: NIODeadline? = nil) -> Machine.Request {
        Machine.Request(
            method: "/notify.v1.Test/Call", metadata: Metadata(), payload: ByteBuffer(repeating: 1, count: bytes), deadline: deadline
        )
    }

    private func ready(maxConcurrentCalls: UInt32 = 100, maxMessageSize: UInt32 = 0, queue: Int = 10) -> Machine {
        var machine = Machine(maximumQueuedCalls: queue)
        #expect(machine.settingsReceived(maxConcurrentCalls: maxConcurrentCalls, maxMessageSize: maxMessageSize) == .ready)
        return machine
    }

    /// Starts `call` and returns the id it was sent under; nil when it was not sent.
    private func start(_ call: Int, on machine: inout Machine, request: Machine.Request? = nil) -> UInt64? {
        if case .send(let send) = machine.startCall(call, request: request ?? self.request(), now: now) { return send.callID }
        return nil
    }

    private func failedError(_ action: Machine.StartAction) -> RPCError? {
        if case .fail(_, let error) = action { return error }
        return nil
    }

    private func succeeded(_ action: Machine.ResponseAction) -> Int? {
        if case .succeed(let call) = action { return call }
        return nil
    }

    private func delivered(_ action: Machine.MessageAction) -> Int? {
        if case .deliver(let call) = action { return call }
        return nil
    }

    private func goAway(_ action: Machine.GoAwayAction) -> (first: Bool, failures: Machine.Failures) {
        switch action {
        case .goingAway(let failures): (true, failures)
        case .fail(let failures): (false, failures)
        }
    }

    @Test("calls wait for the settings, then go out with ids from 1 in order")
    func waitForSettings() {
        var machine = Machine(maximumQueuedCalls: 10)
        #expect(machine.isAcceptingCalls)
        guard case .enqueued = machine.startCall(1, request: request(), now: now) else { Issue.record("not enqueued"); return }
        guard case .enqueued = machine.startCall(2, request: request(), now: now) else { Issue.record("not enqueued"); return }
        guard case .none = machine.sendNext(now: now) else { Issue.record("sent before the settings"); return }
        #expect(machine.settingsReceived(maxConcurrentCalls: 10, maxMessageSize: 0) == .ready)
        guard case .send(let first) = machine.sendNext(now: now), case .send(let second) = machine.sendNext(now: now) else {
            Issue.record("the waiting calls were not sent"); return
        }
        #expect(first.callID == 1 && second.callID == 2)
        guard case .none = machine.sendNext(now: now) else { Issue.record("a third send"); return }
        #expect(start(3, on: &machine) == 3)
        #expect(succeeded(machine.responseReceived(callID: 2)) == 2)
        #expect(succeeded(machine.responseReceived(callID: 1)) == 1)
        #expect(succeeded(machine.responseReceived(callID: 3)) == 3)
    }

    @Test("max_concurrent_calls from the settings holds: more wait, and go out as answers free slots")
    func concurrencyLimit() {
        var machine = ready(maxConcurrentCalls: 2)
        #expect(start(1, on: &machine) == 1)
        #expect(start(2, on: &machine) == 2)
        guard case .enqueued = machine.startCall(3, request: request(), now: now) else { Issue.record("not enqueued"); return }
        guard case .none = machine.sendNext(now: now) else { Issue.record("sent past the limit"); return }
        #expect(succeeded(machine.responseReceived(callID: 1)) == 1)
        guard case .send(let send) = machine.sendNext(now: now) else { Issue.record("not sent after an answer"); return }
        #expect(send.callID == 3)
        guard case .none = machine.sendNext(now: now) else { Issue.record("sent past the limit"); return }
        // A call started while another waits goes behind it, even when an answer has just freed a slot.
        guard case .enqueued = machine.startCall(4, request: request(), now: now) else { Issue.record("not enqueued"); return }
        #expect(succeeded(machine.responseReceived(callID: 2)) == 2)
        guard case .enqueued = machine.startCall(5, request: request(), now: now) else { Issue.record("jumped the queue"); return }
        guard case .send(let fourth) = machine.sendNext(now: now) else { Issue.record("not sent after an answer"); return }
        #expect(fourth.callID == 4)
        guard case .none = machine.sendNext(now: now) else { Issue.record("sent past the limit"); return }
    }

    @Test("settings of 0 concurrent calls allow one; new settings change the limits")
    func settingsLimits() {
        var machine = ready(maxConcurrentCalls: 0)
        #expect(start(1, on: &machine) == 1)
        guard case .enqueued = machine.startCall(2, request: request(), now: now) else { Issue.record("not enqueued"); return }
        #expect(machine.settingsReceived(maxConcurrentCalls: 3, maxMessageSize: 0) == .limitsChanged)
        guard case .send(let send) = machine.sendNext(now: now) else { Issue.record("the raised limit was not used"); return }
        #expect(send.callID == 2)
    }

    @Test("a request too large for max_message_size, a full queue and a passed deadline fail without being sent")
    func refusals() {
        var machine = ready(maxConcurrentCalls: 1, maxMessageSize: 2048, queue: 1)
        let tooLarge = failedError(machine.startCall(1, request: request(bytes: 1025), now: now))
        #expect(tooLarge?.code == .resourceExhausted && tooLarge?.reason == .requestTooLarge)
        #expect(start(2, on: &machine, request: request(bytes: 1024)) == 1)
        guard case .enqueued = machine.startCall(3, request: request(), now: now) else { Issue.record("not enqueued"); return }
        let full = failedError(machine.startCall(4, request: request(), now: now))
        #expect(full == Machine.queueFullError)

        var other = ready()
        let late = failedError(other.startCall(5, request: request(deadline: now), now: now))
        #expect(late == Machine.deadlineError)
        // A deadline that passed while the call waited fails it when its turn comes.
        var waiting = ready(maxConcurrentCalls: 1)
        #expect(start(6, on: &waiting) == 1)
        guard case .enqueued = waiting.startCall(7, request: request(deadline: now + .seconds(1)), now: now) else {
            Issue.record("not enqueued"); return
        }
        _ = waiting.responseReceived(callID: 1)
        guard case .fail(7, let error) = waiting.sendNext(now: now + .seconds(2)) else { Issue.record("not failed"); return }
        #expect(error == Machine.deadlineError)
    }

    @Test("the wire timeout is the time left, in whole milliseconds, at least 1")
    func timeout() {
        var machine = ready()
        guard case .send(let send) = machine.startCall(1, request: request(deadline: now + .milliseconds(1500)), now: now) else {
            Issue.record("not sent"); return
        }
        #expect(send.timeoutMilliseconds == 1500)
        guard case .send(let short) = machine.startCall(2, request: request(deadline: now + .nanoseconds(10)), now: now) else {
            Issue.record("not sent"); return
        }
        #expect(short.timeoutMilliseconds == 1)
        guard case .send(let none) = machine.startCall(3, request: request(), now: now) else { Issue.record("not sent"); return }
        #expect(none.timeoutMilliseconds == nil)
    }

    @Test("goaway: calls above last_call_id and waiting calls fail GOING_AWAY at once; those at or below it are still answered")
    func goAwayRetryable() {
        var machine = ready(maxConcurrentCalls: 4)
        for call in 1...4 { #expect(start(call, on: &machine) == UInt64(call)) }
        guard case .enqueued = machine.startCall(5, request: request(), now: now) else { Issue.record("not enqueued"); return }
        let (first, failures) = goAway(machine.goAwayReceived(lastCallID: 2, status: .unavailable, message: "draining"))
        #expect(first)
        #expect(failures.pending.map(\.callID) == [3, 4])
        #expect(failures.pending.map(\.call) == [3, 4])
        #expect(failures.waiting == [5])
        #expect(failures.error == RPCError(code: .unavailable, message: "the server is going away: draining", reason: .goingAway))
        #expect(!machine.isAcceptingCalls)
        #expect(failedError(machine.startCall(6, request: request(), now: now)) == Machine.closingError)
        // Answered: the calls the server took.
        #expect(succeeded(machine.responseReceived(callID: 1)) == 1)
        #expect(succeeded(machine.responseReceived(callID: 2)) == 2)
        // The calls it did not take were failed once; a late answer for one is dropped.
        guard case .drop = machine.responseReceived(callID: 3) else { Issue.record("answered twice"); return }
        #expect(machine.closed().isEmpty)
    }

    @Test("a goaway with last_call_id 0 fails every call in flight as unprocessed")
    func goAwayZero() {
        var machine = ready()
        #expect(start(1, on: &machine) == 1)
        let (_, failures) = goAway(machine.goAwayReceived(lastCallID: 0, status: .unavailable, message: ""))
        #expect(failures.pending.map(\.call) == [1])
    }

    @Test("a later goaway only lowers last_call_id; a call failed once is not failed again")
    func secondGoAway() {
        var machine = ready()
        for call in 1...3 { _ = start(call, on: &machine) }
        #expect(goAway(machine.goAwayReceived(lastCallID: 2, status: .unavailable, message: "")).failures.pending.map(\.call) == [3])
        let (first, failures) = goAway(machine.goAwayReceived(lastCallID: 1, status: .unavailable, message: ""))
        #expect(!first)
        #expect(failures.pending.map(\.call) == [2])
        #expect(goAway(machine.goAwayReceived(lastCallID: 5, status: .unavailable, message: "")).failures.isEmpty)
        #expect(succeeded(machine.responseReceived(callID: 1)) == 1)
    }

    @Test("a goaway for a connection error: the calls it took and left unanswered fail with its status when the connection closes")
    func goAwayError() {
        var machine = ready()
        for call in 1...3 { _ = start(call, on: &machine) }
        let (_, failures) = goAway(machine.goAwayReceived(lastCallID: 2, status: .invalidArgument, message: "call id 3 reused"))
        #expect(failures.pending.map(\.call) == [3])
        #expect(failures.error.reason == .goingAway)
        #expect(succeeded(machine.responseReceived(callID: 1)) == 1)
        let closing = machine.closed()
        #expect(closing.pending.map(\.call) == [2])
        #expect(closing.error == RPCError(code: .invalidArgument, message: "call id 3 reused", reason: .connectionError))
    }

    @Test("a goaway before the settings fails the waiting calls; later settings do not make the connection ready")
    func goAwayBeforeSettings() {
        var machine = Machine(maximumQueuedCalls: 10)
        guard case .enqueued = machine.startCall(1, request: request(), now: now) else { Issue.record("not enqueued"); return }
        let (first, failures) = goAway(machine.goAwayReceived(lastCallID: 0, status: .ok, message: "idle"))
        #expect(first && failures.waiting == [1])
        #expect(machine.settingsReceived(maxConcurrentCalls: 10, maxMessageSize: 0) == .none)
        #expect(!machine.isAcceptingCalls)
    }

    @Test("a stream's messages go to its call while it is in flight, and are dropped after its response or a cancel")
    func streamMessages() {
        var machine = ready()
        #expect(start(1, on: &machine) == 1)
        #expect(start(2, on: &machine) == 2)
        #expect(delivered(machine.messageReceived(callID: 1)) == 1)
        #expect(succeeded(machine.responseReceived(callID: 1)) == 1)
        guard case .drop = machine.messageReceived(callID: 1) else { Issue.record("a message after the response"); return }
        guard case .drop = machine.messageReceived(callID: 9) else { Issue.record("a message of no call"); return }
        // The stream refuses a message (a slow reader): the call fails and the server is told.
        let tooSlow = RPCError(code: .resourceExhausted, message: "slow", reason: .consumerTooSlow)
        guard case .failAndCancel(2, 2, let error) = machine.messageRefused(callID: 2, error: tooSlow) else {
            Issue.record("not failed"); return
        }
        #expect(error == tooSlow)
        guard case .drop = machine.messageReceived(callID: 2) else { Issue.record("a message after the refusal"); return }
        guard case .none = machine.messageRefused(callID: 2, error: tooSlow) else { Issue.record("failed twice"); return }
    }

    @Test("cancel: a waiting call fails without a frame, one in flight fails and is cancelled on the server, once")
    func cancel() {
        var machine = ready(maxConcurrentCalls: 1)
        #expect(start(1, on: &machine) == 1)
        guard case .enqueued = machine.startCall(2, request: request(), now: now) else { Issue.record("not enqueued"); return }
        guard case .fail(2, let waitingError) = machine.cancel(where: { $0 == 2 }) else { Issue.record("waiting call"); return }
        #expect(waitingError == Machine.cancelledError)
        guard case .failAndCancel(1, 1, let error) = machine.cancel(where: { $0 == 1 }) else { Issue.record("call in flight"); return }
        #expect(error == Machine.cancelledError)
        guard case .none = machine.cancel(where: { $0 == 1 }) else { Issue.record("cancelled twice"); return }
        guard case .drop = machine.responseReceived(callID: 1) else { Issue.record("answered after the cancel"); return }
        guard case .none = machine.sendNext(now: now) else { Issue.record("the cancelled waiting call was sent"); return }
    }

    @Test("a deadline fails its call and cancels it on the server; an answered call's deadline does nothing")
    func deadline() {
        var machine = ready()
        #expect(start(1, on: &machine) == 1)
        #expect(start(2, on: &machine) == 2)
        _ = machine.responseReceived(callID: 2)
        guard case .failAndCancel(1, 1, let error) = machine.deadlinePassed(callID: 1) else { Issue.record("not failed"); return }
        #expect(error == Machine.deadlineError)
        guard case .none = machine.deadlinePassed(callID: 2) else { Issue.record("an answered call failed"); return }
    }

    @Test("the close fails every pending and waiting call once, and no call is taken after it")
    func close() {
        var machine = ready(maxConcurrentCalls: 2)
        for call in 1...3 { _ = machine.startCall(call, request: request(), now: now) }
        let failures = machine.closed()
        #expect(failures.pending.map(\.callID) == [1, 2])
        #expect(failures.pending.map(\.call) == [1, 2])
        #expect(failures.waiting == [3])
        #expect(failures.error == Machine.closedError)
        #expect(machine.closed().isEmpty)
        #expect(!machine.isAcceptingCalls)
        #expect(failedError(machine.startCall(4, request: request(), now: now)) == Machine.closingError)
        guard case .none = machine.deadlinePassed(callID: 1) else { Issue.record("failed after the close"); return }
        guard case .none = machine.cancel(where: { _ in true }) else { Issue.record("cancelled after the close"); return }
    }

    @Test("an error fails the waiting calls now and no new call is taken; the calls in flight fail when it closes")
    func error() {
        var machine = ready(maxConcurrentCalls: 1)
        _ = machine.startCall(1, request: request(), now: now)
        _ = machine.startCall(2, request: request(), now: now)
        let failures = machine.errorCaught()
        #expect(failures.pending.isEmpty && failures.waiting == [2])
        #expect(!machine.isAcceptingCalls)
        let closing = machine.closed()
        #expect(closing.pending.map(\.call) == [1])
        #expect(closing.error == Machine.closedError)
    }

    @Test("keepalive: a ping, then a close when it is still unanswered at the next tick; its pong clears it")
    func keepalive() {
        var machine = Machine(maximumQueuedCalls: 1)
        #expect(machine.keepaliveTimerFired(opaque: 7) == .none)
        _ = machine.settingsReceived(maxConcurrentCalls: 1, maxMessageSize: 0)
        #expect(machine.keepaliveTimerFired(opaque: 7) == .ping(7))
        machine.pongReceived(opaque: 8)
        #expect(machine.keepaliveTimerFired(opaque: 9) == .close)
        machine.pongReceived(opaque: 7)
        #expect(machine.keepaliveTimerFired(opaque: 9) == .ping(9))
        // After a goaway the connection is still watched while its calls finish.
        _ = machine.goAwayReceived(lastCallID: 0, status: .unavailable, message: "")
        #expect(machine.keepaliveTimerFired(opaque: 10) == .close)
        machine.pongReceived(opaque: 9)
        #expect(machine.keepaliveTimerFired(opaque: 10) == .ping(10))
    }
}
