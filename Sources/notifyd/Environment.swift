import ArgumentParser
import Configuration
import Foundation
import Synchronization

/// One setting of `notifyd serve` or `notifyd gateway`: its flag, its
/// NOTIFY_* variable, what it means and its default, declared once.
///
/// The option's `--help` line, the key swift-configuration reads it under and
/// the row of docs/OPERATIONS.md (checked by `SettingsTests`) all come from
/// here. The default's text is made from the library configuration's own
/// default (``Defaults``), so that no default is written twice.
struct Setting: Sendable, Hashable {
    /// The long flag, without its dashes (`rpc-port`).
    let flag: String
    /// The config key, `notify.<name>`: swift-configuration's environment
    /// provider reads it as NOTIFY_<NAME> (`-` becomes `_`).
    let key: ConfigKey
    /// What it does, for `--help`.
    let summary: String
    /// The default as `--help` and docs/OPERATIONS.md print it; nil: none.
    let defaultText: String?
    /// Whether its value is redacted wherever the configuration is printed
    /// (the paths of private keys).
    let isSecret: Bool

    /// - Parameters:
    ///   - flag: the long flag without its dashes.
    ///   - variable: the variable's name without `NOTIFY_` when it is not the flag's (`UPSTREAM_SERVER_NAME`).
    ///   - summary: what it does.
    ///   - defaultText: its default as printed; nil when it has none.
    ///   - isSecret: whether its value is redacted.
    init(_ flag: String, variable: String? = nil, _ summary: String, default defaultText: String?, isSecret: Bool = false) {
        self.flag = flag
        self.key = ConfigKey(["notify", (variable ?? flag).lowercased()])
        self.summary = summary
        self.defaultText = defaultText
        self.isSecret = isSecret
    }

    /// The environment variable, NOTIFY_<NAME>, as swift-configuration encodes ``key``.
    var variable: String {
        key.components.map { $0.uppercased().replacingOccurrences(of: "-", with: "_") }.joined(separator: "_")
    }

    /// The option's `--help` text: the summary, the variable and the default.
    var help: ArgumentHelp {
        ArgumentHelp("\(summary) [\(variable)\(defaultText.map { ", default \($0)" } ?? "")]")
    }

    /// The option's name for swift-argument-parser.
    var name: NameSpecification { .customLong(flag) }
}

/// The values given on the command line, keyed by their settings: the first
/// of swift-configuration's providers, so a flag wins over its variable.
///
/// Options are optional and have no default in swift-argument-parser (a
/// default there would always win); a flag that was not given is absent.
struct FlagValues {
    private(set) var values: [AbsoluteConfigKey: ConfigValue] = [:]

    mutating func set(_ setting: Setting, _ value: String?) {
        set(setting, value.map { .string($0) })
    }

    mutating func set(_ setting: Setting, _ value: Int?) {
        set(setting, value.map { .int($0) })
    }

    mutating func set(_ setting: Setting, _ value: Int64?) {
        set(setting, value.map { .int(Int($0)) })
    }

    mutating func set(_ setting: Setting, _ value: Double?) {
        set(setting, value.map { .double($0) })
    }

    /// A boolean flag can only turn its setting on: off leaves it to the variable.
    mutating func set(_ setting: Setting, _ value: Bool) {
        set(setting, value ? .bool(true) : nil)
    }

    private mutating func set(_ setting: Setting, _ content: ConfigContent?) {
        guard let content else { return }
        values[AbsoluteConfigKey(setting.key)] = ConfigValue(content, isSecret: setting.isSecret)
    }
}

/// The settings of one command: its flags, then NOTIFY_* environment
/// variables, then the defaults the caller passes (the library's), read once
/// at start-up through swift-configuration into typed configuration that is
/// passed down; nothing reads the environment after that.
///
/// An empty variable counts as unset. A variable that does not parse as its
/// setting's type fails the start with a `ValidationError` naming it, where a
/// plain `ConfigReader` would fall back to the default without a word.
struct Settings {
    private let reader: ConfigReader
    private let problems = Problems()
    private let environment: [String: String]

    /// - Parameters:
    ///   - flags: the options given on the command line.
    ///   - environment: the process's environment (tests pass their own).
    init(flags: FlagValues, environment: [String: String] = ProcessInfo.processInfo.environment) {
        var set = environment.filter { $0.key.hasPrefix("NOTIFY_") && !$0.value.isEmpty }
        // Booleans also take on and off, as they always have.
        for (name, value) in set {
            switch value.lowercased() {
            case "on": set[name] = "true"
            case "off": set[name] = "false"
            default: break
            }
        }
        self.environment = set
        self.reader = ConfigReader(
            providers: [
                InMemoryProvider(name: "flags", values: flags.values),
                EnvironmentVariablesProvider(
                    environmentVariables: set, secretsSpecifier: .specific(Set(Setting.secretVariables))),
            ],
            accessReporter: problems
        )
    }

    func string(_ setting: Setting) throws -> String? {
        try checked(setting) { reader.string(forKey: setting.key, isSecret: setting.isSecret) }
    }

    func string(_ setting: Setting, default value: String) throws -> String {
        try checked(setting) { reader.string(forKey: setting.key, isSecret: setting.isSecret, default: value) }
    }

    func int(_ setting: Setting) throws -> Int? {
        try checked(setting) { reader.int(forKey: setting.key, isSecret: setting.isSecret) }
    }

    func int(_ setting: Setting, default value: Int) throws -> Int {
        try checked(setting) { reader.int(forKey: setting.key, isSecret: setting.isSecret, default: value) }
    }

    func double(_ setting: Setting) throws -> Double? {
        try checked(setting) { reader.double(forKey: setting.key, isSecret: setting.isSecret) }
    }

    func double(_ setting: Setting, default value: Double) throws -> Double {
        try checked(setting) { reader.double(forKey: setting.key, isSecret: setting.isSecret, default: value) }
    }

    /// A switch: off unless its flag or its variable turns it on.
    func bool(_ setting: Setting) throws -> Bool {
        try checked(setting) { reader.bool(forKey: setting.key, isSecret: setting.isSecret, default: false) }
    }

    /// Runs one read, then fails if it met a value that does not parse.
    private func checked<T>(_ setting: Setting, _ read: () -> T) throws -> T {
        let value = read()
        guard !problems.take() else {
            let text = setting.isSecret ? "" : environment[setting.variable].map { "=\($0)" } ?? ""
            throw ValidationError("\(setting.variable)\(text) is not a valid value for --\(setting.flag)")
        }
        return value
    }
}

/// Notes that a read met a value its provider could not parse (the reader
/// itself falls back to the default and says nothing).
private final class Problems: AccessReporter, Sendable {
    private let failed = Mutex(false)

    func report(_ event: AccessEvent) {
        let providerFailed = event.providerResults.contains { result in
            if case .failure = result.result { return true }
            return false
        }
        if providerFailed || event.conversionError != nil {
            failed.withLock { $0 = true }
        }
    }

    /// Whether a read failed since the last call, and forgets it.
    func take() -> Bool {
        failed.withLock { failed in
            defer { failed = false }
            return failed
        }
    }
}
