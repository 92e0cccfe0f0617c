import ArgumentParser
import Configuration
import Foundation
import NotifyClient
import NotifyDomain
import NotifyGateway
import NotifyServer
import NotifyStoragePostgres
import NotifyStorageSQLite
import NotifyTLS
import Testing

@testable import notifyd

@Suite("notifyd's settings: one declaration for flags, variables, defaults, --help and docs/OPERATIONS.md")
struct SettingsTests {
    static let operationsPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/OPERATIONS.md").path

    /// One row of an options table: flag, variable, default, as written.
    struct Row: Equatable, CustomStringConvertible {
        var flag: String
        var variable: String
        var defaultText: String
        var description: String { "--\(flag) | \(variable) | \(defaultText)" }
    }

    /// The option rows of docs/OPERATIONS.md's tables (rows whose first cell is a flag).
    static func documentedRows() throws -> [Row] {
        let text = try String(contentsOfFile: operationsPath, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("| `--") else { return nil }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 5 else { return nil }
            func plain(_ cell: String) -> String { cell.replacingOccurrences(of: "`", with: "") }
            return Row(
                flag: String(plain(cells[1]).dropFirst(2)), variable: plain(cells[2]), defaultText: plain(cells[3]))
        }
    }

    static let all = Setting.serve + Setting.gateway.filter { !Setting.serve.contains($0) }

    @Test("every row of docs/OPERATIONS.md names a setting's flag, variable and default, and every setting has a row")
    func operationsTableAgrees() throws {
        let rows = try Self.documentedRows()
        let expected = Self.all.map { Row(flag: $0.flag, variable: $0.variable, defaultText: $0.defaultText ?? "none") }
        for row in rows {
            let setting = expected.first { $0.flag == row.flag }
            #expect(setting == row, "docs/OPERATIONS.md: \(row); the settings say \(setting.map(\.description) ?? "no such flag")")
        }
        let documented = Set(rows.map(\.flag))
        for setting in Self.all {
            #expect(documented.contains(setting.flag), "--\(setting.flag) has no row in docs/OPERATIONS.md")
        }
        #expect(rows.count == Set(rows.map(\.flag)).count, "a flag has two rows")
    }

