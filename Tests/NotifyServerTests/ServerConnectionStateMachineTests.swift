import NIOCore
import NotifyCore
import NotifyServer
import NotifyWire
import Testing

private typealias Machine = ServerConnectionStateMachine
private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

extension ServerConnectionStateMachine {
    /// A machine past its TLS handshake, as every connection that can send a frame is.
    fileprivate static func handshaken(maxConcurrentCalls: Int, idleTimeout: TimeAmount? = nil) -> Self {
        var machine = Self(maxConcurrentCalls: maxConcurrentCalls, idleTimeout: idleTimeout, now: t0)
        _ = machine.handshakeCompleted(now: t0)
        return machine
    }
}

@Suite("ServerConnectionStateMachine: calls, back-pressure and goaways as plain values")
struct ServerConnectionStateMachineTests {
    // MARK: Calls

    @Test("requests dispatch up to the limit, then are rejected until a call completes")
    func limit() {
        var machine = Machine(maxConcurrentCalls: 2)
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
        var machine = Machine(maxConcurrentCalls: 0)
        #expect(machine.receivedRequest(callID: 1) == .rejectTooManyCalls)
        #expect(machine.callsInFlight == 0)
    }

    @Test("an id already in flight is a duplicate; once completed it may be reused")
    func duplicate() {
        var machine = Machine(maxConcurrentCalls: 10)
        #expect(machine.receivedRequest(callID: 7) == .dispatch)
        #expect(machine.receivedRequest(callID: 7) == .rejectDuplicateCallID)
        #expect(machine.callsInFlight == 1)
        #expect(machine.callCompleted(callID: 7) == .send)
        #expect(machine.receivedRequest(callID: 7) == .dispatch)
    }

    @Test("a duplicate is reported before the limit")
    func duplicateAtLimit() {
        var machine = Machine(maxConcurrentCalls: 1)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        #expect(machine.receivedRequest(callID: 1) == .rejectDuplicateCallID)
    }

    @Test("a cancelled call counts until it completes, and its response is dropped")
    func cancelThenComplete() {
        var machine = Machine(maxConcurrentCalls: 1)
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
        var machine = Machine(maxConcurrentCalls: 1)
        #expect(machine.receivedCancel(callID: 99) == .ignore)
        #expect(machine.callCompleted(callID: 99) == .drop)
        #expect(machine.callsInFlight == 0)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
    }

    // MARK: Handshake and timers

    @Test("the handshake sends settings; the first-call timer closes only a connection that never called")
    func firstCall() {
        var silent = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(silent.handshakeCompleted(now: t0) == .sendSettings)
        #expect(silent.firstCallTimerFired() == .sendGoAwayAndClose(lastCallID: 0))
        #expect(silent.receivedRequest(callID: 1) == .ignore, "closed")
        #expect(silent.handshakeCompleted(now: t0) == .none)

        var calling = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(calling.handshakeCompleted(now: t0) == .sendSettings)
        #expect(calling.receivedRequest(callID: 1) == .dispatch)
        #expect(calling.callCompleted(callID: 1) == .send)
        #expect(calling.firstCallTimerFired() == .none, "one request disarms it for good")
        #expect(calling.receivedRequest(callID: 2) == .dispatch)

        var refused = Machine(maxConcurrentCalls: 0)
        _ = refused.handshakeCompleted(now: t0)
        #expect(refused.receivedRequest(callID: 1) == .rejectTooManyCalls)
        #expect(refused.firstCallTimerFired() == .none, "a refused request is still a call")
    }

