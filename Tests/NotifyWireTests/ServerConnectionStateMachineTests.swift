import NotifyCore
import NotifyWire
import Testing

@Suite("ServerConnectionStateMachine")
struct ServerConnectionStateMachineTests {
    @Test("requests dispatch up to the limit, then are rejected until a call completes")
    func limit() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 2)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        #expect(machine.receivedRequest(callID: 2) == .dispatch)
        #expect(machine.callsInFlight == 2)
        #expect(machine.receivedRequest(callID: 3) == .rejectTooManyCalls)
        #expect(machine.callsInFlight == 2)
        #expect(machine.callCompleted(callID: 1) == .send)
        #expect(machine.receivedRequest(callID: 3) == .dispatch)
        #expect(machine.callsInFlight == 2)
    }

    @Test("a limit of zero rejects every call")
    func zeroLimit() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 0)
        #expect(machine.receivedRequest(callID: 1) == .rejectTooManyCalls)
        #expect(machine.callsInFlight == 0)
    }

    @Test("an id already in flight is a duplicate; once completed it may be reused")
    func duplicate() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 10)
        #expect(machine.receivedRequest(callID: 7) == .dispatch)
        #expect(machine.receivedRequest(callID: 7) == .rejectDuplicateCallID)
        #expect(machine.callsInFlight == 1)
        #expect(machine.callCompleted(callID: 7) == .send)
        #expect(machine.receivedRequest(callID: 7) == .dispatch)
    }

    @Test("a duplicate is reported before the limit")
    func duplicateAtLimit() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 1)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        #expect(machine.receivedRequest(callID: 1) == .rejectDuplicateCallID)
    }

    @Test("a cancelled call counts until it completes, and its response is dropped")
    func cancelThenComplete() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 1)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        #expect(machine.receivedCancel(callID: 1) == .cancel)
        #expect(machine.receivedCancel(callID: 1) == .ignore, "a second cancel has nothing to do")
        #expect(machine.callsInFlight == 1)
        #expect(machine.receivedRequest(callID: 2) == .rejectTooManyCalls, "the cancelled work is still running")
        #expect(machine.receivedRequest(callID: 1) == .rejectDuplicateCallID)
        #expect(machine.callCompleted(callID: 1) == .drop)
        #expect(machine.callsInFlight == 0)
        #expect(machine.receivedRequest(callID: 2) == .dispatch)
    }

    @Test("cancelling or completing an unknown call does nothing")
    func unknownCall() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 1)
        #expect(machine.receivedCancel(callID: 99) == .ignore)
        #expect(machine.callCompleted(callID: 99) == .drop)
        #expect(machine.callsInFlight == 0)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
    }

    @Test("graceful shutdown with nothing in flight sends GoAway and closes at once")
    func shutdownIdle() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 5) == .dispatch)
        #expect(machine.callCompleted(callID: 5) == .send)
        #expect(machine.beginGracefulShutdown() == .sendGoAwayAndClose(lastCallID: 5))
        #expect(machine.receivedRequest(callID: 6) == .ignore)
        #expect(machine.beginGracefulShutdown() == ShutdownAction.none)
    }

    @Test("graceful shutdown before any call reports last call id 0")
    func shutdownFresh() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 4)
        #expect(machine.beginGracefulShutdown() == .sendGoAwayAndClose(lastCallID: 0))
    }

    @Test("graceful shutdown with calls in flight drains them, refusing new ones, then closes")
    func shutdownDraining() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 9) == .dispatch)
        #expect(machine.receivedRequest(callID: 3) == .dispatch)
        #expect(machine.beginGracefulShutdown() == .sendGoAway(lastCallID: 9), "the highest id, not the latest")
        #expect(machine.beginGracefulShutdown() == ShutdownAction.none)
        #expect(machine.receivedRequest(callID: 10) == .rejectGoingAway)
        #expect(machine.receivedRequest(callID: 3) == .rejectDuplicateCallID)
        #expect(machine.idleTimeoutFired() == false)
        #expect(machine.callCompleted(callID: 9) == .send)
        #expect(machine.callsInFlight == 1)
        #expect(machine.callCompleted(callID: 3) == .sendAndClose)
        #expect(machine.callsInFlight == 0)
        #expect(machine.receivedRequest(callID: 11) == .ignore)
    }

    @Test("draining ends with dropAndClose when the last call was cancelled")
    func shutdownDrainingCancelled() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        #expect(machine.receivedRequest(callID: 2) == .dispatch)
        #expect(machine.beginGracefulShutdown() == .sendGoAway(lastCallID: 2))
        #expect(machine.receivedCancel(callID: 1) == .cancel)
        #expect(machine.receivedCancel(callID: 2) == .cancel)
        #expect(machine.callCompleted(callID: 1) == .drop)
        #expect(machine.callCompleted(callID: 2) == .dropAndClose)
    }

    @Test("the idle timeout closes only a connection with nothing in flight")
    func idle() {
        var busy = ServerConnectionStateMachine(maxConcurrentCalls: 4)
        #expect(busy.receivedRequest(callID: 1) == .dispatch)
        #expect(busy.idleTimeoutFired() == false)
        #expect(busy.callCompleted(callID: 1) == .send)
        #expect(busy.idleTimeoutFired() == true)
        #expect(busy.idleTimeoutFired() == false, "already closed")
        #expect(busy.receivedRequest(callID: 2) == .ignore)

        var fresh = ServerConnectionStateMachine(maxConcurrentCalls: 4)
        #expect(fresh.idleTimeoutFired() == true)
    }

    @Test("after the channel closes, completions are dropped and frames ignored")
    func closedChannel() {
        var machine = ServerConnectionStateMachine(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        machine.closed()
        #expect(machine.callsInFlight == 0)
        #expect(machine.callCompleted(callID: 1) == .drop)
        #expect(machine.receivedCancel(callID: 1) == .ignore)
        #expect(machine.receivedRequest(callID: 2) == .ignore)
        #expect(machine.beginGracefulShutdown() == ShutdownAction.none)
        #expect(machine.idleTimeoutFired() == false)
    }
}

private typealias ShutdownAction = ServerConnectionStateMachine.ShutdownAction
