import ArgumentParser
import Foundation
import Synchronization

/// notify-load: drives the RPC protocol or the REST gateway and reports
/// throughput, latency percentiles and errors by status.
@main
struct NotifyLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-load",
        abstract: "Load generator for notify's RPC protocol and REST gateway.",
        discussion: """
            Closed loop (default): --connections N × --in-flight M callers, each waiting for its answer. \
            Open loop (--rate R): R calls per second on a fixed schedule across the connections, latency \
            measured from each call's due time, so stalls are not hidden (no coordinated omission). \
            Calls during --warmup are made but not counted. Latencies come from an HdrHistogram (3 \
            significant digits). Exit status 1 when --max-error-rate is passed, 64 on a bad option or \
            an unreachable server.
            """
    )

    @Option(help: "rpc (TLS, NotifyClient) or http (the REST gateway, HTTP/1.1 keep-alive).")
    var target: String = "rpc"

    @Option(help: "rpc only: notify-client (one NotifyClient per connection) or raw (frames straight on the connection).")
    var rpcClient: String = "notify-client"

    @Option(help: "Server host. [NOTIFY_HOST, default 127.0.0.1]")
    var host: String?

    @Option(help: "Server port. [rpc: NOTIFY_RPC_PORT, default 7443; http: default 8080]")
    var port: Int?

    @Option(help: "PEM CA of the server certificate. rpc: required [NOTIFY_CA]; http: given means HTTPS.")
    var ca: String?

    @Option(help: "Bearer token for notify and send. [NOTIFY_TOKEN]")
    var token: String?

    @Option(name: .customLong("uns-id"), help: "Subscription id (X-UNS-ID) that send targets.")
    var unsID: String?

    @Option(help: "Notify's issuer: a user id that exists.")
    var user: Int64?

    @Option(help: "Connections (one NotifyClient each for rpc). [default 8]")
    var connections: Int?

    @Option(help: """
        Closed loop: calls in flight per connection [default 8 rpc, 1 http]. Open loop: the most outstanding \
        per connection [default 256 rpc, 1 http]. For http, more than 1 pipelines requests.
        """)
    var inFlight: Int?

    @Option(help: "Calls per second across all connections: an open loop.")
    var rate: Double?

    @Option(help: "Seconds to measure after the warm-up. [default 10 unless --count]")
    var duration: Double?

    @Option(help: "Calls to measure after the warm-up, instead of --duration.")
    var count: Int?

    @Option(help: "Seconds of calls not counted, before measuring.")
    var warmup: Double = 2

    @Option(help: """
        Weighted operations: notify-user, notify-connections, send; rpc only: health, mark-read (everything up to \
        the head), unseen-count.
        """)
    var mix: String = "notify-user=70,notify-connections=10,send=20,health=0"

    @Option(help: "Bytes of user text per call: title, then description/body, then rawContent.")
    var payloadBytes: Int = 64

    @Option(help: "Seconds each call may take before it counts as an error; making a connection may take as long.")
    var timeout: Double = 10

    @Flag(help: "Print the summary as one JSON object (and no progress line).")
    var json = false

    @Option(help: "Exit 1 when errors / calls exceeds this fraction, e.g. 0.01.")
    var maxErrorRate: Double?

    @Option(help: """
        rpc only: Watch streams on --user's feed during the run, one connection each, timing each \
        notification from its creation to its arrival and checking its sequence for gaps. Watch a user \
        whose feed is short: each watcher first reads the whole feed.
        """)
    var watchers: Int = 0

    @Option(help: """
        rpc only: the port the --watchers connect to, on --host: another instance's, to time delivery across \
        instances (the calls go to --port). [default --port]
        """)
    var watchPort: Int?

    @Option(help: """
        Spread notify-user, mark-read, unseen-count and the watchers over this many users, from --user on, in \
        turn (they must exist). [default 1]
        """)
    var users: Int = 1

    @Option(help: """
        rpc only: this many Notify calls to the connections of --fan-out-user during the measured time, beside \
        the mix and not counted with it: the mix's latencies are then other callers' during large fan-outs.
        """)
    var fanOuts: Int = 0

    @Option(help: "The issuer of --fan-outs, whose friends (or followers under --follow-enabled) receive each.")
    var fanOutUser: Int64?

    @Option(help: "Seconds between two --fan-outs, the first when measuring starts.")
    var fanOutSpacing: Double = 1.6

    @Option(help: """
        The last of --fan-out-user's audience in id order: its feed is watched, and each fan-out's arrival \
        there (when every feed holds it) is timed from its call.
        """)
    var fanOutLastRecipient: Int64?

    /// Turns the flags and NOTIFY_* variables into a checked configuration.
    func loadConfiguration(environment: [String: String] = ProcessInfo.processInfo.environment) throws(LoadConfigurationError) -> LoadConfiguration {
        func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        guard let target = LoadTarget(rawValue: target) else { throw LoadConfigurationError("--target is rpc or http") }
        guard let rpcClient = RPCClientKind(rawValue: rpcClient) else {
            throw LoadConfigurationError("--rpc-client is notify-client or raw")
        }
        if duration != nil, count != nil { throw LoadConfigurationError("give --duration or --count, not both") }
        let stop: StopCondition = if let count { .count(count) } else { .duration(duration ?? 10) }
        let model: LoadModel
        if let rate {
            model = .open(ratePerSecond: rate, maxOutstandingPerConnection: inFlight ?? (target == .rpc ? 256 : 1))
        } else {
            model = .closed(inFlightPerConnection: inFlight ?? (target == .rpc ? 8 : 1))
        }
        let defaultPort = target == .rpc ? env("NOTIFY_RPC_PORT").flatMap(Int.init) ?? 7443 : 8080
        let configuration = LoadConfiguration(
            target: target,
            rpcClient: rpcClient,
            host: host ?? env("NOTIFY_HOST") ?? "127.0.0.1",
            port: port ?? defaultPort,
            caFile: target == .rpc ? ca ?? env("NOTIFY_CA") : ca,
            token: token ?? env("NOTIFY_TOKEN"),
            unsID: unsID,
            user: user,
            connections: connections ?? 8,
            model: model,
            stop: stop,
            warmup: warmup,
            mix: try Mix(parsing: mix),
            payloadBytes: payloadBytes,
            timeout: timeout,
            maxErrorRate: maxErrorRate,
            watchers: watchers,
            watchPort: watchPort,
            users: users,
            fanOut: try fanOutPlan()
        )
        try configuration.validate()
        return configuration
    }

    private func fanOutPlan() throws(LoadConfigurationError) -> LoadConfiguration.FanOutPlan? {
        guard fanOuts > 0 else {
            guard fanOutUser == nil, fanOutLastRecipient == nil else {
                throw LoadConfigurationError("--fan-out-user and --fan-out-last-recipient go with --fan-outs")
            }
            return nil
        }
        guard let fanOutUser else { throw LoadConfigurationError("--fan-outs needs --fan-out-user: the issuer") }
        return LoadConfiguration.FanOutPlan(
            issuer: fanOutUser, count: fanOuts, spacing: fanOutSpacing, lastRecipient: fanOutLastRecipient)
    }

    func run() async throws {
        let configuration: LoadConfiguration
        let summary: Summary
        do {
            configuration = try loadConfiguration()
            let live = !json && isatty(STDOUT_FILENO) == 1
            summary = try await LoadRunner(configuration: configuration).run(progress: live ? ProgressLine().update : nil)
            if live { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        } catch {
            FileHandle.standardError.write(Data("notify-load: \(error)\n".utf8))
            throw ExitCode(64)
        }
        print(json ? summary.json() : summary.text())
        if summary.exceeds(maxErrorRate: configuration.maxErrorRate) {
            FileHandle.standardError.write(Data(
                "notify-load: error rate \(summary.errorRate) exceeds --max-error-rate \(configuration.maxErrorRate ?? 0)\n".utf8
            ))
            throw ExitCode(1)
        }
    }
}

/// The once-a-second line on a terminal: calls so far, the last second's rate, errors.
final class ProgressLine: Sendable {
    private struct Last {
        var completed = 0
        var seconds = 0.0
    }

    private let last = Mutex(Last())

    func update(_ counters: LiveCounters, _ seconds: Double) {
        let completed = counters.completed.load(ordering: .relaxed)
        let errors = counters.errors.load(ordering: .relaxed)
        let rate = last.withLock { last in
            defer { last = Last(completed: completed, seconds: seconds) }
            return seconds > last.seconds ? Double(completed - last.completed) / (seconds - last.seconds) : 0
        }
        let line = String(format: "\r\u{1B}[K%6.1f s  %d calls  %.0f/s  %d errors", seconds, completed, rate, errors)
        FileHandle.standardOutput.write(Data(line.utf8))
    }
}
