import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyMetricsServer
import NotifyServer
import NotifyTesting
import NotifyWire
import Synchronization
import Testing

/// The `notifyd` built with the tests; the process tests are skipped without it.
private let notifyd = NotifydProcess.executable()

/// GETs `url`: its status and body.
private func get(_ url: String) async throws -> (status: Int, body: String) {
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    let outcome: Result<(status: Int, body: String), any Error>
    do {
        let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 4 << 20)
        outcome = .success((Int(response.status.code), String(buffer: body)))
    } catch {
        outcome = .failure(error)
    }
    // Shut down before it goes, whatever happened: a client dropped while
    // shutting down traps (the first polls, before the server listens, throw).
    try? await http.shutdown()
    return try outcome.get()
}

/// Waits until `condition` holds, for at most 20 s.
private func poll(_ what: String, _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("timed out waiting until \(what)")
}

/// The value of the sample line `name{labels}` (labels as exposed, in order), if present.
private func sample(_ exposition: String, _ series: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

@Suite("metrics: /metrics over HTTP shows the calls, each by method and status, from a registry of the test's own")
struct MetricsTests {
    @Test("after calls, /metrics shows each method's counters with its labels and values, its latency and the open connections")
    func callsByMethodAndStatus() async throws {
        let registry = NotifyPrometheus.registry()
        let metrics = ServerMetrics(factory: NotifyPrometheus.factory(registry: registry))
        try await withTestServer(configure: { $0.metrics = metrics }) { server in
            let listener = MetricsServer(
                configuration: MetricsConfiguration(port: 0), registry: registry,
                collect: { metrics.collect(from: server.endpoint) }, readiness: { nil },
                logger: Logger(label: "notify.test.metrics"))
            let running = Task { try await listener.run() }
            defer { running.cancel() }
            let port = try #require(try await listener.localAddress.port)

            let client = server.client()
            defer { Task { await client.close() } }
            var admin = Metadata()
            admin.add("authorization", "Bearer \(try await server.adminToken())")
            try await server.users(2)
            for index in 0..<3 {
                _ = try await client.notify(
                    NotifyRequest(recipientsType: "user", type: "t", title: .value("m \(index)"), description: .null, user: 2),
                    metadata: admin)
            }
            await #expect(throws: RPCError.self) {
                _ = try await client.notify(
                    NotifyRequest(recipientsType: "user", type: "t", title: .value("no token"), description: .null, user: 2),
                    metadata: Metadata())
            }

            let (status, body) = try await get("http://127.0.0.1:\(port)/metrics")
            #expect(status == 200)
            let notify = "method=\"/notify.v1.NotificationService/Notify\""
            #expect(sample(body, "notify_rpc_calls_total{\(notify),status=\"OK\"}") == 3, "\(body)")
            #expect(sample(body, "notify_rpc_calls_total{\(notify),status=\"UNAUTHENTICATED\"}") == 1)
            #expect(sample(body, "notify_rpc_call_duration_seconds_count{\(notify)}") == 4)
            #expect(sample(body, "notify_rpc_call_duration_seconds_bucket{\(notify),le=\"10.0\"}") == 4)
            #expect(sample(body, "notify_rpc_connections_open") == 1)
            #expect(sample(body, "notify_rpc_streams_open") == 0)
            #expect(body.contains("# TYPE notify_rpc_calls_total counter"))
            #expect(body.contains("# TYPE notify_rpc_call_duration_seconds histogram"))

            let (readyStatus, readyBody) = try await get("http://127.0.0.1:\(port)/readyz")
            #expect(readyStatus == 200)
            #expect(readyBody == "ready\n")
            #expect(try await get("http://127.0.0.1:\(port)/other").status == 404)
        }
    }

    @Test("a call with a bearer token logs its debug line with method, status, reason, duration and request id, and never the token")
    func debugLineWithoutToken() async throws {
        let lines = CapturedLines()
        var logger = Logger(label: "notify.test.capture") { label in CapturingLogHandler(label: label, lines: lines) }
        logger.logLevel = .debug
        try await withTestServer(logger: logger) { server in
            let client = server.client()
            defer { Task { await client.close() } }
            let token = try await server.adminToken()
            var admin = Metadata()
            admin.add("authorization", "Bearer \(token)")
            admin.add("x-request-id", "req-observe-1")
            try await server.users(2)
            _ = try await client.notify(
                NotifyRequest(recipientsType: "user", type: "t", title: .value("logged"), description: .null, user: 2),
                metadata: admin)
            var throttledMetadata = Metadata()
            throttledMetadata.add("authorization", "Bearer \(token)x")
            throttledMetadata.add("x-request-id", "req-observe-2")
            await #expect(throws: RPCError.self) {
                _ = try await client.notify(
                    NotifyRequest(recipientsType: "user", type: "t", title: .value("bad"), description: .null, user: 2),
                    metadata: throttledMetadata)
            }
            let all = lines.all
            let ok = try #require(all.first { $0.contains("rpc call") && $0.contains("req-observe-1") }, "\(all)")
            #expect(ok.contains("notify.rpc.method=/notify.v1.NotificationService/Notify"))
            #expect(ok.contains("notify.rpc.status=OK"))
            #expect(ok.contains("notify.duration_ms="))
            let refused = try #require(all.first { $0.contains("rpc call") && $0.contains("req-observe-2") })
            #expect(refused.contains("notify.rpc.status=UNAUTHENTICATED"))
            #expect(refused.contains("notify.rpc.reason="))
            for line in all {
                #expect(!line.contains(token), "a log line holds the token: \(line)")
            }
        }
    }
}

