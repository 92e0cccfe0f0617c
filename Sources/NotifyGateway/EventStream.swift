import NIOCore
import Synchronization

/// Where the events of a server-sent-events answer go: the HTTP connection
/// that wrote its head.
protocol EventSink: Sendable {
    /// Writes `bytes` as one chunk; returns once they are on the socket, so
    /// that a reader that does not read holds its writer back.
    /// - Throws: when the connection is gone.
    func write(_ bytes: [UInt8]) async throws
    /// Writes `bytes` as the last chunk, ends the body and closes.
    func finish(_ bytes: [UInt8])
}

/// Joins the task that reads a live feed to the connection that writes it.
///
/// The responder's task reads the first page before the answer's status is
/// known (a refused caller gets an error answer, not a stream), then waits
/// here for the connection to take the stream. Either side may go first:
/// the connection can close before the task gets here, and the task's
/// reading must then stop too.
final class EventStreamLink: Sendable {
    private struct State {
        var sink: (any EventSink)?
        var waiter: CheckedContinuation<(any EventSink)?, Never>?
        /// ``untilDetached(_:)``'s watch for the connection's end.
        var goneWaiter: CheckedContinuation<Void, Never>?
        var gone = false
        /// The watch was cancelled (the reading ended first).
        var watchEnded = false
    }

    private let state = Mutex(State())

    init() {}

    /// Runs the reading `body` until it returns, or until the connection
    /// goes away, which cancels it.
    func untilDetached(_ body: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await body() }
            group.addTask { await self.detached() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once the connection is gone, or once cancelled.
    private func detached() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.gone || state.watchEnded { return true }
                    state.goneWaiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.watchEnded = true
                defer { state.goneWaiter = nil }
                return state.goneWaiter
            }
            waiter?.resume()
        }
    }

    /// The connection wrote the answer's head: events may follow.
    func attach(_ sink: any EventSink) {
        let waiter = state.withLock { state -> CheckedContinuation<(any EventSink)?, Never>? in
            guard !state.gone else { return nil }
            state.sink = sink
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: sink)
    }

    /// The connection is gone, or will not write the stream (its timeout's
    /// answer went first): the reader stops.
    func detach() {
        let (waiter, goneWaiter) = state.withLock { state in
            state.gone = true
            state.sink = nil
            defer {
                state.waiter = nil
                state.goneWaiter = nil
            }
            return (state.waiter, state.goneWaiter)
        }
        waiter?.resume(returning: nil)
        goneWaiter?.resume()
    }

    /// For the reader: the connection, once it has written the head; nil when it is gone.
    func sink() async -> (any EventSink)? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> (any EventSink)?? in
                if state.gone { return .some(nil) }
                if let sink = state.sink { return .some(sink) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// The text/event-stream format (WHATWG HTML, "Server-sent events").
enum ServerSentEvent {
    /// One event: its id (the field a reconnecting EventSource sends back as
    /// Last-Event-ID), its type and its data, one line of JSON.
    static func append(id: UInt64?, event: String, data: [UInt8], to out: inout [UInt8]) {
        if let id {
            out.append(contentsOf: "id: ".utf8)
            out.append(contentsOf: String(id).utf8)
            out.append(UInt8(ascii: "\n"))
        }
        out.append(contentsOf: "event: ".utf8)
        out.append(contentsOf: event.utf8)
        out.append(contentsOf: "\ndata: ".utf8)
        out.append(contentsOf: data)
        out.append(contentsOf: "\n\n".utf8)
    }

    /// A comment line: keeps idle proxies and the TCP connection alive, and
    /// finds a reader that went away.
    static let heartbeat = Array(": keep-alive\n\n".utf8)

    /// One chunk of a chunked body: size in hex, CRLF, the bytes, CRLF.
    static func chunk(_ bytes: [UInt8], allocator: ByteBufferAllocator, last: Bool = false) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: bytes.count + 16)
        if !bytes.isEmpty {
            buffer.writeString(String(bytes.count, radix: 16))
            buffer.writeStaticString("\r\n")
            buffer.writeBytes(bytes)
            buffer.writeStaticString("\r\n")
        }
        if last { buffer.writeStaticString("0\r\n\r\n") }
        return buffer
    }
}
