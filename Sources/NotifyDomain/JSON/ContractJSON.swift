public import Foundation
public import NotifyJSON

/// Reads the documented JSON bodies into request values, and writes the
/// documented JSON answers.
///
/// Type errors (a string where an integer belongs, a float for `user`) are
/// reported here as violations naming the field, with the same shape as
/// validation's, so that a client sees every problem of a body at once.
public enum ContractJSON {
    /// Reads SelfCommunity's Notify body.
    ///
    /// `embed.metadata` may be an object or, as the documented example sends
    /// it, a string holding a JSON object; either way it is kept as object text.
    public static func notifyRequest(_ data: Data) throws(ValidationError) -> NotifyRequest {
        let reading = readNotifyRequest(data)
        if !reading.violations.isEmpty { throw ValidationError(violations: reading.violations) }
        return reading.request
    }

    /// Reads Graph's notification body.
    public static func sendNotificationRequest(_ data: Data) throws(ValidationError) -> SendNotificationRequest {
        let reading = readSendNotificationRequest(data)
        if !reading.violations.isEmpty { throw ValidationError(violations: reading.violations) }
        return reading.request
    }

    /// Reads SelfCommunity's Notify body without throwing: the request with
    /// every well-typed member, and one violation per ill-typed one.
    ///
    /// The REST gateway uses it so that type errors and validation errors
    /// reach the caller together, one entry per field: it validates the
    /// request it gets back and merges both lists (``merging(_:_:)``).
    /// A body that is not a JSON object yields an empty request and a single
    /// violation for the field "body".
    public static func readNotifyRequest(_ data: Data) -> ContractReading<NotifyRequest> {
        switch topLevel(data) {
        case .success(let object): readNotifyRequest(object: object)
        case .failure(let violation): ContractReading(request: NotifyRequest(), violations: [violation])
        }
    }

    /// Reads SelfCommunity's Notify members from an already parsed object
    /// (the gateway builds one from a form-encoded body).
    public static func readNotifyRequest(object: [String: JSONValue]) -> ContractReading<NotifyRequest> {
        var reader = Reader(object: object)
        var request = NotifyRequest()
        request.recipientsType = reader.string("recipients_type")
        request.type = reader.string("type")
        request.title = reader.nullableString("title")
        request.description = reader.nullableString("description")
        request.user = reader.integer("user")
        switch object["embed"] {
        case nil, .null?:
            break
        case .object(let members)?:
            var embed = Reader(object: members, prefix: "embed.")
            request.embed = EmbedInput(
                embedType: embed.string("embed_type"), embedID: embed.string("embed_id"), url: embed.string("url"),
                metadataJSON: embed.objectText("metadata")
            )
            reader.violations += embed.violations
        case let other?:
            reader.violations.append(Violation(field: "embed", message: "Expected an object, got \(other.typeName)."))
        }
        return ContractReading(request: request, violations: reader.violations)
    }

    /// Reads Graph's notification body without throwing: the request with
    /// every well-typed member, and one violation per ill-typed one (see
    /// ``readNotifyRequest(_:)``).
    public static func readSendNotificationRequest(_ data: Data) -> ContractReading<SendNotificationRequest> {
        switch topLevel(data) {
        case .success(let object): readSendNotificationRequest(object: object)
        case .failure(let violation): ContractReading(request: SendNotificationRequest(), violations: [violation])
        }
    }

    /// Reads Graph's notification members from an already parsed object.
    public static func readSendNotificationRequest(object: [String: JSONValue]) -> ContractReading<SendNotificationRequest> {
        var reader = Reader(object: object)
        var request = SendNotificationRequest()
        request.targetHostName = reader.string("targetHostName")
        request.appNotificationID = reader.string("appNotificationId")
        request.groupName = reader.string("groupName")
        request.expirationDateTime = reader.string("expirationDateTime")
        request.priority = reader.string("priority")
        request.displayTimeToLive = reader.integerOrDigits("displayTimeToLive")
        request.fallbackPolicyJSON = reader.objectText("fallbackPolicy")
        if let payload = reader.object("payload") {
            var inner = Reader(object: payload, prefix: "payload.")
            var input = PayloadInput(rawContent: inner.string("rawContent"))
            if let visual = inner.object("visualContent") {
                var content = Reader(object: visual, prefix: "payload.visualContent.")
                input.visualContent = VisualContentInput(title: content.string("title"), body: content.string("body"))
                inner.violations += content.violations
            }
            request.payload = input
            reader.violations += inner.violations
        }
        if let policy = reader.object("targetPolicy") {
            var inner = Reader(object: policy, prefix: "targetPolicy.")
            request.platformTypes = inner.strings("platformTypes") ?? []
            reader.violations += inner.violations
        }
        return ContractReading(request: request, violations: reader.violations)
    }