@Suite(
    "metrics and readiness of a real notifyd: --metrics-port, loopback by default, /readyz through graceful shutdown",
    .enabled(if: notifyd != nil, "no notifyd executable next to the test bundle (build it, or set NOTIFYD_PATH)")
)
struct MetricsProcessTests {
    @Test("a child notifyd: its calls, the store's batches on /metrics; /readyz 200, then 503 once SIGTERM begins the drain", .timeLimit(.minutes(2)))
    func processMetricsAndReadiness() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        let token = try await NotifydProcess.adminToken(dataDirectory: data, executable: executable, scratch: scratch.path)
        let metricsPort = try await unusedPortOutsideEphemeralRange()
        let server = try await NotifydProcess.serve(
            executable: executable, dataDirectory: data,
            arguments: ["--metrics-port", "\(metricsPort)", "--drain-timeout", "8"], gateway: true
        )
        defer { server.signal(SIGKILL) }
        let base = "http://127.0.0.1:\(metricsPort)"
        try await poll("/readyz answers 200") { (try? await get(base + "/readyz"))?.status == 200 }

        // Two notifications through the gateway: in-process RPC calls, counted as any.
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        for index in 0..<2 {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(try #require(server.httpPort))/api/v2/notification/notify/")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(
                string: #"{"recipients_type":"user","type":"t","title":"p \#(index)","description":null,"user":1}"#))
            let response = try await http.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status.code == 204)
        }
        try? await http.shutdown()

        let (status, body) = try await get(base + "/metrics")
        #expect(status == 200)
        #expect(sample(body, "notify_rpc_calls_total{method=\"/notify.v1.NotificationService/Notify\",status=\"OK\"}") == 2, "\(body)")
        #expect((sample(body, "notify_store_writer_batch_size_count{store=\"sqlite\"}") ?? 0) >= 1)
        #expect((sample(body, "notify_store_commit_duration_seconds_count{store=\"sqlite\"}") ?? 0) >= 1)
        #expect(body.contains("notify_store_writer_queue_depth{store=\"sqlite\"}"))
        // The gateway's own: its answers by route and status, their latency.
        let route = "route=\"/api/v2/notification/notify/\""
        #expect(sample(body, "notify_http_requests_total{\(route),status=\"204\"}") == 2, "\(body)")
        #expect(sample(body, "notify_http_request_duration_seconds_count{\(route)}") == 2)
        #expect(body.contains("notify_http_connections_open"))

