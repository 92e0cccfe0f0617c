import NIOCore
import NIOEmbedded
import Testing

@testable import NotifyTLS

@Suite("TLSHandlerStateMachine")
struct TLSHandlerStateMachineTests {
    private func activeMachine(requiresALPN: Bool = true) -> TLSHandlerStateMachine {
        var machine = TLSHandlerStateMachine(requiresApplicationProtocol: requiresALPN)
        _ = machine.channelActive()
        _ = machine.handshakeStepped(.complete, negotiatedProtocol: { "notify/1" })
        return machine
    }

    @Test("activation starts the handshake once; writes are buffered but flushes wait for it")
    func handshakePhase() {
        var machine = TLSHandlerStateMachine(requiresApplicationProtocol: true)
        #expect(machine.channelActive() == .startHandshake)
        #expect(machine.channelActive() == .none)
        #expect(machine.channelRead() == .handshake)
        #expect(machine.write() == .buffer)
        #expect(machine.flush() == .none)
        #expect(machine.handshakeStepped(.incomplete, negotiatedProtocol: { nil }) == .proceed)
        #expect(machine.handshakeStepped(.complete, negotiatedProtocol: { "notify/1" }) == .completed(negotiatedProtocol: "notify/1"))
        #expect(machine.flush() == .encryptAndFlush)
        #expect(machine.channelRead() == .readApplicationData)
    }

    @Test("a completed handshake without ALPN fails when ALPN is required, and passes when not")
    func alpnRequired() {
        var required = TLSHandlerStateMachine(requiresApplicationProtocol: true)
        _ = required.channelActive()
        guard case .fail(let error) = required.handshakeStepped(.complete, negotiatedProtocol: { nil }) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.code == .alpnMismatch)
        #expect(required.channelRead() == .discard)

        var optional = TLSHandlerStateMachine(requiresApplicationProtocol: false)
        _ = optional.channelActive()
        #expect(optional.handshakeStepped(.complete, negotiatedProtocol: { nil }) == .completed(negotiatedProtocol: nil))
    }

    @Test("the handshake timer only fails a handshake in progress")
    func handshakeTimer() {
        var machine = TLSHandlerStateMachine(requiresApplicationProtocol: false)
        _ = machine.channelActive()
        guard case .fail(let error)? = machine.handshakeTimedOut(after: .seconds(10)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.code == .handshakeTimeout)
        var active = activeMachine()
        #expect(active.handshakeTimedOut(after: .seconds(10)) == nil)
    }

    @Test("closing an active connection sends close_notify; the peer's answer closes the transport")
    func cleanClose() {
        let loop = EmbeddedEventLoop()
        let promise = loop.makePromise(of: Void.self)
        var machine = activeMachine()
        #expect(machine.close(promise: promise) == .sendCloseNotify)
        #expect(machine.write() == .fail(TLSError(code: .closed, message: "write after the TLS connection started closing")))
        #expect(machine.channelRead() == .readApplicationData, "data before the peer's close_notify is still read")
        #expect(machine.receivedCloseNotify() == .closeTransport(promise))
        #expect(machine.channelInactive() == TLSHandlerStateMachine.InactiveAction())
        promise.succeed()
    }

    @Test("a second close while waiting for close_notify chains to the first promise")
    func repeatedClose() {
        let loop = EmbeddedEventLoop()
        let first = loop.makePromise(of: Void.self)
        let second = loop.makePromise(of: Void.self)
        var machine = activeMachine()
        _ = machine.close(promise: first)
        #expect(machine.close(promise: second) == .chain(second, to: first))
        #expect(machine.closeTimedOut() == .closeTransport(first))
        first.succeed()
        second.succeed()
    }

    @Test("the peer's close_notify on an active connection is answered; losing the transport is unclean")
    func peerCloses() {
        var machine = activeMachine()
        #expect(machine.receivedCloseNotify() == .replyAndClose)
        #expect(machine.channelInactive().error == nil)

        var dropped = activeMachine()
        #expect(dropped.channelInactive().error?.code == .uncleanShutdown)

        var handshaking = TLSHandlerStateMachine(requiresApplicationProtocol: true)
        _ = handshaking.channelActive()
        #expect(handshaking.channelInactive().error?.code == .handshakeFailed)
    }

    @Test("a failure is reported once; later failures during teardown are ignored")
    func failOnce() {
        var machine = activeMachine()
        let error = TLSError(code: .protocolFailure, message: "bad record mac")
        #expect(machine.failed(error) == .fireErrorAndClose(error, closePromise: nil))
        #expect(machine.failed(error) == .ignore)
    }
}
