import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyJSON
import NotifyMessages
import NotifyTesting
import Testing

/// The `notifyd` built with the tests; the suite is skipped without it.
private let notifyd = NotifydProcess.executable()

/// A full disk under `notifyd serve`: its data folder is a small tmpfs (8 MiB).
///
/// Mounting needs root (CAP_SYS_ADMIN); elsewhere the test says so and passes.
@Suite(
    "notifyd on a full disk: STORE_UNAVAILABLE, readiness off, liveness on, recovery, nothing acknowledged lost",
    .enabled(if: notifyd != nil && getuid() == 0, "needs the notifyd executable and root (to mount a tmpfs)")
)
struct DiskFullAbuseTests {
    /// How one write ended.
    private enum Outcome: Sendable {
        case stored(String)
        /// 503 `store_unavailable`: the disk is full, nothing stored.
        case refused
        case unexpected(String)
    }

    @Test("writes until the disk is full, sees 503/UNAVAILABLE STORE_UNAVAILABLE, frees space, recovers", .timeLimit(.minutes(3)))
    func diskFull() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        guard try await Self.shell(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", data]) == 0 else {
            print("DiskFullAbuseTests: cannot mount a tmpfs here; not run")
            return
        }
        defer { _ = try? Self.run(["umount", "-l", data]) }

        let token = try await NotifydProcess.adminToken(dataDirectory: data, executable: executable, scratch: scratch.path)
        let subscription = try await NotifydProcess.runLine(
            ["admin", "subscription", "create", "--user", "1", "--app", "graphnotifications.sample.windows.com",
             "--platform", "windows", "--data-dir", data],
            executable: executable, scratch: scratch.path
        )
        let server = try await NotifydProcess.serve(executable: executable, dataDirectory: data, gateway: true)
        defer { server.signal(SIGKILL) }
        // Room that the test gives back once the disk is full: more than the WAL can hold
        // uncopied, since recovery first copies the WAL into the database (OPERATIONS.md).
        let ballast = data + "/ballast"
        try Data(count: 4 << 20).write(to: URL(fileURLWithPath: ballast))

        let base = "http://127.0.0.1:\(try #require(server.httpPort))"
        // The shared client: never shut down, so a failing expectation cannot leave one behind.
        let http = HTTPClient.shared
        var clientConfiguration = ClientConfiguration(host: "127.0.0.1", port: server.port, trustRootsFile: server.caFile)
        clientConfiguration.defaultTimeout = .seconds(20)
        let rpc = NotifyClient(configuration: clientConfiguration)

        #expect(try await Self.get(http, base + "/readyz").status == 200)
        #expect(try await rpc.health(service: "notify.v1.Readiness").status == .serving)

