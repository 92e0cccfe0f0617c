/// One thing wrong with one field of a request.
///
/// `field` uses the names the documented JSON contracts use ("recipients_type",
/// "embed.embed_type", "payload.visualContent.title",
/// "targetPolicy.platformTypes[1]"), so the gateway can hand it back to the
/// caller unchanged and the caller can find the key it sent.
public struct Violation: Hashable, Sendable, CustomStringConvertible {
    /// The JSON path of the offending key.
    public var field: String
    /// What is wrong, in words the caller can act on. Never echoes the value,
    /// which may be large or private.
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// A request that does not meet its contract.
///
/// It lists every offending field, not just the first, so a caller fixes a
/// request in one round trip. There is at most one entry per field: the first
/// problem found with that field.
public struct ValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// In the order the contract documents the fields; never empty when thrown.
    public var violations: [Violation]

    public init(violations: [Violation]) {
        self.violations = violations
    }

    /// All violations on one line, for status messages and logs.
    public var message: String {
        violations.map(\.description).joined(separator: "; ")
    }

    public var description: String { "ValidationError(\(message))" }

    /// The violation for `field`, if there is one.
    public func violation(for field: String) -> Violation? {
        violations.first { $0.field == field }
    }
}

/// Collects violations while a validator walks a request.
///
/// Keeps only the first violation per field, which lets each check run
/// unconditionally without caring whether an earlier one already failed.
struct ViolationList {
    private(set) var violations: [Violation] = []

    mutating func add(_ field: String, _ message: String) {
        guard !violations.contains(where: { $0.field == field }) else { return }
        violations.append(Violation(field: field, message: message))
    }

    var isEmpty: Bool { violations.isEmpty }

    /// Throws when anything was collected.
    func check() throws(ValidationError) {
        if !violations.isEmpty {
            throw ValidationError(violations: violations)
        }
    }
}
