import NIOCore
import NIOHTTP1
@testable import NotifyGateway
import Testing

@Suite("GatewayConnectionStateMachine: one request at a time, the body limit, the timeouts, the last answer")
struct GatewayConnectionStateMachineTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func machine(maxBodySize: Int = 10) -> GatewayConnectionStateMachine {
        GatewayConnectionStateMachine(now: start, maxBodySize: maxBodySize, readTimeout: .seconds(1), idleTimeout: .seconds(5))
    }

    private func head(_ fields: [(String, String)] = [], method: HTTPMethod = .POST, keepAlive: Bool = true) -> RequestHead {
        .init(method: method, uri: "/me/notifications/?x=1", headers: RequestHeaders(HTTPHeaders(fields)), keepAlive: keepAlive)
    }

    @Test("a request is read, answered, and the connection waits for the next")
    func requestCycle() {
        var state = machine()
        #expect(state.deadline == start + .seconds(5))
        guard case .none = state.receivedHead(head(), now: start) else { Issue.record("head"); return }
        #expect(state.deadline == start + .seconds(1))
        _ = state.receivedBody(ByteBuffer(string: "12345"))
        _ = state.receivedBody(ByteBuffer(string: "678"))
        guard case .answer(let request) = state.receivedEnd() else { Issue.record("end"); return }
        #expect(request.path == "/me/notifications/")
        #expect(String(buffer: request.body) == "12345678")
        #expect(state.isAnswering)
        #expect(state.deadline == nil)
        let action = state.answered(closes: false, now: start + .seconds(2))
        #expect(action == .write(closes: false, omitBody: false))
        #expect(state.deadline == start + .seconds(7))
    }

    @Test("a body over the limit is refused, declared or read, and the connection closes")
    func bodyLimit() {
        var declared = machine()
        guard case .refuse(.bodyTooLarge, let path) = declared.receivedHead(head([("Content-Length", "11")]), now: start) else {
            Issue.record("declared"); return
        }
        #expect(path == "/me/notifications/")
        #expect(!declared.isOpen)

        var read = machine()
        _ = read.receivedHead(head(), now: start)
        _ = read.receivedBody(ByteBuffer(string: "123456"))
        guard case .refuse(.bodyTooLarge, _) = read.receivedBody(ByteBuffer(string: "12345")) else { Issue.record("read"); return }
        #expect(!read.isOpen)
    }

    @Test("the read timeout refuses a slow body with 408; the idle timeout closes; an early timer waits")
    func timeouts() {
        var reading = machine()
        _ = reading.receivedHead(head(), now: start)
        let early = reading.timerFired(now: start + .milliseconds(500))
        #expect(early == .wait(until: start + .seconds(1)))
        let due = reading.timerFired(now: start + .seconds(1))
        #expect(due == .refuse(.readTimeout, path: "/me/notifications/"))

        var idle = machine()
        let idleAction = idle.timerFired(now: start + .seconds(5))
        #expect(idleAction == .close)
        #expect(!idle.isOpen)
    }

    /// A machine answering one request with `head`.
    private func answering(_ head: RequestHead) -> GatewayConnectionStateMachine {
        var state = machine()
        _ = state.receivedHead(head, now: start)
        _ = state.receivedEnd()
        return state
    }

    @Test("Connection: close, HEAD, graceful shutdown and a malformed follower decide how the answer ends")
    func lastAnswer() {
        var closing = answering(head(keepAlive: false))
        let closingAction = closing.answered(closes: false, now: start)
        #expect(closingAction == .write(closes: true, omitBody: false))

        var headRequest = answering(head(method: .HEAD))
        let headAction = headRequest.answered(closes: false, now: start)
        #expect(headAction == .write(closes: false, omitBody: true))

        var idle = machine()
        let closesNow = idle.finishUp()
        #expect(closesNow)

        var busy = answering(head())
        let busyClosesNow = busy.finishUp()
        #expect(!busyClosesNow)
        let busyAction = busy.answered(closes: false, now: start)
        #expect(busyAction == .write(closes: true, omitBody: false))

        var followed = answering(head())
        let answers400 = followed.malformed()
        #expect(!answers400)
        let followedAction = followed.answered(closes: false, now: start)
        #expect(followedAction == .write(closes: true, omitBody: false))

        var gone = answering(head())
        gone.closed()
        let goneAction = gone.answered(closes: false, now: start)
        #expect(goneAction == .drop)
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
