/// A JSON value that distinguishes a missing key from an explicit null.
///
/// SelfCommunity's `title` and `description` are required keys whose value
/// may be null: the two absences mean different things.
public enum NullableField<Value: Hashable & Sendable>: Hashable, Sendable {
    case missing
    case null
    case value(Value)

    /// The value, or nil for both `missing` and `null`.
    public var value: Value? {
        if case .value(let value) = self { return value }
        return nil
    }
}

/// SelfCommunity's Embed object as the caller sent it: not yet validated.
public struct EmbedInput: Hashable, Sendable {
    public var embedType: String?
    public var embedID: String?
    public var url: String?
    /// A JSON object, serialized (the gateway serializes an object and
    /// unwraps a string holding one).
    public var metadataJSON: String?

    public init(embedType: String? = nil, embedID: String? = nil, url: String? = nil, metadataJSON: String? = nil) {
        self.embedType = embedType
        self.embedID = embedID
        self.url = url
        self.metadataJSON = metadataJSON
    }
}

/// The Notify call (SelfCommunity "Create Custom notification") as the
/// caller sent it. Every field may be absent: validation names what is wrong.
public struct NotifyRequest: Hashable, Sendable {
    public var recipientsType: String?
    public var type: String?
    public var embed: EmbedInput?
    public var title: NullableField<String>
    public var description: NullableField<String>
    public var user: Int64?

    public init(
        recipientsType: String? = nil, type: String? = nil, embed: EmbedInput? = nil,
        title: NullableField<String> = .missing, description: NullableField<String> = .missing, user: Int64? = nil
    ) {
        self.recipientsType = recipientsType
        self.type = type
        self.embed = embed
        self.title = title
        self.description = description
        self.user = user
    }
}

/// What a Notify call answers: the gateway turns it into 204.
public struct NotifyResponse: Hashable, Sendable {
    /// The stored notification's id.
    public var id: String
    /// How many feeds it goes to.
    public var recipients: UInt64

    public init(id: String, recipients: UInt64) {
        self.id = id
        self.recipients = recipients
    }
}

/// Graph's visualContent as sent.
public struct VisualContentInput: Hashable, Sendable {
    public var title: String?
    public var body: String?

    public init(title: String? = nil, body: String? = nil) {
        self.title = title
        self.body = body
    }
}

/// Graph's payload as sent.
public struct PayloadInput: Hashable, Sendable {
    public var rawContent: String?
    public var visualContent: VisualContentInput?

    public init(rawContent: String? = nil, visualContent: VisualContentInput? = nil) {
        self.rawContent = rawContent
        self.visualContent = visualContent
    }
}

/// The SendNotification call (Graph "Create and send a notification") as the
/// caller sent it. The target subscription (X-UNS-ID) travels in the call
/// metadata, not here.
public struct SendNotificationRequest: Hashable, Sendable {
    public var targetHostName: String?
    public var appNotificationID: String?
    public var groupName: String?
    /// RFC 3339 text, as sent.
    public var expirationDateTime: String?
    public var payload: PayloadInput?
    /// targetPolicy.platformTypes; nil when targetPolicy was absent.
    public var platformTypes: [String]?
    /// Graph's fallbackPolicy object, serialized JSON.
    public var fallbackPolicyJSON: String?
    public var priority: String?
    /// Seconds (the gateway accepts a number or a string of digits).
    public var displayTimeToLive: Int64?

    public init(
        targetHostName: String? = nil, appNotificationID: String? = nil, groupName: String? = nil,
        expirationDateTime: String? = nil, payload: PayloadInput? = nil, platformTypes: [String]? = nil,
        fallbackPolicyJSON: String? = nil, priority: String? = nil, displayTimeToLive: Int64? = nil
    ) {
        self.targetHostName = targetHostName
        self.appNotificationID = appNotificationID
        self.groupName = groupName
        self.expirationDateTime = expirationDateTime
        self.payload = payload
        self.platformTypes = platformTypes
        self.fallbackPolicyJSON = fallbackPolicyJSON
        self.priority = priority
        self.displayTimeToLive = displayTimeToLive
    }
}

/// What SendNotification answers: the stored entity.
public struct SendNotificationResponse: Hashable, Sendable {
    public var notification: Notification

    public init(notification: Notification) {
        self.notification = notification
    }
}
