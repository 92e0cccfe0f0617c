import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyTesting
import Testing

/// The `notifyd` built with the tests; the suite is skipped without it.
private let notifyd = NotifydProcess.executable()

/// Tracing as operators run it: `notifyd serve` with its gateway, exporting
/// by swift-otel's OTLP/HTTP exporter (JSON) to a collector on loopback, and
/// exporting what is left when SIGTERM stops it.
@Suite(
    "notifyd's traces: gateway → RPC → store in one trace, W3C traceparent continued, exported on SIGTERM",
    .enabled(if: notifyd != nil, "no notifyd executable next to the test bundle (build it, or set NOTIFYD_PATH)")
)
struct TracingProcessTests {
    static let gatewayTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let gatewayParent = "00f067aa0ba902b7"
    static let rpcTrace = "0af7651916cd43dd8448eb211c80319c"
    static let rpcParent = "b7ad6b7169203331"

    /// A server with a token for user 1, its gateway on, and `arguments`/`environment`.
    private static func start(
        _ scratch: TemporaryDirectory, arguments: [String], environment: [String: String]
    ) async throws -> (NotifydProcess, token: String) {
        let executable = try #require(notifyd)
        let data = scratch.path + "/data"
        let token = try await NotifydProcess.adminToken(dataDirectory: data, executable: executable, scratch: scratch.path)
        let server = try await NotifydProcess.serve(
            executable: executable, dataDirectory: data, arguments: arguments, gateway: true, environment: environment
        )
        return (server, token)
    }

    /// One gateway POST with `traceparent`, one RPC with a `traceparent` in its
    /// metadata, one with a malformed one; all answered as without tracing.
    private static func exercise(_ server: NotifydProcess, token: String) async throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(try #require(server.httpPort))/api/v2/notification/notify/")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "traceparent", value: "00-\(gatewayTrace)-\(gatewayParent)-01")
        request.headers.add(name: "tracestate", value: "vendor=1")
        request.body = .bytes(ByteBuffer(
            string: #"{"recipients_type":"user","type":"traced","title":"through the gateway","description":null,"user":1}"#
        ))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let posted: Result<UInt, any Error>
        do {
            let response = try await http.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            posted = .success(response.status.code)
        } catch {
            posted = .failure(error)
        }
        // Shut down before it goes, whatever happened: a client dropped while shutting down traps.
        try? await http.shutdown()
        #expect(try posted.get() == 204)

        var configuration = ClientConfiguration(host: "127.0.0.1", port: server.port, trustRootsFile: server.caFile)
        configuration.defaultTimeout = .seconds(20)
        let client = NotifyClient(configuration: configuration)
        let notify = NotifyRequest(recipientsType: "user", type: "traced", title: .value("by RPC"), description: .null, user: 1)
        var traced = Metadata.bearer(token)
        traced.add("traceparent", "00-\(rpcTrace)-\(rpcParent)-01")
        traced.add("x-request-id", "traced-rpc")
        _ = try await client.notify(notify, metadata: traced)
        var malformed = Metadata.bearer(token)
        malformed.add("traceparent", "00-not-a-trace-context")
        malformed.add("x-request-id", "malformed-rpc")
        _ = try await client.notify(notify, metadata: malformed)
        await client.close()
    }

    @Test("a traced POST and traced RPCs export gateway, RPC and store spans with their parents and attributes", .timeLimit(.minutes(2)))
    func tracesExported() async throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let collector = try await OTLPCollector()
        // A batch delay far longer than the test: the spans arrive only through the flush on SIGTERM.
        let (server, token) = try await Self.start(
            scratch, arguments: ["--otlp-endpoint", "http://127.0.0.1:\(collector.port)"],
            environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "600000"]
        )
        defer { server.signal(SIGKILL) }
        try await Self.exercise(server, token: token)

        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(30)) == 0)
        await collector.stop()
        let spans = collector.spans
        #expect(collector.paths.allSatisfy { $0 == "/v1/traces" }, "\(collector.paths)")

        // Gateway → RPC → store, in the caller's trace.
        let gatewayTrace = spans.filter { $0.traceID == Self.gatewayTrace }
        let gateway = try #require(gatewayTrace.first { $0.name == "POST /api/v2/notification/notify/" }, "\(spans)")
        #expect(gateway.parentSpanID == Self.gatewayParent)
        #expect(gateway.attributes["http.request.method"] == "POST")
        #expect(gateway.attributes["url.path"] == "/api/v2/notification/notify/")
        #expect(gateway.attributes["http.route"] == "/api/v2/notification/notify/")
        #expect(gateway.attributes["http.response.status_code"] == "204")
        let rpc = try #require(gatewayTrace.first { $0.name == "notify.v1.NotificationService/Notify" }, "\(gatewayTrace)")
        #expect(rpc.parentSpanID == gateway.spanID)
        #expect(rpc.attributes["rpc.system"] == "notify")
        #expect(rpc.attributes["rpc.service"] == "notify.v1.NotificationService")
        #expect(rpc.attributes["rpc.method"] == "Notify")
        #expect(rpc.attributes["rpc.notify.status_code"] == "0")
        #expect(rpc.attributes["notify.request.id"] == gateway.attributes["notify.request.id"])
        let store = try #require(gatewayTrace.first { $0.name == "store.append" }, "\(gatewayTrace)")
        #expect(store.parentSpanID == rpc.spanID)

        // An RPC continues the trace of its metadata's traceparent.
        let rpcTrace = spans.filter { $0.traceID == Self.rpcTrace }
        let direct = try #require(rpcTrace.first { $0.name == "notify.v1.NotificationService/Notify" }, "\(spans)")
        #expect(direct.parentSpanID == Self.rpcParent)
        #expect(direct.attributes["notify.request.id"] == "traced-rpc")
        #expect(direct.attributes["client.address"] == "127.0.0.1")
        #expect(rpcTrace.contains { $0.name == "store.append" && $0.parentSpanID == direct.spanID })

        // A malformed traceparent is ignored: the call was answered, in a trace of its own.
        let fresh = try #require(spans.first { $0.attributes["notify.request.id"] == "malformed-rpc" }, "\(spans)")
        #expect(fresh.parentSpanID.isEmpty)
        #expect(![Self.gatewayTrace, Self.rpcTrace].contains(fresh.traceID))
        #expect(fresh.attributes["rpc.notify.status_code"] == "0")
    }

    @Test("OTEL_EXPORTER_OTLP_PROTOCOL=grpc is refused at start with a message, not a crash", .timeLimit(.minutes(1)))
    func grpcRefused() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let outcome = try await NotifydProcess.run(
            ["serve", "--data-dir", scratch.path + "/data", "--rpc-port", "0", "--no-gateway", "--otlp-endpoint", "http://127.0.0.1:9"],
            executable: executable, scratch: scratch.path, environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]
        )
        #expect(outcome.status == 64, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("OTLP/HTTP only"))
    }

    @Test("without an endpoint nothing is exported and every call is answered as before", .timeLimit(.minutes(2)))
    func offByDefault() async throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let collector = try await OTLPCollector()
        // The collector listens, but nothing names it: the standard variables are left unset.
        let (server, token) = try await Self.start(scratch, arguments: [], environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"])
        defer { server.signal(SIGKILL) }
        try await Self.exercise(server, token: token)
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(30)) == 0)
        await collector.stop()
        #expect(collector.requests == 0)
        #expect(!server.log.contains("tracing on"))
    }
}