    @Test("the idle timer closes a quiet connection with nothing in flight, naming the highest id admitted")
    func idle() {
        let idle = TimeAmount.seconds(10)
        var machine = Machine(maxConcurrentCalls: 4, idleTimeout: idle, now: t0)
        #expect(machine.handshakeCompleted(now: t0) == .sendSettings)
        #expect(machine.frameRead(.ping(1), now: t0 + .seconds(4)) == .handle)
        #expect(machine.idleTimerFired(now: t0 + idle) == .recheck(at: t0 + .seconds(14)), "a frame came 6 s ago")
        #expect(machine.receivedRequest(callID: 3) == .dispatch)
        #expect(machine.idleTimerFired(now: t0 + .seconds(30)) == .recheck(at: t0 + .seconds(40)), "a call is in flight")
        #expect(machine.callCompleted(callID: 3) == .send)
        #expect(machine.idleTimerFired(now: t0 + .seconds(40)) == .sendGoAwayAndClose(lastCallID: 3))
        #expect(machine.idleTimerFired(now: t0 + .seconds(50)) == .none, "already closed")
        #expect(machine.receivedRequest(callID: 4) == .ignore)

        var never = Machine(maxConcurrentCalls: 4, idleTimeout: nil, now: t0)
        #expect(never.idleTimerFired(now: t0 + .hours(1)) == .none)
    }

    // MARK: Back-pressure

