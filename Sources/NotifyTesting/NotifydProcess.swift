public import Foundation
import Synchronization

/// The real `notifyd` executable, run as a child process by process tests.
///
/// Output goes to files in the test's directory rather than pipes, so that a
/// chatty server can never block on a full pipe and a failing test can print
/// the whole log. Waiting polls instead of blocking, so no thread of the
/// cooperative pool is held while a child runs.
///
/// Not `Sendable`: one test drives one instance.
public final class NotifydProcess {
    /// What a finished short-lived command (`notifyd admin ...`) left behind.
    public struct Outcome: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
    }

    /// A process test cannot go on.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let process: Process
    private let logPath: String
    /// The RPC port the server bound, read from its log.
    public let port: Int
    /// The REST gateway's port, read from its log; nil when it runs without one.
    public let httpPort: Int?
    /// The development CA of the data folder, for clients to trust.
    public let caFile: String
    /// For signalling from another task (this object stays with its test).
    public var processIdentifier: Int32 { process.processIdentifier }

    private init(process: Process, logPath: String, port: Int, httpPort: Int?, caFile: String) {
        self.process = process
        self.logPath = logPath
        self.port = port
        self.httpPort = httpPort
        self.caFile = caFile
    }

    deinit {
        // A test that failed half-way must not leave a server behind.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    // MARK: Finding the executable

    /// The `notifyd` built with the tests, or nil when there is none.
    ///
    /// SwiftPM puts executables and the test bundle in the same directory
    /// (`.build/<triple>/debug`); on macOS the bundle is a directory, so the
    /// search walks up a few levels. `NOTIFYD_PATH` overrides the search.
    public static func executable() -> URL? {
        let fileManager = FileManager.default
        if let path = ProcessInfo.processInfo.environment["NOTIFYD_PATH"], fileManager.isExecutableFile(atPath: path) {
            return URL(fileURLWithPath: path)
        }
        var starts: [URL] = []
        if let url = Bundle.main.executableURL { starts.append(url) }
        if let first = CommandLine.arguments.first {
            starts.append(URL(fileURLWithPath: first, relativeTo: URL(fileURLWithPath: fileManager.currentDirectoryPath)))
        }
        starts.append(Bundle.main.bundleURL)
        for start in starts {
            var directory = start.standardizedFileURL.resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = directory.appendingPathComponent("notifyd")
                var isDirectory: ObjCBool = false
                if fileManager.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                    fileManager.isExecutableFile(atPath: candidate.path)
                {
                    return candidate
                }
                directory = directory.deletingLastPathComponent()
            }
        }
        return nil
    }

    // MARK: Short-lived commands

    /// Runs `notifyd` with `arguments` to completion.
    ///
    /// - Parameters:
    ///   - scratch: a directory for the output files.
    ///   - input: what the command reads on standard input (none: nothing).
    ///   - timeout: the command is killed after this long.
    public static func run(
        _ arguments: [String], executable: URL, scratch: String, environment: [String: String] = [:],
        input: String? = nil, timeout: Duration = .seconds(30)
    ) async throws -> Outcome {
        let name = UUID().uuidString
        let outPath = "\(scratch)/\(name).out"
        let errPath = "\(scratch)/\(name).err"
        let inPath = input.map { _ in "\(scratch)/\(name).in" }
        if let input, let inPath { try Data(input.utf8).write(to: URL(fileURLWithPath: inPath)) }
        let process = try launch(
            executable, arguments, stdin: inPath, stdout: outPath, stderr: errPath, environment: environment)
        let exited = await waitForExit(process, timeout: timeout)
        if !exited {
            kill(process.processIdentifier, SIGKILL)
            _ = await waitForExit(process, timeout: .seconds(5))
            throw Failure(description: "notifyd \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        return Outcome(
            status: process.terminationStatus, standardOutput: read(outPath), standardError: read(errPath)
        )
    }

    /// Runs a command that must succeed and returns its output's only line.
    public static func runLine(
        _ arguments: [String], executable: URL, scratch: String
    ) async throws -> String {
        let outcome = try await run(arguments, executable: executable, scratch: scratch)
        guard outcome.status == 0 else {
            throw Failure(description: "notifyd \(arguments.joined(separator: " ")) exited \(outcome.status): \(outcome.standardError)")
        }
        return outcome.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Bootstraps `dataDirectory` with `notifyd admin` and returns a token
    /// of an admin, user 1 (created).
    public static func adminToken(dataDirectory: String, executable: URL, scratch: String) async throws -> String {
        try await runLine(
            ["admin", "token", "create", "--user", "1", "--role", "admin", "--create-user", "--data-dir", dataDirectory],
            executable: executable, scratch: scratch)
    }

    // MARK: The server

    /// Starts `notifyd serve` (with or without the gateway) on `dataDirectory` with a
    /// port of its own and waits until it listens.
    ///
    /// - Parameters:
    ///   - arguments: more `serve` options (limits, drain timeout).
    ///   - gateway: also run the REST gateway, on a port of its own (tests run
    ///     in parallel, so never the default 8080).
    ///   - timeout: how long it may take to listen.
    ///   - environment: variables added to the test runner's (NOTIFY_* left out).
    public static func serve(
        executable: URL, dataDirectory: String, arguments: [String] = [], gateway: Bool = false,
        environment: [String: String] = [:], timeout: Duration = .seconds(30)
    ) async throws -> NotifydProcess {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let name = UUID().uuidString
        let logPath = "\(dataDirectory)/../notifyd-\(name).log"
        let process = try launch(
            executable,
            ["serve", "--data-dir", dataDirectory, "--rpc-port", "0", "--log-level", "info"]
                + (gateway ? ["--http-port", "0"] : ["--no-gateway"]) + arguments,
            stdout: "\(dataDirectory)/../notifyd-\(name).out", stderr: logPath, environment: environment
        )
        return try await listening(process, logPath: logPath, timeout: timeout) { log in
            guard let port = listeningPort(in: log, line: "RPC server listening", key: "notify.rpc.address=") else { return nil }
            let httpPort = listeningPort(in: log, line: "gateway listening", key: "notify.http.address=")
            guard !gateway || httpPort != nil else { return nil }
            return NotifydProcess(
                process: process, logPath: logPath, port: port, httpPort: httpPort, caFile: "\(dataDirectory)/tls/ca.crt")
        }
    }

    /// Starts `notifyd gateway` in `scratch`, calling the RPC server at
    /// `upstreamPort` on loopback (trusting `caFile`), on a free HTTP port,
    /// and returns once it listens: its ``port`` and ``httpPort`` are the
    /// gateway's.
    public static func gateway(
        executable: URL, scratch: String, upstreamPort: Int, caFile: String, arguments: [String] = [],
        timeout: Duration = .seconds(30)
    ) async throws -> NotifydProcess {
        let name = UUID().uuidString
        let logPath = "\(scratch)/gateway-\(name).log"
        let process = try launch(
            executable,
            ["gateway", "--upstream", "127.0.0.1:\(upstreamPort)", "--ca", caFile, "--http-port", "0", "--log-level", "info"]
                + arguments,
            stdout: "\(scratch)/gateway-\(name).out", stderr: logPath, environment: [:]
        )
        return try await listening(process, logPath: logPath, timeout: timeout) { log in
            listeningPort(in: log, line: "gateway listening", key: "notify.http.address=").map {
                NotifydProcess(process: process, logPath: logPath, port: $0, httpPort: $0, caFile: caFile)
            }
        }
    }

    /// Polls `process`'s log until `ready` makes one of it, or it exits, or `timeout` passes.
    private static func listening(
        _ process: Process, logPath: String, timeout: Duration, _ ready: (String) -> NotifydProcess?
    ) async throws -> NotifydProcess {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let started = ready(read(logPath)) { return started }
            guard process.isRunning else {
                throw Failure(description: "notifyd exited \(process.terminationStatus) before listening:\n\(read(logPath))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(process.processIdentifier, SIGKILL)
        throw Failure(description: "notifyd did not listen within \(timeout):\n\(read(logPath))")
    }

    /// The port of a log line such as "RPC server listening", whose metadata
    /// carries `notify.rpc.address=[IPv4]127.0.0.1/127.0.0.1:PORT`.
    static func listeningPort(
        in log: String, line message: String, key: String
    ) -> Int? {
        for line in log.split(separator: "\n") where line.contains(message) {
            guard let range = line.range(of: key) else { continue }
            let address = line[range.upperBound...].prefix { !$0.isWhitespace }
            guard let colon = address.lastIndex(of: ":") else { continue }
            if let port = Int(address[address.index(after: colon)...]) { return port }
        }
        return nil
    }

    /// Sends a signal (SIGTERM for a graceful stop, SIGKILL for a crash).
    public func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to end.
    ///
    /// - Returns: its exit status, or nil when it was still running after `timeout`.
    public func waitForExit(timeout: Duration) async -> Int32? {
        guard await Self.waitForExit(process, timeout: timeout) else { return nil }
        return process.terminationStatus
    }

    /// Whether it was ended by a signal rather than by exiting.
    public var wasSignalled: Bool {
        !process.isRunning && process.terminationReason == .uncaughtSignal
    }

    /// Everything the server logged so far.
    public var log: String { Self.read(logPath) }

    // MARK: Helpers

    private static func launch(
        _ executable: URL, _ arguments: [String], stdin: String? = nil, stdout: String, stderr: String,
        environment: [String: String]
    ) throws -> Process {
        for path in [stdout, stderr] {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw Failure(description: "cannot create \(path)")
            }
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var inherited = ProcessInfo.processInfo.environment
        // The test runner's own settings must not reach the server.
        for key in inherited.keys where key.hasPrefix("NOTIFY_") { inherited[key] = nil }
        process.environment = inherited.merging(environment) { $1 }
        process.standardInput = stdin.flatMap { FileHandle(forReadingAtPath: $0) } ?? FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: stdout)
        process.standardError = FileHandle(forWritingAtPath: stderr)
        try process.run()
        return process
    }

    private static func waitForExit(_ process: Process, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    private static func read(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Counts calls (the process tests count acknowledged ones) across the tasks
/// that make them, so that a test can signal the server while calls are
/// still in flight.
public final class AnswerCounter: Sendable {
    private let count = Atomic<Int>(0)

    public init() {}

    public var value: Int { count.load(ordering: .relaxed) }

    public func increment() {
        count.add(1, ordering: .relaxed)
    }

    /// Sends SIGTERM to `pid` once `count` calls are counted, or after `limit` at most.
    public func sigterm(_ pid: Int32, after count: Int, limit: Duration = .seconds(5)) async {
        let deadline = ContinuousClock.now + limit
        while value < count, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(1))
        }
        kill(pid, SIGTERM)
    }
}
