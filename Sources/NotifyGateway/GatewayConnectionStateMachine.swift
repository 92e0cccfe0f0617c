import NIOCore
import NIOHTTP1

/// What one HTTP/1.1 connection is doing, and what each event makes it do.
///
/// Requests are taken one at a time: a request pipelined behind one being
/// answered waits (the handler holds it and reads no more) until that answer
/// is written, so answers go out in order. The machine holds the two
/// timeouts as deadlines: while idle, a connection may wait `idleTimeout`
/// for its next request head (which also drops a head that never
/// completes); once a head has come, its body must arrive within `readTimeout`.
struct GatewayConnectionStateMachine {
    enum State {
        /// Between requests, since `since`.
        case idle(since: NIODeadline)
        /// A head has arrived; its body is being collected until `deadline`.
        case reading(head: RequestHead, body: ByteBuffer, deadline: NIODeadline)
        /// The request is complete; its answer is being made.
        case answering(head: RequestHead)
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

    enum ReadAction {
        case none
        /// The client waits for a 100 Continue before sending the body.
        case sendContinue
        /// Answer the refusal for the request to `path`, then close.
        case refuse(Refusal, path: Substring)
        /// The request is complete: answer it.
        case answer(GatewayRequest)
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
        case close
        case refuse(Refusal, path: Substring)
    }

    private(set) var state: State
    /// Graceful shutdown (or a broken request behind the current one): the
    /// answer being made is the last.
    private var lastAnswer = false
    let maxBodySize: Int
    let readTimeout: TimeAmount
    let idleTimeout: TimeAmount

    init(now: NIODeadline, maxBodySize: Int, readTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.state = .idle(since: now)
        self.maxBodySize = maxBodySize
        self.readTimeout = readTimeout
        self.idleTimeout = idleTimeout
    }

    /// When the connection next needs a look, if it is waiting for its client.
    var deadline: NIODeadline? {
        switch state {
        case .idle(let since): since + idleTimeout
        case .reading(_, _, let deadline): deadline
        case .answering, .closing, .closed: nil
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
        case .closing, .closed: false
        }
    }

    mutating func receivedHead(_ head: RequestHead, now: NIODeadline) -> ReadAction {
        guard case .idle = state else { return .none }
        // A declared length above the limit is refused before any of it is read.
        if let declared = head.headers.contentLength, declared > maxBodySize {
            state = .closing
            return .refuse(.bodyTooLarge, path: head.path)
        }
        state = .reading(head: head, body: ByteBuffer(), deadline: now + readTimeout)
        return head.headers.expectsContinue ? .sendContinue : .none
    }

    mutating func receivedBody(_ chunk: ByteBuffer) -> ReadAction {
        guard case .reading(let head, var body, let deadline) = state else { return .none }
        guard body.readableBytes + chunk.readableBytes <= maxBodySize else {
            state = .closing
            return .refuse(.bodyTooLarge, path: head.path)
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

    mutating func receivedEnd() -> ReadAction {
        guard case .reading(let head, let body, _) = state else { return .none }
        state = .answering(head: head)
        return .answer(GatewayRequest(head: head, body: body))
    }

    /// The answer is about to be written; `closes` when it asks to close the connection itself.
    mutating func answered(closes: Bool, now: NIODeadline) -> AnswerAction {
        guard case .answering(let head) = state else { return .drop }
        let omitBody = head.method == .HEAD
        if closes || !head.keepAlive || lastAnswer {
            state = .closing
            return .write(closes: true, omitBody: omitBody)
        }
        state = .idle(since: now)
        return .write(closes: false, omitBody: omitBody)
    }

    /// Graceful shutdown, or a malformed request behind the one being answered.
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
        case .closing, .closed:
            return false
        }
    }

    /// A request the HTTP parser rejected.
    ///
    /// - Returns: true when no answer has begun, so the connection may answer 400 before closing.
    mutating func malformed() -> Bool {
        switch state {
        case .idle, .reading:
            state = .closing
            return true
        case .answering:
            lastAnswer = true
            return false
        case .closing, .closed:
            return false
        }
    }

    mutating func timerFired(now: NIODeadline) -> TimerAction {
        guard let deadline else { return .none }
        guard deadline <= now else { return .wait(until: deadline) }
        switch state {
        case .reading(let head, _, _):
            state = .closing
            return .refuse(.readTimeout, path: head.path)
        case .idle:
            state = .closing
            return .close
        case .answering, .closing, .closed:
            return .none
        }
    }

    mutating func closed() {
        state = .closed
    }
}
