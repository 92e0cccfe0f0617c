import NIOCore
import NIOHTTP1
@testable import NotifyGateway
import Testing

@Suite("GatewayConnectionStateMachine: one request at a time, the body limit, the timeouts, the last answer")
struct GatewayConnectionStateMachineTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func machine(maxBodySize: Int = 10, headTimeout: TimeAmount = .seconds(5)) -> GatewayConnectionStateMachine {
        GatewayConnectionStateMachine(
            now: start, maxBodySize: maxBodySize, readTimeout: .seconds(1), idleTimeout: .seconds(5), answerTimeout: .seconds(3),
            headTimeout: headTimeout
        )
    }

    private func head(
        _ fields: [(String, String)] = [], method: HTTPMethod = .POST, keepAlive: Bool = true, host: Bool = true,
        version: HTTPVersion = .http1_1
    ) -> RequestHead {
        .init(
            method: method, uri: "/me/notifications/?x=1", headers: RequestHeaders(HTTPHeaders((host ? [("Host", "x")] : []) + fields)),
            keepAlive: keepAlive, version: version
        )
    }

    @Test("a request is read, answered, and the connection waits for the next")
    func requestCycle() {
        var state = machine()
        #expect(state.deadline == start + .seconds(5))
        guard case .none = state.receivedHead(head(), now: start) else { Issue.record("head"); return }
        #expect(state.deadline == start + .seconds(1))
        _ = state.receivedBody(ByteBuffer(string: "12345"))
        _ = state.receivedBody(ByteBuffer(string: "678"))
        guard case .answer(let request, let number) = state.receivedEnd(now: start) else { Issue.record("end"); return }
        #expect(request.path == "/me/notifications/")
        #expect(String(buffer: request.body) == "12345678")
        #expect(state.isAnswering)
        #expect(state.deadline == start + .seconds(3))
        let action = state.answered(number: number, closes: false, now: start + .seconds(2))
        #expect(action == .write(closes: false, omitBody: false))
        #expect(state.deadline == start + .seconds(7))
    }

    @Test("a body over the limit is refused, declared or read, and the connection closes")
    func bodyLimit() {
        var declared = machine()
        guard case .refuse(.bodyTooLarge, let path, _) = declared.receivedHead(head([("Content-Length", "11")]), now: start) else {
            Issue.record("declared"); return
        }
        #expect(path == "/me/notifications/")
        #expect(!declared.isOpen)

        var read = machine()
        _ = read.receivedHead(head(), now: start)
        _ = read.receivedBody(ByteBuffer(string: "123456"))
        guard case .refuse(.bodyTooLarge, _, _) = read.receivedBody(ByteBuffer(string: "12345")) else { Issue.record("read"); return }
        #expect(!read.isOpen)
    }

    @Test("the read timeout refuses a slow body with 408; the idle timeout closes; an early timer waits")
    func timeouts() {
        var reading = machine()
        _ = reading.receivedHead(head(), now: start)
        let early = reading.timerFired(now: start + .milliseconds(500))
        #expect(early == .wait(until: start + .seconds(1)))
        let due = reading.timerFired(now: start + .seconds(1))
        #expect(due == .refuse(.readTimeout, path: "/me/notifications/", origin: nil))

        var idle = machine()
        let idleAction = idle.timerFired(now: start + .seconds(5))
        #expect(idleAction == .close)
        #expect(!idle.isOpen)
    }

    @Test("no answer within the answer timeout: the timeout's answer goes in its place, the late one is dropped")
    func answerTimeout() {
        var state = machine()
        _ = state.receivedHead(head(), now: start)
        guard case .answer(_, let first) = state.receivedEnd(now: start) else { Issue.record("end"); return }
        let early = state.timerFired(now: start + .seconds(1))
        #expect(early == .wait(until: start + .seconds(3)))
        let due = state.timerFired(now: start + .seconds(3))
        #expect(due == .answerTimedOut(path: "/me/notifications/", clientRequestID: nil, origin: nil, write: .write(closes: false, omitBody: false)))
        #expect(!state.isAnswering)
        #expect(state.deadline == start + .seconds(8))
        // The next request is read and answered; the first one's answer, come late, is not written.
        _ = state.receivedHead(head(), now: start + .seconds(4))
        guard case .answer(_, let second) = state.receivedEnd(now: start + .seconds(4)) else { Issue.record("second"); return }
        let late = state.answered(number: first, closes: false, now: start + .seconds(4))
        #expect(late == .drop)
        #expect(state.isAnswering)
        let onTime = state.answered(number: second, closes: false, now: start + .seconds(5))
        #expect(onTime == .write(closes: false, omitBody: false))

        var last = machine()
        _ = last.receivedHead(head([("client-request-id", "c-1")], keepAlive: false), now: start)
        _ = last.receivedEnd(now: start)
        let closing = last.timerFired(now: start + .seconds(3))
        #expect(closing == .answerTimedOut(path: "/me/notifications/", clientRequestID: "c-1", origin: nil, write: .write(closes: true, omitBody: false)))
        #expect(!last.isOpen)
    }

    @Test("a head must be complete within the head timeout of its first byte, a new connection's first within it of the accept")
    func headTimeout() {
        // A new connection: the head timeout runs from the accept, bytes or not.
        var fresh = machine(headTimeout: .seconds(2))
        #expect(fresh.deadline == start + .seconds(2))
        fresh.receivedBytes(now: start + .seconds(1))
        #expect(fresh.deadline == start + .seconds(2))
        #expect(fresh.timerFired(now: start + .seconds(2)) == .headTimeout)
        #expect(!fresh.isOpen)

        var silent = machine(headTimeout: .seconds(2))
        #expect(silent.timerFired(now: start + .seconds(2)) == .close)

        // Keep-alive: the idle timeout until the next head begins, then the head timeout.
        var kept = machine(headTimeout: .seconds(2))
        _ = kept.receivedHead(head(), now: start)
        guard case .answer(_, let number) = kept.receivedEnd(now: start) else { Issue.record("end"); return }
        _ = kept.answered(number: number, closes: false, now: start + .seconds(1))
        #expect(kept.deadline == start + .seconds(6))
        #expect(kept.awaitsHeadStart)
        kept.receivedBytes(now: start + .seconds(3))
        #expect(!kept.awaitsHeadStart)
        #expect(kept.deadline == start + .seconds(5))
        #expect(kept.timerFired(now: start + .seconds(4)) == .wait(until: start + .seconds(5)))
        #expect(kept.timerFired(now: start + .seconds(5)) == .headTimeout)

        // A head that completes in time stops the clock; its body has the read timeout.
        var onTime = machine(headTimeout: .seconds(2))
        onTime.receivedBytes(now: start)
        _ = onTime.receivedHead(head(), now: start + .seconds(1))
        #expect(onTime.deadline == start + .seconds(2))
        #expect(!onTime.awaitsHeadStart)

        // Bytes of the next head that came during an answer: its clock starts at the answer.
        var pipelined = machine(headTimeout: .seconds(2))
        _ = pipelined.receivedHead(head(), now: start)
        _ = pipelined.receivedEnd(now: start)
        pipelined.receivedBytes(now: start)
        _ = pipelined.answered(number: 1, closes: false, now: start + .seconds(2))
        #expect(pipelined.deadline == start + .seconds(4))
    }

    @Test("Host missing from HTTP/1.1 or repeated, a transfer coding other than chunked, HTTP/0.9: refused before any endpoint")
    func protocolErrors() {
        func action(_ head: RequestHead) -> GatewayConnectionStateMachine.ProtocolError? {
            var state = machine()
            switch state.receivedHead(head, now: start) {
            case .reject(let error):
                #expect(!state.isOpen)
                return error
            case .none, .sendContinue, .refuse, .answer:
                return nil
            }
        }
        #expect(action(head(host: false)) == .badHost)
        #expect(action(head([("host", "y")])) == .badHost)
        #expect(action(head(host: false, version: .http1_0)) == nil)
        #expect(action(head([("Host", "x"), ("Host", "y")], host: false, version: .http1_0)) == .badHost)
        #expect(action(head([("Transfer-Encoding", "gzip, chunked")])) == .unsupportedTransferCoding)
        #expect(action(head([("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")])) == .unsupportedTransferCoding)
        #expect(action(head([("Transfer-Encoding", "Chunked")])) == nil)
        #expect(action(head(host: false, version: HTTPVersion(major: 0, minor: 9))) == .unsupportedVersion)
    }

    /// A machine answering one request with `head`.
    private func answering(_ head: RequestHead) -> GatewayConnectionStateMachine {
        var state = machine()
        _ = state.receivedHead(head, now: start)
        _ = state.receivedEnd(now: start)
        return state
    }

    @Test("Connection: close, HEAD, graceful shutdown and a malformed follower decide how the answer ends")
    func lastAnswer() {
        var closing = answering(head(keepAlive: false))
        let closingAction = closing.answered(number: 1, closes: false, now: start)
        #expect(closingAction == .write(closes: true, omitBody: false))

        var headRequest = answering(head(method: .HEAD))
        let headAction = headRequest.answered(number: 1, closes: false, now: start)
        #expect(headAction == .write(closes: false, omitBody: true))

        var idle = machine()
        let closesNow = idle.finishUp()
        #expect(closesNow)

        var busy = answering(head())
        let busyClosesNow = busy.finishUp()
        #expect(!busyClosesNow)
        let busyAction = busy.answered(number: 1, closes: false, now: start)
        #expect(busyAction == .write(closes: true, omitBody: false))

        var followed = answering(head())
        let answers400 = followed.malformed()
        #expect(!answers400)
        let followedAction = followed.answered(number: 1, closes: false, now: start)
        #expect(followedAction == .write(closes: true, omitBody: false))

        var gone = answering(head())
        gone.closed()
        let goneAction = gone.answered(number: 1, closes: false, now: start)
        #expect(goneAction == .drop)
    }

    @Test("a stream starts; one whose first page came after graceful shutdown began starts and ends at once; a late one is dropped")
    func streams() {
        func answering(_ state: inout GatewayConnectionStateMachine) -> UInt64 {
            _ = state.receivedHead(head(method: .GET), now: start)
            guard case .answer(_, let number) = state.receivedEnd(now: start) else {
                Issue.record("no answer")
                return 0
            }
            return number
        }
        var plain = machine()
        let first = answering(&plain)
        let started = plain.answeredWithStream(number: first)
        #expect(started == .start)
        #expect(plain.isStreaming)
        #expect(plain.deadline == nil)

        var shuttingDown = machine()
        let second = answering(&shuttingDown)
        let closesNow = shuttingDown.finishUp()
        #expect(!closesNow)
        let ended = shuttingDown.answeredWithStream(number: second)
        #expect(ended == .startAndEnd)

        var late = machine()
        let third = answering(&late)
        _ = late.timerFired(now: start + .seconds(4))
        let dropped = late.answeredWithStream(number: third)
        #expect(dropped == .drop)
    }

    @Test("a body exactly at the limit is taken, declared or read; Expect: 100-continue asks for the body")
    func bodyAtLimit() {
        var declared = machine()
        guard case .none = declared.receivedHead(head([("Content-Length", "10")]), now: start) else { Issue.record("declared"); return }
        guard case .none = declared.receivedBody(ByteBuffer(string: "1234567890")) else { Issue.record("body"); return }
        guard case .answer(let request, _) = declared.receivedEnd(now: start) else { Issue.record("end"); return }
        #expect(request.body.readableBytes == 10)

        var continued = machine()
        guard case .sendContinue = continued.receivedHead(head([("Expect", "100-continue")]), now: start) else {
            Issue.record("no 100 Continue"); return
        }
        #expect(continued.isOpen && !continued.isAnswering)
    }

    @Test("parts that arrive out of turn are ignored: a body or end with no head, a head while answering or closing, anything after the close")
    func outOfTurn() {
        var idle = machine()
        guard case .none = idle.receivedBody(ByteBuffer(string: "x")) else { Issue.record("body while idle"); return }
        guard case .none = idle.receivedEnd(now: start) else { Issue.record("end while idle"); return }
        #expect(!idle.isAnswering && idle.isOpen)

        var busy = answering(head())
        guard case .none = busy.receivedHead(head(), now: start) else { Issue.record("head while answering"); return }
        let outcome1 = busy.answered(number: 1, closes: false, now: start)
        #expect(outcome1 == .write(closes: false, omitBody: false))

        var refused = machine()
        _ = refused.receivedHead(head([("Content-Length", "11")]), now: start)
        guard case .none = refused.receivedHead(head(), now: start) else { Issue.record("head while closing"); return }
        #expect(refused.deadline == nil)
        let outcome2 = refused.timerFired(now: start + .seconds(60))
        #expect(outcome2 == .none)

        var gone = machine()
        gone.closed()
        guard case .none = gone.receivedHead(head(), now: start) else { Issue.record("head after the close"); return }
        #expect(!gone.isOpen && gone.deadline == nil && !gone.awaitsHeadStart)
        let outcome3 = gone.finishUp()
        #expect(!outcome3)
        let outcome4 = gone.malformed()
        #expect(!outcome4)
    }

    @Test("an answer that asks to close, and an HTTP/1.0 request without keep-alive, close the connection after it")
    func answerCloses() {
        var asks = answering(head())
        let outcome5 = asks.answered(number: 1, closes: true, now: start)
        #expect(outcome5 == .write(closes: true, omitBody: false))
        #expect(!asks.isOpen)

        var old = answering(head(keepAlive: false, host: false, version: .http1_0))
        let outcome6 = old.answered(number: 1, closes: false, now: start)
        #expect(outcome6 == .write(closes: true, omitBody: false))
    }

    @Test("a malformed request while idle or reading is answered 400 at once; while streaming it is not")
    func malformedStates() {
        var idle = machine()
        let outcome7 = idle.malformed()
        #expect(outcome7)
        #expect(!idle.isOpen)

        var reading = machine()
        _ = reading.receivedHead(head(), now: start)
        let outcome8 = reading.malformed()
        #expect(outcome8)
        #expect(!reading.isOpen)

        var streaming = answering(head(method: .GET))
        let outcome9 = streaming.answeredWithStream(number: 1)
        #expect(outcome9 == .start)
        let outcome10 = streaming.malformed()
        #expect(!outcome10)
        let outcome11 = streaming.finishUp()
        #expect(!outcome11)
        let outcome12 = streaming.timerFired(now: start + .seconds(3600))
        #expect(outcome12 == .none)
        let outcome13 = streaming.answered(number: 1, closes: false, now: start)
        #expect(outcome13 == .drop)
    }

    @Test("request headers are found whatever their case; the first of a repeated one wins")
    func headers() {
        let headers = RequestHeaders(HTTPHeaders([
            ("AUTHORIZATION", "Bearer a"), ("authorization", "Bearer b"), ("Content-Encoding", "gzip"),
            ("content-encoding", "identity"), ("X-Uns-Id", "s"), ("If-Range", "x"), ("Expect", "100-Continue"),
        ]))
        #expect(headers.authorization == "Bearer a")
        #expect(headers.contentEncoding == "gzip, identity")
        #expect(headers.unsID == "s")
        #expect(headers.refusedConditional == "If-Range")
        #expect(headers.expectsContinue)
    }
}
