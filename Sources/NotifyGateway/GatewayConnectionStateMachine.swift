import HTTPTypes
import NIOCore

/// What one HTTP/1.1 connection is doing, and what each event makes it do.
///
/// NIO's pipelining assistance hands the connection one request at a time,
/// so the states follow a single request: waited for, read, answered. The
/// machine holds the two timeouts as deadlines: while idle, a connection may
/// wait `idleTimeout` for its next request head (which also drops a head
/// that never completes); once a head has come, its body must arrive within
/// `readTimeout`.
struct GatewayConnectionStateMachine {
    enum State {
        /// Between requests, since `since`.
        case idle(since: NIODeadline)
        /// A head has arrived; its body is being collected until `deadline`.
        case reading(head: HTTPRequest, body: ByteBuffer, deadline: NIODeadline)
        /// The request is complete; its answer is being made. The client
        /// may have asked to close the connection after it.
        case answering(clientCloses: Bool)
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
        /// Answer the refusal for the request to `path`, then close.
        case refuse(Refusal, path: Substring)
        /// The request is complete: answer it.
        case answer(GatewayRequest)
    }

    enum TimerAction: Equatable {
        case none
        /// The deadline has moved on: wait for the new one.
        case wait(until: NIODeadline)
        case close
        case refuse(Refusal, path: Substring)
    }

    private(set) var state: State
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

    mutating func receivedHead(_ head: HTTPRequest, now: NIODeadline) -> ReadAction {
        guard case .idle = state else { return .none }
        // A declared length above the limit is refused before any of it is read.
        if let declared = head.headerFields[.contentLength].flatMap({ Int($0) }), declared > maxBodySize {
            state = .closing
            return .refuse(.bodyTooLarge, path: Self.path(of: head))
        }
        state = .reading(head: head, body: ByteBuffer(), deadline: now + readTimeout)
        return .none
    }

    mutating func receivedBody(_ chunk: ByteBuffer) -> ReadAction {
        guard case .reading(let head, var body, let deadline) = state else { return .none }
        guard body.readableBytes + chunk.readableBytes <= maxBodySize else {
            state = .closing
            return .refuse(.bodyTooLarge, path: Self.path(of: head))
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
        let clientCloses = head.headerFields[.connection].map(Self.asksToClose) ?? false
        state = .answering(clientCloses: clientCloses)
        return .answer(GatewayRequest(head: head, body: body))
    }

    enum AnswerAction: Equatable {
        /// The connection is gone: there is nothing to write to.
        case drop
        case write
        /// Write the answer with `Connection: close`, then close.
        case writeAndClose
    }

    /// The answer is about to be written; `closes` when it asks to close the connection itself.
    mutating func answered(closes: Bool, now: NIODeadline) -> AnswerAction {
        guard case .answering(let clientCloses) = state else { return .drop }
        if closes || clientCloses {
            state = .closing
            return .writeAndClose
        }
        state = .idle(since: now)
        return .write
    }

    mutating func timerFired(now: NIODeadline) -> TimerAction {
        guard let deadline else { return .none }
        guard deadline <= now else { return .wait(until: deadline) }
        switch state {
        case .reading(let head, _, _):
            state = .closing
            return .refuse(.readTimeout, path: Self.path(of: head))
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

    /// Whether a Connection header's tokens include "close".
    private static func asksToClose(_ value: String) -> Bool {
        value.split(separator: ",").contains { BodyReading.trimmingOWS($0).lowercased() == "close" }
    }

    private static func path(of head: HTTPRequest) -> Substring {
        GatewayRequest(head: head, body: ByteBuffer()).path
    }
}
