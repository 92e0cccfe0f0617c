import NIOCore
import NIOHTTP1
import NotifyDomain

/// What one HTTP/1.1 connection is doing, and what each event makes it do.
///
/// Requests are taken one at a time: a request pipelined behind one being
/// answered waits (the handler holds it and reads no more) until that answer
/// is written, so answers go out in order. The machine holds the four
/// timeouts as deadlines: a head must be complete within `headTimeout` of
/// its first byte (a new connection's first head within `headTimeout` of the
/// accept), so that a client trickling its head (slowloris) holds its
/// connection for seconds, not minutes; between requests, a keep-alive
/// connection may wait `idleTimeout` for the first byte of its next head;
/// once a head has come, its body must arrive within `readTimeout`; once the
/// body is complete, its answer within `answerTimeout` (the RPC deadline).
/// That last one is the gateway's own: an in-process call has no connection
/// whose deadline timer would cut it, and a remote call's client may be
/// stuck connecting.
struct GatewayConnectionStateMachine {
    enum State {
        /// Between requests, since `since` (the accept, or the last answer).
        case idle(since: NIODeadline)
        /// A head has arrived; its body is being collected until `deadline`.
        case reading(head: RequestHead, body: ByteBuffer, deadline: NIODeadline)
        /// Request `number` is complete; its answer is being made until `deadline`.
        case answering(head: RequestHead, number: UInt64, deadline: NIODeadline)
        /// An endless answer (server-sent events) is being written: no
        /// timeout applies and no more requests are served; the connection
        /// closes when the stream ends. Reads go on, so that a client that
        /// goes away is noticed, but what they bring is ignored.
        case streaming
        /// An answer that closes the connection is on its way; reads are ignored.
        case closing
        case closed
    }

    /// A refusal made while reading, before any endpoint runs.
    enum Refusal: Equatable {
        /// The body is larger than the limit (declared or read).
        case bodyTooLarge
        /// The body did not arrive within the read timeout.
        case readTimeout
    }

    /// A head that breaks HTTP/1.1's rules, refused before any endpoint runs
    /// with a plain answer and a close (docs/GATEWAY.md, "Limits").
    enum ProtocolError: Equatable {
        /// HTTP/1.1 without a Host header, or any request with more than one (RFC 9112 §3.2): 400.
        case badHost
        /// A transfer coding other than chunked, which the gateway does not implement (RFC 9112 §6.1): 501.
        case unsupportedTransferCoding
        /// A request line with no HTTP version (HTTP/0.9): 400.
        case unsupportedVersion
    }

    enum ReadAction {
        case none
        /// The client waits for a 100 Continue before sending the body.
        case sendContinue
        /// Answer the refusal for the request to `path`, then close; `origin`
        /// (the request's Origin) so that a browser's page can read the answer.
        case refuse(Refusal, path: Substring, origin: String?)
        /// Answer the protocol error plainly, then close.
        case reject(ProtocolError)
        /// The request is complete: answer it, naming `number` with the answer.
        case answer(GatewayRequest, number: UInt64)
    }

    enum AnswerAction: Equatable {
        /// The connection is gone: there is nothing to write to.
        case drop
        /// Write the answer; close after it when `closes`. `omitBody` for HEAD.
        case write(closes: Bool, omitBody: Bool)
    }

    enum TimerAction: Equatable {
        case none
        /// The deadline has moved on: wait for the new one.
        case wait(until: NIODeadline)
        /// Idle too long, or a new connection that sent nothing: close with no answer.
        case close
        /// A head begun and not finished within the head timeout: 408, then close.
        case headTimeout
        case refuse(Refusal, path: Substring, origin: String?)
        /// No answer came in time: write the timeout's answer for the request to
        /// `path` (echoing its client-request-id) in its place; the late answer
        /// will be dropped.
        case answerTimedOut(path: Substring, clientRequestID: String?, origin: String?, write: AnswerAction)
    }

