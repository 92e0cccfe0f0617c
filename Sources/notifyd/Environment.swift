import ArgumentParser
import Foundation

/// Layers a flag over a NOTIFY_* environment variable over a default.
///
/// Parsed once at start-up into typed configuration; nothing reads the
/// environment after that.
struct Layered {
    let environment: [String: String]

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    func string(_ flag: String?, _ variable: String, default value: String) -> String {
        flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 } ?? value
    }

    func optionalString(_ flag: String?, _ variable: String) -> String? {
        flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    func value<T: LosslessStringConvertible>(_ flag: T?, _ variable: String, default value: T) throws -> T {
        if let flag { return flag }
        guard let text = environment[variable], !text.isEmpty else { return value }
        guard let parsed = T(text) else {
            throw ValidationError("\(variable)=\(text) is not a valid value")
        }
        return parsed
    }

    func bool(_ flag: Bool, _ variable: String) throws -> Bool {
        if flag { return true }
        guard let text = environment[variable]?.lowercased(), !text.isEmpty else { return false }
        switch text {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ValidationError("\(variable)=\(text) is not a boolean")
        }
    }
}
