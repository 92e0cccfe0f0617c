import Foundation

/// Who receives a Notify: SelfCommunity's `recipients_type`.
public enum RecipientsType: String, Sendable, Hashable, CaseIterable {
    /// The issuer's friends or followers, depending on the community's mode.
    case connections
    /// The issuer himself.
    case user
}

/// A Notify request that meets its contract: what the server acts on.
public struct ValidatedNotify: Hashable, Sendable {
    public var recipientsType: RecipientsType
    public var notification: CustomNotification

    public init(recipientsType: RecipientsType, notification: CustomNotification) {
        self.recipientsType = recipientsType
        self.notification = notification
    }
}

/// Checks a Notify request (SelfCommunity "Create Custom notification")
/// against its contract.
///
/// Only what the request alone can tell: whether the issuer exists is the
/// server's question (it answers NOT_FOUND), and whether the caller may notify
/// is ``Authorization``'s. Messages for SelfCommunity fields follow the
/// wording its server uses ("This field is required.").
public enum NotifyValidation {
    /// Validates `request`.
    ///
    /// `type`, `embed.embed_type` and `embed.embed_id` are stored trimmed of
    /// surrounding white space (they are identifiers); `title` and
    /// `description` are stored as sent.
    ///
    /// - Parameter request: The request as the caller sent it.
    /// - Returns: The recipients and the notification to store.
    /// - Throws: ``ValidationError`` listing every offending field.
    public static func validate(_ request: NotifyRequest) throws(ValidationError) -> ValidatedNotify {
        var violations = ViolationList()

        var recipientsType = RecipientsType.connections
        if let text = request.recipientsType {
            if let parsed = RecipientsType(rawValue: text) {
                recipientsType = parsed
            } else {
                violations.add("recipients_type", "Must be \"connections\" or \"user\".")
            }
        }

        let type = identifier(request.type, field: "type", maxLength: Limits.typeMaxLength, into: &violations)

        var embed: Embed?
        if let input = request.embed {
            embed = validate(input, into: &violations)
        }

        let title = prose(request.title, field: "title", maxLength: Limits.titleMaxLength, into: &violations)
        let description = prose(
            request.description, field: "description", maxLength: Limits.descriptionMaxLength, into: &violations)

        var issuer: Int64?
        switch request.user {
        case nil:
            violations.add("user", FieldChecks.required)
        case let user? where user <= 0:
            violations.add("user", "Must be a positive user id.")
        case let user?:
            issuer = user
        }

        try violations.check()
        guard let type, let issuer else {
            // Unreachable: a nil here was recorded as a violation above.
            throw ValidationError(violations: [Violation(field: "type", message: FieldChecks.required)])
        }
        let notification = CustomNotification(
            type: type, embed: embed, title: title, description: description, issuer: issuer)
        return ValidatedNotify(recipientsType: recipientsType, notification: notification)
    }

    private static func validate(_ input: EmbedInput, into violations: inout ViolationList) -> Embed? {
        let embedType = identifier(
            input.embedType, field: "embed.embed_type", maxLength: Limits.embedTypeMaxLength, into: &violations)
        if let embedType, Limits.reservedEmbedTypes.contains(embedType.lowercased()) {
            violations.add("embed.embed_type", "\"\(embedType.lowercased())\" is reserved by SelfCommunity.")
        }
        let embedID = identifier(
            input.embedID, field: "embed.embed_id", maxLength: Limits.embedIDMaxLength, into: &violations)

        var url: String?
        if let text = input.url {
            if let problem = FieldChecks.textProblem(text, max: Limits.urlMaxLength) {
                violations.add("embed.url", problem)
            } else if !isWebURL(text) {
                violations.add("embed.url", "Enter a valid absolute http or https URL with a host.")
            } else {
                url = text
            }
        }

        var metadata: String?
        if let text = input.metadataJSON {
            if text.utf8.count > Limits.metadataMaxBytes {
                violations.add("embed.metadata", "Ensure this object is no larger than \(Limits.metadataMaxBytes) bytes.")
            } else if let object = FieldChecks.jsonObjectText(text, unwrapString: true) {
                metadata = object
            } else {
                violations.add("embed.metadata", "Must be a JSON object.")
            }
        }

        guard let embedType, let embedID else { return nil }
        return Embed(embedType: embedType, embedID: embedID, url: url, metadataJSON: metadata)
    }

    /// A required, non-blank, bounded identifier, trimmed.
    private static func identifier(
        _ value: String?, field: String, maxLength: Int, into violations: inout ViolationList
    ) -> String? {
        guard let value else {
            violations.add(field, FieldChecks.required)
            return nil
        }
        let trimmed = FieldChecks.trimmed(value)
        if trimmed.isEmpty {
            violations.add(field, FieldChecks.blank)
            return nil
        }
        if let problem = FieldChecks.textProblem(trimmed, max: maxLength) {
            violations.add(field, problem)
            return nil
        }
        return trimmed
    }

    /// A key that must be present but whose value may be null.
    private static func prose(
        _ value: NullableField<String>, field: String, maxLength: Int, into violations: inout ViolationList
    ) -> String? {
        switch value {
        case .missing:
            violations.add(field, FieldChecks.required)
            return nil
        case .null:
            return nil
        case .value(let text):
            if let problem = FieldChecks.textProblem(text, max: maxLength) {
                violations.add(field, problem)
                return nil
            }
            return text
        }
    }

    /// An absolute http or https URL with a host, and nothing a browser would
    /// have to repair (white space, control characters).
    static func isWebURL(_ text: String) -> Bool {
        guard
            !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }),
            let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty
        else { return false }
        return true
    }
}
