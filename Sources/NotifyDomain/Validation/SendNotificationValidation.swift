/// Checks a SendNotification request (Graph "Create and send a
/// notification") against its contract and fills in Graph's defaults.
///
/// Whether the target subscription exists and belongs to the caller is the
/// server's and ``Authorization``'s question, not this one's.
public enum SendNotificationValidation {
    /// Validates `request` at the instant `now`.
    ///
    /// Times: `expirationDateTime` is read with up to 7 fraction digits
    /// (Graph writes 7) and kept at whole milliseconds, the digits past the
    /// third dropped (truncated, never rounded); it must then be after `now`
    /// and at most 30 days after it.
    ///
    /// Defaults: no `expirationDateTime` means `now` + 7 days
    /// (``Limits/expirationDefault``); no or an empty
    /// `targetPolicy.platformTypes` means all four platforms; no `priority`
    /// means None; no `displayTimeToLive` means 0, the platform's default.
    /// Platforms keep the order of their first mention, without duplicates.
    ///
    /// - Parameters:
    ///   - request: The request as the caller sent it.
    ///   - now: The current instant, injected so tests control the clock; the
    ///     server passes the notification's creation time (whole milliseconds).
    /// - Returns: The notification to store, expiration in UTC.
    /// - Throws: ``ValidationError`` listing every offending field.
    public static func validate(_ request: SendNotificationRequest, now: Timestamp) throws(ValidationError) -> GraphNotification {
        var violations = ViolationList()

        let targetHostName = optionalText(
            request.targetHostName, field: "targetHostName", maxLength: Limits.targetHostNameMaxLength, into: &violations)
        let appNotificationID = optionalText(
            request.appNotificationID, field: "appNotificationId", maxLength: Limits.appNotificationIDMaxLength,
            into: &violations)
        let groupName = optionalText(
            request.groupName, field: "groupName", maxLength: Limits.groupNameMaxLength, into: &violations)

        var expiration = now.adding(seconds: Limits.expirationDefault)
        if let text = request.expirationDateTime {
            if let parsed = Timestamp(rfc3339: text, maximumFractionDigits: Limits.fractionDigitsMax) {
                let date = parsed.truncatedToMilliseconds
                if date <= now {
                    violations.add("expirationDateTime", "Must be in the future.")
                } else if date.microseconds(since: now) > Limits.expirationMax * 1_000_000 {
                    violations.add("expirationDateTime", "Must be at most 30 days from now.")
                } else {
                    expiration = date
                }
            } else {
                violations.add(
                    "expirationDateTime",
                    "Must be an RFC 3339 date-time with Z or an offset, e.g. 2019-10-30T23:59:00.0000000Z.")
            }
        }

        let payload = validate(request.payload, into: &violations)

        let platforms = validate(platformTypes: request.platformTypes, into: &violations)

        var fallbackPolicy: String?
        if let text = request.fallbackPolicyJSON {
            if !platforms.contains(.ios) {
                violations.add("fallbackPolicy", "Allowed only when targetPolicy.platformTypes includes ios.")
            } else if text.utf8.count > Limits.fallbackPolicyMaxBytes {
                violations.add(
                    "fallbackPolicy", "Ensure this object is no larger than \(Limits.fallbackPolicyMaxBytes) bytes.")
            } else if let object = FieldChecks.jsonObjectText(text, unwrapString: false) {
                fallbackPolicy = object
            } else {
                violations.add("fallbackPolicy", "Must be a JSON object.")
            }
        }

        var priority = Priority.none
        if let text = request.priority {
            if let parsed = Priority(caseInsensitive: text) {
                priority = parsed
            } else {
                violations.add("priority", "Must be None, High or Low.")
            }
        }

        var displayTimeToLive = Limits.displayTimeToLiveDefault
        if let seconds = request.displayTimeToLive {
            if seconds < 0 || seconds > Limits.displayTimeToLiveMax {
                violations.add(
                    "displayTimeToLive", "Must be between 0 and \(Limits.displayTimeToLiveMax) seconds.")
            } else {
                displayTimeToLive = seconds
            }
        }

        try violations.check()
        guard let payload else {
            // Unreachable: a nil payload was recorded as a violation above.
            throw ValidationError(violations: [Violation(field: "payload", message: FieldChecks.required)])
        }
        return GraphNotification(
            targetHostName: targetHostName, appNotificationID: appNotificationID, groupName: groupName,
            expiration: expiration, payload: payload, platforms: platforms, priority: priority,
            displayTimeToLive: displayTimeToLive, fallbackPolicyJSON: fallbackPolicy)
    }

    private static func validate(_ input: PayloadInput?, into violations: inout ViolationList) -> Payload? {
        guard let input else {
            violations.add("payload", FieldChecks.required)
            return nil
        }
        guard input.rawContent != nil || input.visualContent != nil else {
            violations.add("payload", "Must have rawContent, visualContent or both.")
            return nil
        }
        var valid = true

        if let raw = input.rawContent {
            if raw.isEmpty {
                violations.add("payload.rawContent", FieldChecks.blank)
                valid = false
            } else if FieldChecks.holdsNUL(raw) {
                violations.add("payload.rawContent", FieldChecks.nul)
                valid = false
            } else if raw.utf8.count > Limits.rawContentMaxBytes {
                violations.add(
                    "payload.rawContent", "Ensure this field is no larger than \(Limits.rawContentMaxBytes) bytes.")
                valid = false
            }
        }

        var visual: VisualContent?
        if let content = input.visualContent {
            var title: String?
            switch content.title {
            case nil:
                violations.add("payload.visualContent.title", FieldChecks.required)
            case let text? where FieldChecks.isBlank(text):
                violations.add("payload.visualContent.title", FieldChecks.blank)
            case let text?:
                if let problem = FieldChecks.textProblem(text, max: Limits.visualTitleMaxLength) {
                    violations.add("payload.visualContent.title", problem)
                } else {
                    title = text
                }
            }
            var bodyValid = true
            if let body = content.body, let problem = FieldChecks.textProblem(body, max: Limits.visualBodyMaxLength) {
                violations.add("payload.visualContent.body", problem)
                bodyValid = false
            }
            if let title, bodyValid {
                visual = VisualContent(title: title, body: content.body)
            } else {
                valid = false
            }
        }

        return valid ? Payload(rawContent: input.rawContent, visualContent: visual) : nil
    }

    private static func validate(platformTypes: [String]?, into violations: inout ViolationList) -> [Platform] {
        guard let names = platformTypes, !names.isEmpty else { return Platform.allCases }
        guard names.count <= Limits.platformTypesMaxCount else {
            violations.add(
                "targetPolicy.platformTypes", "Ensure this list has no more than \(Limits.platformTypesMaxCount) entries.")
            return []
        }
        var platforms: [Platform] = []
        for (index, name) in names.enumerated() {
            if let platform = Platform(caseInsensitive: name) {
                if !platforms.contains(platform) {
                    platforms.append(platform)
                }
            } else {
                violations.add("targetPolicy.platformTypes[\(index)]", "Must be windows, ios, android or webPush.")
            }
        }
        return platforms
    }

    /// An optional string that, when present, is not blank and is bounded.
    private static func optionalText(
        _ value: String?, field: String, maxLength: Int, into violations: inout ViolationList
    ) -> String? {
        guard let value else { return nil }
        if FieldChecks.isBlank(value) {
            violations.add(field, FieldChecks.blank)
            return nil
        }
        if let problem = FieldChecks.textProblem(value, max: maxLength) {
            violations.add(field, problem)
            return nil
        }
        return value
    }
}