    /// Merges type violations (from reading) with validation violations,
    /// keeping one entry per field: the type violation wins, since the
    /// validator saw that field as missing.
    ///
    /// A type violation on an array element ("targetPolicy.platformTypes[1]")
    /// also hides a validation entry for the same element. The order is the
    /// reading's, then the validator's remaining fields.
    public static func merging(_ typeViolations: [Violation], _ validationViolations: [Violation]) -> [Violation] {
        var seen = Set(typeViolations.map(\.field))
        var merged = typeViolations
        for violation in validationViolations where !seen.contains(violation.field) {
            seen.insert(violation.field)
            merged.append(violation)
        }
        return merged
    }

    /// Whether a body is a JSON array: Graph answers that with its own error row.
    public static func isArray(_ data: Data) -> Bool {
        if case .array? = JSONValue.parse(data) { return true }
        return false
    }

    private enum TopLevel {
        case success([String: JSONValue])
        case failure(Violation)
    }

    private static func topLevel(_ data: Data) -> TopLevel {
        switch JSONValue.parse(data) {
        case .object(let object)?:
            return .success(object)
        case nil:
            return .failure(Violation(field: "body", message: "The body is not valid JSON."))
        case let other?:
            return .failure(Violation(field: "body", message: "Expected a JSON object, got \(other.typeName)."))
        }
    }

    /// Reads typed members of one object, collecting type errors.
    private struct Reader {
        let object: [String: JSONValue]
        var prefix = ""
        var violations: [Violation] = []

        mutating func string(_ key: String) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let value)?: return text(value, key)
            case let other?:
                mismatch(key, expected: "a string", got: other)
                return nil
            }
        }

        mutating func nullableString(_ key: String) -> NullableField<String> {
            switch object[key] {
            case nil: return .missing
            case .null?: return .null
            case .string(let value)?: return text(value, key).map { .value($0) } ?? .null
            case let other?:
                mismatch(key, expected: "a string or null", got: other)
                return .null
            }
        }

        mutating func integer(_ key: String) -> Int64? {
            switch object[key] {
            case nil, .null?: return nil
            case .integer(let value)?: return value
            case let other?:
                mismatch(key, expected: "an integer", got: other)
                return nil
            }
        }

        /// An integer, or a string of digits (Graph's example sends "60").
        mutating func integerOrDigits(_ key: String) -> Int64? {
            if case .string(let text)? = object[key] {
                guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int64(text) else {
                    violations.append(Violation(field: prefix + key, message: "Expected an integer or a string of digits."))
                    return nil
                }
                return value
            }
            return integer(key)
        }

        mutating func object(_ key: String) -> [String: JSONValue]? {
            switch object[key] {
            case nil, .null?: return nil
            case .object(let value)?: return value
            case let other?:
                mismatch(key, expected: "an object", got: other)
                return nil
            }
        }

        /// An object, or a string holding one; returned as JSON text.
        mutating func objectText(_ key: String) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .object?: return object[key]?.text
            case .string(let text)?:
                if case .object(let inner)? = JSONValue.parse(Data(text.utf8)) {
                    return JSONValue.object(inner).text
                }
                violations.append(Violation(field: prefix + key, message: "Expected a JSON object or a string holding one."))
                return nil
            case let other?:
                mismatch(key, expected: "an object", got: other)
                return nil
            }
        }

        mutating func strings(_ key: String) -> [String]? {
            switch object[key] {
            case nil, .null?: return nil
            case .array(let values)?:
                var result: [String] = []
                for (index, value) in values.enumerated() {
                    if case .string(let value) = value {
                        if let value = text(value, key, index: index) { result.append(value) }
                    } else {
                        violations.append(Violation(field: "\(prefix)\(key)[\(index)]", message: "Expected a string, got \(value.typeName)."))
                    }
                }
                return result
            case let other?:
                mismatch(key, expected: "an array of strings", got: other)
                return nil
            }
        }

        /// `value`, unless it holds U+0000: the RPC protocol's strings are C
        /// strings in protobuf-c and would arrive cut at the NUL, so the body
        /// is refused instead of stored short. The field's name is built only
        /// then: every string of every body passes here.
        private mutating func text(_ value: String, _ key: String, index: Int? = nil) -> String? {
            guard FieldChecks.holdsNUL(value) else { return value }
            let field = index.map { "\(prefix)\(key)[\($0)]" } ?? prefix + key
            violations.append(Violation(field: field, message: FieldChecks.nul))
            return nil
        }

        private mutating func mismatch(_ key: String, expected: String, got: JSONValue) {
            violations.append(Violation(field: prefix + key, message: "Expected \(expected), got \(got.typeName)."))
        }
    }
}

/// What a contract reader found: the request with every well-typed member,
/// and the members it could not read.
public struct ContractReading<Request: Sendable>: Sendable {
    /// The request; an ill-typed member is left absent (nil, or `.null` for
    /// SelfCommunity's nullable keys).
    public var request: Request
    /// One per ill-typed member (or one for "body" when the body is not a
    /// JSON object), in the order the members were read.
    public var violations: [Violation]

    public init(request: Request, violations: [Violation]) {
        self.request = request
        self.violations = violations
    }
}