    @Test("--help lists exactly the declared settings, each with its variable and default", arguments: ["serve", "gateway"])
    func helpAgrees(command: String) {
        let (help, settings) = command == "serve"
            ? (Serve.helpMessage(columns: 10_000), Setting.serve) : (Gateway.helpMessage(columns: 10_000), Setting.gateway)
        // Each option's entry: from its flag to the next one, whitespace collapsed.
        let entries = help.components(separatedBy: "\n  --").map {
            $0.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        for setting in settings {
            let line = entries.first { $0 == setting.flag || $0.hasPrefix(setting.flag + " ") }
            #expect(line?.contains(setting.variable) == true, "--\(setting.flag): \(line ?? "missing")")
            if let defaultText = setting.defaultText {
                #expect(line?.contains("default \(defaultText)]") == true, "--\(setting.flag): \(line ?? "missing")")
            }
        }
        let flags = Set(help.matches(of: /\s--([a-z-]+)/).map { String($0.1) }).subtracting(["help", "version"])
        #expect(flags == Set(settings.map(\.flag)))
    }

    @Test("every option given on the command line reaches the configuration reader", arguments: ["serve", "gateway"])
    func everyFlagIsForwarded(command: String) throws {
        let settings = command == "serve" ? Setting.serve : Setting.gateway
        let switches: Set<Setting> = [.followEnabled, .noGateway]
        let arguments = settings.flatMap { switches.contains($0) ? ["--\($0.flag)"] : ["--\($0.flag)", "1"] }
        let flags = command == "serve" ? try Serve.parse(arguments).flags : try Gateway.parse(arguments).flags
        #expect(Set(flags.values.keys) == Set(settings.map { AbsoluteConfigKey($0.key) }))
    }

    @Test("swift-configuration reads each setting from the variable the docs name")
    func variablesAreTheProvidersKeys() {
        for setting in Self.all {
            let reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: [setting.variable: "x"]))
            #expect(reader.string(forKey: setting.key) == "x", "\(setting.variable)")
        }
        #expect(Setting.serverName.variable == "NOTIFY_UPSTREAM_SERVER_NAME")
        #expect(Setting.clientCert.variable == "NOTIFY_GATEWAY_CERT")
        #expect(Setting.clientKey.variable == "NOTIFY_GATEWAY_KEY")
        #expect(Set(Setting.secretVariables) == ["NOTIFY_TLS_KEY", "NOTIFY_HTTP_TLS_KEY", "NOTIFY_GATEWAY_KEY"])
    }

    static let tls = TLSConfiguration.server(certificateChainFile: "c", privateKeyFile: "k", applicationProtocols: [])

    @Test("with nothing set, serve's configuration is the library's defaults, limits on")
    func defaultsAreTheLibrarys() throws {
        let settings = Settings(flags: FlagValues(), environment: [:])
        let server = try Serve.serverConfiguration(settings, tls: Self.tls)
        let library = ServerConfiguration(tls: Self.tls)
        #expect(server.port == 7443 && server.port == library.port)
        #expect(server.rateLimits == library.rateLimits && library.rateLimits == .defaults)
        #expect(server.authFailureLimit == library.authFailureLimit && library.authFailureLimit.perSecond == 10)
        #expect(server.idleTimeout == library.idleTimeout && server.firstCallTimeout == library.firstCallTimeout)
        #expect(server.maxStreams == library.maxStreams && server.maxMessageSize == library.maxMessageSize)
        #expect(try Serve.storeConfiguration(settings).maxFeedEntries == 100_000)
        let store = try Serve.storeConfiguration(settings)
        #expect(store.sweepTransactionBudget == .microseconds(250) && store.fanOutTransactionBudget == .microseconds(100))
        let sweep = try Serve.storeConfiguration(Settings(flags: try Serve.parse(["--sweep-budget", "0"]).flags, environment: [:]))
        #expect(sweep.sweepTransactionBudget == .zero && sweep.fanOutTransactionBudget == .microseconds(100))
        let fanOut = try Serve.storeConfiguration(Settings(flags: FlagValues(), environment: ["NOTIFY_FAN_OUT_BUDGET": "400"]))
        #expect(fanOut.sweepTransactionBudget == .microseconds(250) && fanOut.fanOutTransactionBudget == .microseconds(400))
        for flag in ["--sweep-budget", "--fan-out-budget"] {
            #expect(throws: (any Error).self) {
                try Serve.storeConfiguration(Settings(flags: try Serve.parse([flag, "-1"]).flags, environment: [:]))
            }
        }
        // PostgreSQL keeps budgets of its own unless one is given.
        let postgresDefaults = try PostgresStoreConfiguration(url: "postgres://notify@127.0.0.1/notify")
        var postgres = postgresDefaults
        postgres.apply(store, sweepBudget: try settings.int(.sweepBudget), fanOutBudget: try settings.int(.fanOutBudget))
        #expect(postgres.sweepTransactionBudget == postgresDefaults.sweepTransactionBudget)
        #expect(postgres.sweepTransactionBudget == .milliseconds(5) && postgres.fanOutTransactionBudget == .milliseconds(5))
        let given = Settings(flags: try Serve.parse(["--sweep-budget", "3000", "--fan-out-budget", "0"]).flags, environment: [:])
        postgres.apply(
            try Serve.storeConfiguration(given), sweepBudget: try given.int(.sweepBudget), fanOutBudget: try given.int(.fanOutBudget))
        #expect(postgres.sweepTransactionBudget == .milliseconds(3) && postgres.fanOutTransactionBudget == .zero)
    }

    @Test("a flag wins over its variable, the variable over the default; empty is unset; on and off are switches")
    func layering() throws {
        let environment = [
            "NOTIFY_RPC_PORT": "9001", "NOTIFY_MAX_STREAMS": "77", "NOTIFY_RATE_LIMIT": "0",
            "NOTIFY_DRAIN_TIMEOUT": "", "NOTIFY_FOLLOW_ENABLED": "on", "NOTIFY_MAX_FEED_ENTRIES": "0",
        ]
        let serve = try Serve.parse(["--rpc-port", "9000"])
        let settings = Settings(flags: serve.flags, environment: environment)
        let server = try Serve.serverConfiguration(settings, tls: Self.tls)
        #expect(server.port == 9000)
        #expect(server.maxStreams == 77)
        #expect(server.rateLimits == .off)
        #expect(server.drainTimeout == ServerConfiguration(tls: Self.tls).drainTimeout)
        #expect(server.communityMode == .follow)
        #expect(try Serve.storeConfiguration(settings).maxFeedEntries == nil)
        let off = Settings(flags: FlagValues(), environment: ["NOTIFY_FOLLOW_ENABLED": "off"])
        #expect(try Serve.serverConfiguration(off, tls: Self.tls).communityMode == .friendship)
    }

    @Test("a variable that does not parse stops the start, naming it")
    func invalidVariable() throws {
        let settings = Settings(flags: FlagValues(), environment: ["NOTIFY_MAX_STREAMS": "many"])
        #expect {
            try Serve.serverConfiguration(settings, tls: Self.tls)
        } throws: { error in
            "\(error)".contains("NOTIFY_MAX_STREAMS=many")
        }
        let gateway = Settings(flags: FlagValues(), environment: ["NOTIFY_HTTP_MAX_BODY": "1k"])
        #expect(throws: ArgumentParser.ValidationError.self) {
            try HTTPOptions.configuration(gateway, upstream: .remote(.init(trustRootsFile: "")))
        }
    }

    @Test("the gateway's variables keep their names", arguments: [["--upstream", "10.0.0.1:7000"], []])
    func gatewayUpstream(arguments: [String]) throws {
        let gateway = try Gateway.parse(arguments)
        let settings = Settings(
            flags: gateway.flags,
            environment: ["NOTIFY_UPSTREAM": "[::1]:7444", "NOTIFY_UPSTREAM_SERVER_NAME": "rpc.example", "NOTIFY_GATEWAY_CERT": "c.pem"])
        let upstream = try Gateway.upstream(settings)
        #expect(upstream.host == (arguments.isEmpty ? "::1" : "10.0.0.1"))
        #expect(upstream.port == (arguments.isEmpty ? 7444 : 7000))
        #expect(upstream.tls.serverName == "rpc.example")
        #expect(upstream.tls.certificateChainFile == "c.pem")
        #expect(upstream.tls.trustRootsFile == "./data/tls/ca.crt")
    }
}