        // A connection that never answers the drain's ping holds the drain
        // open (up to --drain-timeout), so readiness is seen while it lasts.
        let holder = try await RawConnection.connect(port: server.port, caFile: server.caFile)
        _ = try await holder.next()  // its settings: the handshake is done
        server.signal(SIGTERM)
        var seen: (status: Int, body: String)?
        let deadline = ContinuousClock.now + .seconds(8)
        while ContinuousClock.now < deadline {
            if let answer = try? await get(base + "/readyz"), answer.status == 503 {
                seen = answer
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(seen?.status == 503, "/readyz never answered 503 during the drain")
        #expect(seen?.body == "not ready: draining\n")
        await holder.close()
        #expect(await server.waitForExit(timeout: .seconds(30)) == 0)
    }

    @Test("notifyd gateway alone: --metrics-port serves its requests by route and status, its open connections and /readyz", .timeLimit(.minutes(2)))
    func gatewayAlone() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        let token = try await NotifydProcess.adminToken(dataDirectory: data, executable: executable, scratch: scratch.path)
        let server = try await NotifydProcess.serve(executable: executable, dataDirectory: data)
        defer { server.signal(SIGKILL) }
        let metricsPort = try await unusedPortOutsideEphemeralRange()
        let gateway = try await NotifydProcess.gateway(
            executable: executable, scratch: scratch.path, upstreamPort: server.port, caFile: server.caFile,
            arguments: ["--metrics-port", "\(metricsPort)"])
        defer { gateway.signal(SIGKILL) }
        let base = "http://127.0.0.1:\(metricsPort)"
        try await poll("/readyz answers 200") { (try? await get(base + "/readyz"))?.status == 200 }

        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let url = "http://127.0.0.1:\(try #require(gateway.httpPort))"
        var request = HTTPClientRequest(url: url + "/api/v2/notification/notify/")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"recipients_type":"user","type":"t","title":"alone","description":null,"user":1}"#))
        var statuses: [UInt] = []
        for request in [request, HTTPClientRequest(url: url + "/no/such/path/4f6c2a9e")] {
            let response = try await http.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 20)
            statuses.append(response.status.code)
        }
        try? await http.shutdown()
        #expect(statuses == [204, 404])

        let (status, body) = try await get(base + "/metrics")
        #expect(status == 200)
        let route = "route=\"/api/v2/notification/notify/\""
        #expect(sample(body, "notify_http_requests_total{\(route),status=\"204\"}") == 1, "\(body)")
        #expect(sample(body, "notify_http_request_duration_seconds_count{\(route)}") == 1)
        // A path no route serves is one series, never its own.
        #expect(sample(body, "notify_http_requests_total{route=\"unmatched\",status=\"404\"}") == 1)
        #expect(!body.contains("4f6c2a9e"))
        // The connections the client closed are gone again (closing is seen a little later).
        try await poll("no connection left open") {
            (try? await get(base + "/metrics")).flatMap { sample($0.body, "notify_http_connections_open") } == 0
        }
        // It has no RPC server of its own: none of its metrics.
        #expect(!body.contains("notify_rpc_calls_total"))

        gateway.signal(SIGTERM)
        #expect(await gateway.waitForExit(timeout: .seconds(30)) == 0)
    }

    @Test("by default the listener binds 127.0.0.1 only: another loopback address (127.0.0.2) is refused")
    func loopbackByDefault() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let metricsPort = try await unusedPortOutsideEphemeralRange()
        let server = try await NotifydProcess.serve(
            executable: executable, dataDirectory: scratch.path + "/data", arguments: ["--metrics-port", "\(metricsPort)"])
        defer { server.signal(SIGKILL) }
        try await poll("/metrics answers 200") {
            (try? await get("http://127.0.0.1:\(metricsPort)/metrics"))?.status == 200
        }
        #expect(server.log.contains("metrics listening"))
        #expect(server.log.contains("127.0.0.1:\(metricsPort)"))
        await #expect(throws: (any Error).self) { _ = try await get("http://127.0.0.2:\(metricsPort)/metrics") }
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(30)) == 0)
    }
}

/// The lines a ``CapturingLogHandler`` wrote, rendered as `message key=value ...`.
final class CapturedLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

/// A swift-log handler that keeps every line, metadata included.
struct CapturingLogHandler: LogHandler {
    let label: String
    let lines: CapturedLines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let text = merged.keys.sorted().map { "\($0)=\(merged[$0].map { "\($0)" } ?? "")" }.joined(separator: " ")
        lines.append("\(event.level) \(event.message) \(text)")
    }
}