    private(set) var state: State
    /// Graceful shutdown: the answer being made is the last.
    private var lastAnswer = false
    /// The number of the last request completed: a late answer names an older one.
    private var requests: UInt64 = 0
    /// When the first byte of the next head arrived, while idle or answering;
    /// nil until one has. Cleared when the head is complete.
    private var headStarted: NIODeadline?
    let maxBodySize: Int
    let readTimeout: TimeAmount
    let idleTimeout: TimeAmount
    let answerTimeout: TimeAmount
    let headTimeout: TimeAmount

    init(
        now: NIODeadline, maxBodySize: Int, readTimeout: TimeAmount, idleTimeout: TimeAmount, answerTimeout: TimeAmount,
        headTimeout: TimeAmount
    ) {
        self.state = .idle(since: now)
        self.maxBodySize = maxBodySize
        self.readTimeout = readTimeout
        self.idleTimeout = idleTimeout
        self.answerTimeout = answerTimeout
        self.headTimeout = headTimeout
    }

    /// When the connection next needs a look, if it is waiting for its client or an answer.
    var deadline: NIODeadline? {
        switch state {
        case .idle(let since):
            // A new connection has the head timeout from its accept; a
            // keep-alive one the idle timeout until its next head begins.
            if requests == 0 { since + headTimeout } else if let headStarted { headStarted + headTimeout } else { since + idleTimeout }
        case .reading(_, _, let deadline): deadline
        case .answering(_, _, let deadline): deadline
        case .streaming, .closing, .closed: nil
        }
    }

    /// Whether a request part arriving now must wait for the current answer.
    var isAnswering: Bool {
        if case .answering = state { return true }
        return false
    }

    /// Whether request parts are still read at all.
    var isOpen: Bool {
        switch state {
        case .idle, .reading, .answering: true
        case .streaming, .closing, .closed: false
        }
    }

    /// Whether an endless answer is being written.
    var isStreaming: Bool {
        if case .streaming = state { return true }
        return false
    }

    /// Whether the arrival of request bytes now would start the head timeout's clock.
    var awaitsHeadStart: Bool {
        switch state {
        case .idle, .answering: headStarted == nil
        case .reading, .streaming, .closing, .closed: false
        }
    }

    /// Bytes arrived from the client. While idle (or while an answer is made,
    /// when they can only belong to the next request) the first of them
    /// starts the head timeout's clock.
    mutating func receivedBytes(now: NIODeadline) {
        guard awaitsHeadStart else { return }
        headStarted = now
    }

    mutating func receivedHead(_ head: RequestHead, now: NIODeadline) -> ReadAction {
        guard case .idle = state else { return .none }
        headStarted = nil
        if let error = Self.protocolError(in: head) {
            state = .closing
            return .reject(error)
        }
        // A declared length above the limit is refused before any of it is read.
        if let declared = head.headers.contentLength, declared > maxBodySize {
            state = .closing
            return .refuse(.bodyTooLarge, path: head.path, origin: head.headers.origin)
        }
        state = .reading(head: head, body: ByteBuffer(), deadline: now + readTimeout)
        return head.headers.expectsContinue ? .sendContinue : .none
    }

    /// What RFC 9112 makes a server refuse in a head that the parser let through.
    private static func protocolError(in head: RequestHead) -> ProtocolError? {
        if head.version.major != 1 { return .unsupportedVersion }
        if head.headers.hostCount > 1 || (head.headers.hostCount == 0 && head.version.minor >= 1) { return .badHost }
        if let codings = head.headers.transferEncoding {
            // llhttp refuses a request whose last coding is not chunked; any
            // other coding before it would have to be undone, and is not implemented.
            let names = codings.split(separator: ",").map { BodyReading.trimmingOWS($0) }.filter { !$0.isEmpty }
            guard names.count == 1, ASCII.equalsIgnoringCase(names[0].utf8, "chunked".utf8) else { return .unsupportedTransferCoding }
        }
        return nil
    }

