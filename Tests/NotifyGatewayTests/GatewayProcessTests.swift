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

/// The gateway as operators run it: inside `notifyd serve`, calling the RPC
/// server in-process, stopped by SIGTERM while requests are in flight.
@Suite(
    "notifyd serve with its gateway: SIGTERM drains HTTP requests and loses nothing acknowledged",
    .enabled(if: notifyd != nil, "no notifyd executable next to the test bundle (build it, or set NOTIFYD_PATH)")
)
struct GatewayProcessTests {
    /// How one request ended.
    private enum Outcome: Sendable {
        /// 204: acknowledged.
        case stored(String)
        /// 503, the documented answer while the service shuts down: not stored.
        case refused(String)
        /// The connection closed or was refused before an answer: not acknowledged.
        case noAnswer(String)
        case unexpected(Int, String)
    }

    @Test("every request ends 204, 503 or unanswered; notifyd exits 0; every 204 is in the feed", .timeLimit(.minutes(2)))
    func drainOnSIGTERM() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        let token = try await NotifydProcess.adminToken(dataDirectory: data, executable: executable, scratch: scratch.path)
        let server = try await NotifydProcess.serve(
            executable: executable, dataDirectory: data, arguments: ["--drain-timeout", "10"], gateway: true
        )
        defer { server.signal(SIGKILL) }
        let url = "http://127.0.0.1:\(try #require(server.httpPort))/api/v2/notification/notify/"

        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
        // Once notifyd is gone, requests still queued in the client fail fast instead of
        // retrying the refused connection for the default 10 s.
        configuration.timeout = .init(connect: .seconds(1))
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        // Enough to be mid-flight at SIGTERM, few enough not to starve the suites running beside it.
        let total = 300
        // SIGTERM comes after 50 acknowledged requests, not merely answered ones: on a
        // loaded machine early requests can fail to connect within the client's 1 s.
        let acknowledged = AnswerCounter()
        let pid = server.processIdentifier
        let outcomes: [Outcome] = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                await acknowledged.sigterm(pid, after: 50, limit: .seconds(30))
                return nil
            }
            for index in 0..<total {
                group.addTask {
                    let title = "request \(index)"
                    var request = HTTPClientRequest(url: url)
                    request.method = .POST
                    request.headers.add(name: "Authorization", value: "Bearer \(token)")
                    request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                    request.body = .bytes(ByteBuffer(
                        string: #"{"recipients_type":"user","type":"drain","title":"\#(title)","description":null,"user":1}"#
                    ))
                    do {
                        let response = try await http.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        switch response.status.code {
                        case 204:
                            acknowledged.increment()
                            return .stored(title)
                        case 503: return .refused(title)
                        default: return .unexpected(Int(response.status.code), title)
                        }
                    } catch {
                        return .noAnswer(title)
                    }
                }
            }
            var outcomes: [Outcome] = []
            for await outcome in group {
                if let outcome { outcomes.append(outcome) }
            }
            return outcomes
        }
        try? await http.shutdown()

        #expect(outcomes.count == total)
        var stored: Set<String> = []
        var unanswered: Set<String> = []
        var refused = 0
        for outcome in outcomes {
            switch outcome {
            case .stored(let title): stored.insert(title)
            case .refused: refused += 1
            case .noAnswer(let title): unanswered.insert(title)
            case .unexpected(let status, let title): Issue.record("\(title) answered \(status)")
            }
        }
        #expect(stored.count >= 50, "204: \(stored.count), 503: \(refused), unanswered: \(unanswered.count)")
        let status = await server.waitForExit(timeout: .seconds(20))
        #expect(status == 0, "exit \(String(describing: status))\n\(server.log)")
        #expect(!server.wasSignalled)

        // Restarted on the same folder: every 204 is in the feed, and nothing refused with 503 is.
        let (titles, entries) = try await titlesAfterRestart(executable: executable, data: data, token: token)
        #expect(titles.count == entries, "a title is stored twice")
        #expect(stored.isSubset(of: titles), "acknowledged but missing: \(stored.subtracting(titles).sorted().prefix(5))")
        #expect(titles.isSubset(of: stored.union(unanswered)), "stored but refused: \(titles.subtracting(stored.union(unanswered)).sorted().prefix(5))")
    }
}