        // Fill the disk: 8 writers, each until its first refusal (bounded in count).
        let description = String(repeating: "x", count: 3_000)
        let outcomes: [Outcome] = try await withThrowingTaskGroup(of: [Outcome].self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var outcomes: [Outcome] = []
                    for index in 0..<2_000 {
                        let title = "w\(writer)-\(index)"
                        let response = try await Self.notify(http, base, token: token, title: title, description: description)
                        if response.status == 204 {
                            outcomes.append(.stored(title))
                            continue
                        }
                        if response.status == 503, response.json?["errors"]?[0]?["code"]?.string == "store_unavailable",
                            response.headers["Retry-After"].first == "30"
                        {
                            outcomes.append(.refused)
                        } else {
                            outcomes.append(.unexpected("\(title): \(response.status) \(response.body)"))
                        }
                        break
                    }
                    return outcomes
                }
            }
            var all: [Outcome] = []
            for try await outcomes in group { all += outcomes }
            return all
        }
        var stored: Set<String> = []
        var refused = 0
        for outcome in outcomes {
            switch outcome {
            case .stored(let title): stored.insert(title)
            case .refused: refused += 1
            case .unexpected(let detail): Issue.record("unexpected answer: \(detail)")
            }
        }
        #expect(refused > 0, "the disk never filled: \(stored.count) stored")
        print("DiskFullAbuseTests: \(stored.count) notifications acknowledged before the disk filled, \(refused) refused")

        // Full: every write is refused for what it is, readiness is off, liveness on.
        let rpcError = await #expect(throws: RPCError.self) {
            _ = try await rpc.notify(
                NotifyRequest(recipientsType: "user", type: "disk", title: .value("rpc"), description: .value(description), user: 1),
                metadata: .bearer(token))
        }
        #expect(rpcError?.code == .unavailable)
        #expect(rpcError?.reason == .storeUnavailable)
        let graph = try await Self.sendNotification(http, base, token: token, subscription: subscription)
        #expect(graph.status == 503)
        #expect(graph.json?["error"]?["code"]?.string == "storeUnavailable")
        let notReady = try await Self.get(http, base + "/readyz")
        #expect(notReady.status == 503)
        #expect(notReady.json?["error"]?["code"]?.string == "storeUnavailable")
        #expect(try await Self.get(http, base + "/healthz").status == 200)
        #expect(try await rpc.health(service: "notify.v1.Readiness").status == .notServing)
        #expect(try await rpc.health().status == .serving)
        // A flood of writes while full: each refused at once, none logged.
        let floodStart = ContinuousClock.now
        let flood = try await withThrowingTaskGroup(of: [UInt].self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var statuses: [UInt] = []
                    for index in 0..<100 {
                        statuses.append(try await Self.notify(
                            http, base, token: token, title: "flood-\(writer)-\(index)", description: "small").status)
                    }
                    return statuses
                }
            }
            var all: [UInt] = []
            for try await statuses in group { all += statuses }
            return all
        }
        let floodTime = ContinuousClock.now - floodStart
        #expect(flood.allSatisfy { $0 == 503 }, "\(Set(flood))")
        print("DiskFullAbuseTests: \(flood.count) writes while full refused 503 in \(floodTime)")
        // A few probes later it is still full, and said so once.
        try await Task.sleep(for: .seconds(3))
        #expect(try await Self.get(http, base + "/readyz").status == 503)
        #expect(Self.lines(server.log, containing: "the store cannot write") == 1, "\(server.log.suffix(3_000))")

        // Space comes back: the store finds out by itself, with no write sent.
        try FileManager.default.removeItem(atPath: ballast)
        let freed = ContinuousClock.now
        var recovered: Duration?
        while ContinuousClock.now - freed < .seconds(30) {
            if try await Self.get(http, base + "/readyz").status == 200 {
                recovered = ContinuousClock.now - freed
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let recovery = try #require(
            recovered,
            "readiness did not come back within 30 s: \(Self.usage(data))")
        print("DiskFullAbuseTests: ready again \(recovery) after space was freed")
        #expect(try await rpc.health(service: "notify.v1.Readiness").status == .serving)
        #expect(Self.lines(server.log, containing: "the store writes again") == 1)
        #expect(Self.lines(server.log, containing: "the store cannot write") == 1)
        // The outage's one error line, and at most a few WAL checkpoints (one a second at most)
        // that failed before any write did: nothing per refused call.
        let full = server.log.split(separator: "\n").filter { $0.contains("disk is full") }
        #expect(full.count <= 4, "\(full.joined(separator: "\n"))")
        #expect(full.filter { !$0.contains("WAL checkpoint failed") }.count == 1, "\(full.joined(separator: "\n"))")
        for index in 0..<20 {
            let title = "after-\(index)"
            let response = try await Self.notify(http, base, token: token, title: title, description: "small")
            #expect(response.status == 204, "\(response.body)")
            if response.status == 204 { stored.insert(title) }
        }
        await rpc.close()

        // Restarted on the same folder: every acknowledged notification is there, nothing refused is.
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(20)) == 0)
        let (titles, entries) = try await titlesAfterRestart(executable: executable, data: data, token: token)
        #expect(titles.count == entries, "a title is stored twice")
        #expect(stored.isSubset(of: titles), "acknowledged but missing: \(stored.subtracting(titles).sorted().prefix(5))")
        #expect(titles.isSubset(of: stored), "stored but refused: \(titles.subtracting(stored).sorted().prefix(5))")
        print("DiskFullAbuseTests: \(stored.count) acknowledged, \(titles.count) found after a restart")
    }

    // MARK: Helpers

    private struct Answer: Sendable {
        var status: UInt
        var headers: HTTPHeaders
        var body: String
        var json: JSONValue? { JSONValue.parse(Data(body.utf8)) }
    }

    private static func notify(
        _ http: HTTPClient, _ base: String, token: String, title: String, description: String
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: base + "/api/v2/notification/notify/")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(
            string: #"{"recipients_type":"user","type":"disk","title":"\#(title)","description":"\#(description)","user":1}"#
        ))
        return try await execute(http, request)
    }

    private static func sendNotification(
        _ http: HTTPClient, _ base: String, token: String, subscription: String
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: base + "/me/notifications/")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "X-UNS-ID", value: subscription)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(
            string: #"{"targetHostName":"graphnotifications.sample.windows.com","payload":{"visualContent":{"title":"t","body":"b"}}}"#
        ))
        return try await execute(http, request)
    }

    private static func get(_ http: HTTPClient, _ url: String) async throws -> Answer {
        try await execute(http, HTTPClientRequest(url: url))
    }

    private static func execute(_ http: HTTPClient, _ request: HTTPClientRequest) async throws -> Answer {
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: response.status.code, headers: response.headers, body: String(buffer: body))
    }

    /// The files of `directory` and their sizes, for a failure's message.
    private static func usage(_ directory: String) -> String {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().map { name in
            let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? NSNumber)?.intValue ?? -1
            return "\(name): \(size)"
        }.joined(separator: ", ")
    }

    private static func lines(_ log: String, containing text: String) -> Int {
        log.split(separator: "\n").filter { $0.contains(text) }.count
    }

    private static func shell(_ arguments: [String]) async throws -> Int32 {
        try run(arguments)
    }

    /// Runs a system command to completion (mount, umount).
    private static func run(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