    @Test("while the channel cannot write, frames are held and reads held back; they resume in order once it drains")
    func backPressure() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(machine.readRequested() == .read)
        #expect(machine.frameRead(.ping(1), now: t0) == .handle)
        #expect(machine.writabilityChanged(writable: false) == .none)
        #expect(machine.frameRead(.ping(2), now: t0) == .none)
        #expect(machine.frameRead(.ping(3), now: t0) == .none)
        #expect(machine.heldFrames == 2)
        #expect(machine.readRequested() == .holdBack)
        #expect(machine.nextHeldFrame() == .stop, "still not writable")
        #expect(machine.writabilityChanged(writable: true) == .resumeHeld)
        #expect(machine.nextHeldFrame() == .handle(.ping(2)))
        #expect(machine.readRequested() == .holdBack, "frames are still held")
        #expect(machine.nextHeldFrame() == .handle(.ping(3)))
        #expect(machine.nextHeldFrame() == .read, "the read held back is made once nothing is held")
        #expect(machine.nextHeldFrame() == .stop)
        #expect(machine.heldFrames == 0)
        #expect(machine.readRequested() == .read)
    }

    @Test("the channel filling again while held frames are handled stops them where they were")
    func fillsAgain() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        _ = machine.writabilityChanged(writable: false)
        _ = machine.frameRead(.ping(1), now: t0)
        _ = machine.frameRead(.ping(2), now: t0)
        #expect(machine.writabilityChanged(writable: true) == .resumeHeld)
        #expect(machine.nextHeldFrame() == .handle(.ping(1)))
        #expect(machine.writabilityChanged(writable: false) == .none)
        #expect(machine.nextHeldFrame() == .stop)
        #expect(machine.frameRead(.ping(3), now: t0) == .none, "behind the one still held")
        #expect(machine.writabilityChanged(writable: true) == .resumeHeld)
        #expect(machine.nextHeldFrame() == .handle(.ping(2)))
        #expect(machine.nextHeldFrame() == .handle(.ping(3)))
        #expect(machine.nextHeldFrame() == .stop, "no read was held back")
    }

    @Test("a read held back with nothing held resumes when the channel drains")
    func readHeldBackOnly() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        _ = machine.writabilityChanged(writable: false)
        #expect(machine.readRequested() == .holdBack)
        #expect(machine.writabilityChanged(writable: true) == .resumeHeld)
        #expect(machine.nextHeldFrame() == .read)
        #expect(machine.writabilityChanged(writable: false) == .none)
        #expect(machine.writabilityChanged(writable: true) == .none, "nothing waits")
    }

    // MARK: Graceful shutdown

    @Test("graceful shutdown during the TLS handshake closes at once: nothing was sent, and a goaway could not arrive")
    func shutdownDuringHandshake() {
        var machine = Machine(maxConcurrentCalls: 4)
        #expect(machine.beginGracefulShutdown() == .close)
        #expect(machine.handshakeCompleted(now: t0) == .none)
    }

    @Test("graceful shutdown sends goaway and a ping; it closes once the ping is answered and nothing is in flight")
    func shutdownIdle() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 5) == .dispatch)
        #expect(machine.callCompleted(callID: 5) == .send)
        #expect(machine.beginGracefulShutdown() == .sendGoAwayAndPing(lastCallID: 5))
        #expect(machine.beginGracefulShutdown() == .none)
        #expect(machine.receivedRequest(callID: 6) == .rejectGoingAway, "a request that crossed the goaway is answered")
        #expect(machine.receivedPong(opaque: 42) == .none, "not the goaway's ping")
        #expect(machine.receivedPong(opaque: Machine.goAwayPingOpaque) == .close)
        #expect(machine.receivedRequest(callID: 7) == .ignore)
    }

    @Test("graceful shutdown before any call reports last call id 0")
    func shutdownFresh() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(machine.beginGracefulShutdown() == .sendGoAwayAndPing(lastCallID: 0))
    }

    @Test("graceful shutdown with calls in flight drains them, refusing new ones, then closes")
    func shutdownDraining() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4, idleTimeout: .seconds(1))
        #expect(machine.receivedRequest(callID: 9) == .dispatch)
        #expect(machine.receivedRequest(callID: 3) == .dispatch)
        #expect(machine.beginGracefulShutdown() == .sendGoAwayAndPing(lastCallID: 9), "the highest id, not the latest")
        #expect(machine.receivedRequest(callID: 10) == .rejectGoingAway)
        #expect(machine.receivedRequest(callID: 3) == .rejectDuplicateCallID)
        #expect(machine.idleTimerFired(now: t0 + .hours(1)) == .none)
        #expect(machine.receivedPong(opaque: Machine.goAwayPingOpaque) == .none, "calls are in flight")
        #expect(machine.callCompleted(callID: 9) == .send)
        #expect(machine.callsInFlight == 1)
        #expect(machine.callCompleted(callID: 3) == .sendAndClose)
        #expect(machine.callsInFlight == 0)
        #expect(machine.receivedRequest(callID: 11) == .ignore)
    }

    @Test("a drain waits for the ping even once its last call is answered")
    func shutdownWaitsForPong() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        #expect(machine.beginGracefulShutdown() == .sendGoAwayAndPing(lastCallID: 1))
        #expect(machine.callCompleted(callID: 1) == .send)
        #expect(machine.receivedRequest(callID: 2) == .rejectGoingAway)
        #expect(machine.receivedPong(opaque: Machine.goAwayPingOpaque) == .close)
    }

    @Test("draining ends with dropAndClose when the last call was cancelled")
    func shutdownDrainingCancelled() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        #expect(machine.receivedRequest(callID: 2) == .dispatch)
        #expect(machine.beginGracefulShutdown() == .sendGoAwayAndPing(lastCallID: 2))
        #expect(machine.receivedPong(opaque: Machine.goAwayPingOpaque) == .none)
        #expect(machine.receivedCancel(callID: 1) == .cancel)
        #expect(machine.receivedCancel(callID: 2) == .cancel)
        #expect(machine.callCompleted(callID: 1) == .drop)
        #expect(machine.callCompleted(callID: 2) == .dropAndClose)
    }

    @Test("frames held while draining are still handled once the channel drains")
    func shutdownHeld() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        _ = machine.writabilityChanged(writable: false)
        #expect(machine.frameRead(.pong(Machine.goAwayPingOpaque), now: t0) == .none)
        #expect(machine.beginGracefulShutdown() == .sendGoAwayAndPing(lastCallID: 0))
        #expect(machine.frameRead(.ping(7), now: t0) == .none)
        #expect(machine.writabilityChanged(writable: true) == .resumeHeld)
        #expect(machine.nextHeldFrame() == .handle(.pong(Machine.goAwayPingOpaque)))
        #expect(machine.nextHeldFrame() == .handle(.ping(7)))
        #expect(machine.nextHeldFrame() == .stop)
        #expect(machine.receivedPong(opaque: Machine.goAwayPingOpaque) == .close)
    }

    // MARK: The client's goaway

    @Test("a client's goaway is answered with the highest id admitted; the calls in flight are answered, then the connection closes")
    func clientGoAway() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 4) == .dispatch)
        #expect(machine.receivedRequest(callID: 2) == .dispatch)
        #expect(machine.receivedGoAway() == .sendGoAway(lastCallID: 4))
        #expect(machine.receivedGoAway() == .none)
        #expect(machine.beginGracefulShutdown() == .none, "already draining")
        #expect(machine.receivedRequest(callID: 5) == .rejectGoingAway, "a client that breaks its word is still answered")
        #expect(machine.callCompleted(callID: 4) == .send)
        #expect(machine.callCompleted(callID: 2) == .sendAndClose, "no ping to wait for")

        var idle = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(idle.receivedGoAway() == .sendGoAwayAndClose(lastCallID: 0))
    }

    @Test("a client's goaway during the server's drain stops the wait for the ping")
    func clientGoAwayWhileDraining() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(machine.beginGracefulShutdown() == .sendGoAwayAndPing(lastCallID: 0))
        #expect(machine.receivedGoAway() == .close)

        var busy = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(busy.receivedRequest(callID: 1) == .dispatch)
        #expect(busy.beginGracefulShutdown() == .sendGoAwayAndPing(lastCallID: 1))
        #expect(busy.receivedGoAway() == .none)
        #expect(busy.callCompleted(callID: 1) == .sendAndClose)
    }

    // MARK: Connection errors

    @Test("a connection error names the highest id admitted, stops reading, and answers the calls admitted before it closes")
    func connectionError() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        #expect(machine.receivedRequest(callID: 2) == .dispatch)
        #expect(machine.receivedRequest(callID: 2) == .rejectDuplicateCallID)
        #expect(machine.connectionError() == .sendGoAway(lastCallID: 2))
        #expect(machine.stoppedReadingAfterError)
        #expect(machine.connectionError() == .none, "a second error adds nothing")
        #expect(machine.readRequested() == .holdBack)
        #expect(machine.frameRead(.request(RequestFrame(callID: 3, method: "/m")), now: t0) == .none)
        #expect(machine.receivedRequest(callID: 3) == .ignore)
        #expect(machine.writabilityChanged(writable: true) == .none)
        #expect(machine.beginGracefulShutdown() == .none)
        #expect(machine.callCompleted(callID: 1) == .send)
        #expect(machine.callCompleted(callID: 2) == .sendAndClose)
    }

    @Test("a connection error with nothing in flight closes at once and drops the frames held")
    func connectionErrorIdle() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 8) == .dispatch)
        #expect(machine.callCompleted(callID: 8) == .send)
        _ = machine.writabilityChanged(writable: false)
        _ = machine.frameRead(.ping(1), now: t0)
        #expect(machine.connectionError() == .sendGoAwayAndClose(lastCallID: 8))
        #expect(machine.heldFrames == 0)
        #expect(machine.nextHeldFrame() == .stop)
    }

    @Test("a connection error while draining sends its own goaway and stops waiting for the ping")
    func connectionErrorWhileDraining() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4)
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        #expect(machine.beginGracefulShutdown() == .sendGoAwayAndPing(lastCallID: 1))
        #expect(machine.connectionError() == .sendGoAway(lastCallID: 1))
        #expect(machine.receivedPong(opaque: Machine.goAwayPingOpaque) == .none)
        #expect(machine.callCompleted(callID: 1) == .sendAndClose)
    }

    // MARK: Close

    @Test("after the channel closes, completions are dropped and frames ignored")
    func closedChannel() {
        var machine = Machine.handshaken(maxConcurrentCalls: 4, idleTimeout: .seconds(1))
        #expect(machine.receivedRequest(callID: 1) == .dispatch)
        machine.closed()
        #expect(machine.callsInFlight == 0)
        #expect(machine.callCompleted(callID: 1) == .drop)
        #expect(machine.receivedCancel(callID: 1) == .ignore)
        #expect(machine.receivedRequest(callID: 2) == .ignore)
        #expect(machine.frameRead(.ping(1), now: t0) == .none)
        #expect(machine.readRequested() == .holdBack)
        #expect(machine.beginGracefulShutdown() == .none)
        #expect(machine.receivedGoAway() == .none)
        #expect(machine.connectionError() == .none)
        #expect(machine.receivedPong(opaque: Machine.goAwayPingOpaque) == .none)
        #expect(machine.idleTimerFired(now: t0 + .hours(1)) == .none)
        #expect(machine.firstCallTimerFired() == .none)
    }
}
