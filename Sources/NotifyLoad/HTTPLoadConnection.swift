import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NotifyJSON
import NotifyTLS
import Synchronization

/// The gateway's requests of a run, built once: the documented paths,
/// headers and JSON bodies, encoded as the bytes sent for every call.
///
/// The requests never change during a run, so they are encoded once, as
/// wrk does: encoding and validating the same head per call was an eighth
/// of the generator's CPU, which shares the cores with the server it measures.
struct HTTPWorkload: Sendable {
    struct Request: Sendable {
        var bytes: ByteBuffer
    }

    static let notifyPath = "/api/v2/notification/notify/"
    static let sendPath = "/me/notifications/"

    let requests: [LoadOperation: Request]

    init(configuration: LoadConfiguration) throws(LoadConfigurationError) {
        var requests: [LoadOperation: Request] = [:]
        for operation in configuration.mix.operations {
            let text = PayloadText(bytes: configuration.payloadBytes, for: operation)
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "\(configuration.host):\(configuration.port)")
            headers.add(name: "Content-Type", value: "application/json")
            if let token = configuration.token { headers.add(name: "Authorization", value: "Bearer \(token)") }
            let path: String
            // The documented bodies through NotifyJSON's writer, keys in sorted order.
            var json = JSONWriter(capacity: 256 + configuration.payloadBytes)
            json.beginObject()
            switch operation {
            case .notifyUser, .notifyConnections:
                path = HTTPWorkload.notifyPath
                json.member("description", orNull: text.body)
                json.member("recipients_type", operation == .notifyUser ? "user" : "connections")
                json.member("title", text.title)
                json.member("type", "load")
                json.member("user", configuration.user ?? 0)
            case .send:
                path = HTTPWorkload.sendPath
                headers.add(name: "X-UNS-ID", value: configuration.unsID ?? "")
                json.member("displayTimeToLive", "60")
                json.member("groupName", "load")
                json.key("payload")
                json.beginObject()
                json.member("rawContent", omittingNil: text.rawContent)
                json.key("visualContent")
                json.beginObject()
                json.member("body", omittingNil: text.body)
                json.member("title", text.title)
                json.endObject()
                json.endObject()
                json.member("priority", "High")
            case .health, .markRead, .unseenCount:
                throw LoadConfigurationError("\(operation.rawValue) is measured over RPC only")
            }
            json.endObject()
            let data = json.bytes
            headers.add(name: "Content-Length", value: "\(data.count)")
            var bytes = ByteBuffer(string: "POST \(path) HTTP/1.1\r\n")
            for (name, value) in headers { bytes.writeString("\(name): \(value)\r\n") }
            bytes.writeString("\r\n")
            bytes.writeBytes(data)
            requests[operation] = Request(bytes: bytes)
        }
        self.requests = requests
    }
}

/// One HTTP/1.1 keep-alive connection to the gateway, made again when it closes.
///
/// Plain HTTP, or TLS (NotifyTLS, ALPN http/1.1) when a CA is given. The
/// calls in flight on it are pipelined; with `--in-flight 1` there is one
/// request at a time.
final class HTTPLoadConnection: LoadConnection {
    private struct Ready: Sendable {
        var channel: any Channel
        var handler: NIOLoopBound<HTTPClientHandler>
    }

    private enum State {
        case idle
        case connecting(EventLoopFuture<Ready>)
        case ready(Ready)
        case closed
    }

    private let configuration: LoadConfiguration
    private let workload: HTTPWorkload
    let eventLoop: any EventLoop
    private let tls: TLSContext?
    /// `--timeout`, for each call and for making the connection.
    private let timeout: TimeAmount
    private let state = Mutex<State>(.idle)

    init(configuration: LoadConfiguration, workload: HTTPWorkload, group: any EventLoopGroup) throws(LoadConfigurationError) {
        self.configuration = configuration
        self.workload = workload
        self.eventLoop = group.next()
        self.timeout = TimeAmount(configuration.timeoutDuration)
        if let caFile = configuration.caFile {
            do {
                tls = try TLSContext(configuration: .client(
                    trustRootsFile: caFile, serverName: configuration.host, applicationProtocols: ["http/1.1"]
                ))
            } catch {
                throw LoadConfigurationError("TLS configuration: \(error)")
            }
        } else {
            tls = nil
        }
    }