    mutating func receivedBody(_ chunk: ByteBuffer) -> ReadAction {
        guard case .reading(let head, var body, let deadline) = state else { return .none }
        guard body.readableBytes + chunk.readableBytes <= maxBodySize else {
            state = .closing
            return .refuse(.bodyTooLarge, path: head.path, origin: head.headers.origin)
        }
        state = .closing  // Drops the state's reference to `body`: appending then copies nothing.
        if body.readableBytes == 0 {
            body = chunk
        } else {
            body.writeImmutableBuffer(chunk)
        }
        state = .reading(head: head, body: body, deadline: deadline)
        return .none
    }

    mutating func receivedEnd(now: NIODeadline) -> ReadAction {
        guard case .reading(let head, let body, _) = state else { return .none }
        requests += 1
        state = .answering(head: head, number: requests, deadline: now + answerTimeout)
        return .answer(GatewayRequest(head: head, body: body), number: requests)
    }

    /// Request `number`'s answer is about to be written; `closes` when it asks
    /// to close the connection itself. An answer that came after its timeout's is dropped.
    mutating func answered(number: UInt64, closes: Bool, now: NIODeadline) -> AnswerAction {
        guard case .answering(let head, let answering, _) = state, answering == number else { return .drop }
        return finishAnswer(head, closes: closes, now: now)
    }

    /// What to do with a stream about to start.
    enum StreamAction: Equatable {
        /// It came after its timeout's answer: do not start it.
        case drop
        case start
        /// Its answer became the connection's last while its first page was
        /// awaited (graceful shutdown, a malformed request behind it): start
        /// it (the head and that page), then end it at once.
        case startAndEnd
    }

    /// Request `number`'s answer is an endless stream, about to start.
    mutating func answeredWithStream(number: UInt64) -> StreamAction {
        guard case .answering(_, let answering, _) = state, answering == number else { return .drop }
        state = .streaming
        return lastAnswer ? .startAndEnd : .start
    }

    private mutating func finishAnswer(_ head: RequestHead, closes: Bool, now: NIODeadline) -> AnswerAction {
        let omitBody = head.method == .HEAD
        if closes || !head.keepAlive || lastAnswer {
            state = .closing
            return .write(closes: true, omitBody: omitBody)
        }
        state = .idle(since: now)
        // Bytes of the next head that came while this answer was made: its
        // clock starts now, as reading may have been held back meanwhile.
        if headStarted != nil { headStarted = now }
        return .write(closes: false, omitBody: omitBody)
    }

    /// Graceful shutdown: the answer being made, if any, is the last.
    ///
    /// - Returns: true when the connection can close now (nothing is being read or answered).
    mutating func finishUp() -> Bool {
        switch state {
        case .idle:
            state = .closing
            return true
        case .reading, .answering:
            lastAnswer = true
            return false
        case .streaming:
            // The handler ends the stream, and closes after it.
            return false
        case .closing, .closed:
            return false
        }
    }

    /// A request the HTTP parser rejected. (The handler holds one that came
    /// behind requests still to be answered until their turn.)
    ///
    /// - Returns: true when no answer is being made, so the connection may answer 400 before
    ///   closing; otherwise the answer being made is the last.
    mutating func malformed() -> Bool {
        switch state {
        case .idle, .reading:
            state = .closing
            return true
        case .answering:
            lastAnswer = true
            return false
        case .streaming, .closing, .closed:
            return false
        }
    }

    mutating func timerFired(now: NIODeadline) -> TimerAction {
        guard let deadline else { return .none }
        guard deadline <= now else { return .wait(until: deadline) }
        switch state {
        case .reading(let head, _, _):
            state = .closing
            return .refuse(.readTimeout, path: head.path, origin: head.headers.origin)
        case .idle:
            state = .closing
            return headStarted == nil ? .close : .headTimeout
        case .answering(let head, _, _):
            return .answerTimedOut(
                path: head.path, clientRequestID: head.headers.clientRequestID, origin: head.headers.origin,
                write: finishAnswer(head, closes: false, now: now)
            )
        case .streaming, .closing, .closed:
            return .none
        }
    }

    mutating func closed() {
        state = .closed
    }
}