    func prepare() async throws(LoadConfigurationError) {
        do {
            _ = try await ready().get()
        } catch {
            throw LoadConfigurationError("cannot reach the gateway at \(configuration.host):\(configuration.port): \(error)")
        }
    }

    func start(_ operation: LoadOperation, completion: @escaping @Sendable (Outcome) -> Void) {
        guard let request = workload.requests[operation] else {
            return completion(Outcome(status: "NOT_IN_MIX", isSuccess: false))
        }
        // While the connection is up the call is sent at once; while it is
        // being made (again) the call waits on the connect future, on the
        // connection's loop. Neither path goes through a task: under load
        // the cooperative pool is the last to get a core.
        switch nextConnection() {
        case .use(let current):
            send(request, over: current) { completion(Self.outcome($0)) }
        case .wait(let future):
            future.whenComplete { [self] result in
                switch result {
                case .success(let connection): send(request, over: connection) { completion(Self.outcome($0)) }
                case .failure: completion(Outcome(status: HTTPLoadError.connectionFailed("").status, isSuccess: false))
                }
            }
        case .closed:
            completion(Outcome(status: HTTPLoadError.connectionClosed.status, isSuccess: false))
        }
    }

    /// Sends `request` on the connection's loop; `completion` runs there.
    private func send(
        _ request: HTTPWorkload.Request, over connection: Ready,
        completion: @escaping @Sendable (Result<HTTPResponseStatus, HTTPLoadError>) -> Void
    ) {
        let deadline = NIODeadline.now() + timeout
        let handler = connection.handler
        if connection.channel.eventLoop.inEventLoop {
            // A closed-loop lane's next call, started from the last one's answer.
            handler.value.send(request.bytes, deadline: deadline, completion: completion)
        } else {
            connection.channel.eventLoop.execute {
                handler.value.send(request.bytes, deadline: deadline, completion: completion)
            }
        }
    }

    private static func outcome(_ result: Result<HTTPResponseStatus, HTTPLoadError>) -> Outcome {
        switch result {
        case .success(let status):
            return Outcome(status: "HTTP \(status.code)", isSuccess: (200..<300).contains(status.code))
        case .failure(let error):
            return Outcome(status: error.status, isSuccess: false)
        }
    }

    func close() async {
        let channel: (any Channel)? = state.withLock { state in
            defer { state = .closed }
            if case .ready(let ready) = state { return ready.channel }
            return nil
        }
        try? await channel?.close()
    }

    private enum Next {
        case use(Ready)
        case wait(EventLoopFuture<Ready>)
        case closed
    }

    /// The connection to use now, or the future of the one being made.
    private func nextConnection() -> Next {
        state.withLock { state in
            switch state {
            case .ready(let ready) where ready.channel.isActive:
                return .use(ready)
            case .connecting(let future):
                return .wait(future)
            case .closed:
                return .closed
            case .idle, .ready:
                let future = connect()
                state = .connecting(future)
                return .wait(future)
            }
        }
    }

    private func ready() -> EventLoopFuture<Ready> {
        switch nextConnection() {
        case .use(let ready): eventLoop.makeSucceededFuture(ready)
        case .wait(let future): future
        case .closed: eventLoop.makeFailedFuture(HTTPLoadError.connectionClosed)
        }
    }

    private func connect() -> EventLoopFuture<Ready> {
        let tls = self.tls
        let future = ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(HTTPStatusDecoder()),
                        HTTPClientHandler(),
                    ])
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: HTTPClientHandler.self)
                return Ready(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
            }
        future.whenComplete { [weak self] result in
            self?.state.withLock { state in
                guard case .connecting = state else {
                    if case .success(let ready) = result { ready.channel.close(promise: nil) }
                    return
                }
                switch result {
                case .success(let ready): state = .ready(ready)
                case .failure: state = .idle
                }
            }
        }
        return future
    }
}
