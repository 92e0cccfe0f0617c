/// SelfCommunity's Embed object, validated.
public struct Embed: Hashable, Sendable {
    public var embedType: String
    public var embedID: String
    public var url: String?
    /// A JSON object, serialized.
    public var metadataJSON: String?

    public init(embedType: String, embedID: String, url: String?, metadataJSON: String?) {
        self.embedType = embedType
        self.embedID = embedID
        self.url = url
        self.metadataJSON = metadataJSON
    }
}

/// Graph's visual content.
public struct VisualContent: Hashable, Sendable {
    public var title: String
    public var body: String?

    public init(title: String, body: String?) {
        self.title = title
        self.body = body
    }
}

/// Graph's payload: raw content, visual content, or both.
public struct Payload: Hashable, Sendable {
    public var rawContent: String?
    public var visualContent: VisualContent?

    public init(rawContent: String?, visualContent: VisualContent?) {
        self.rawContent = rawContent
        self.visualContent = visualContent
    }
}

/// What a Notify call stores: SelfCommunity's custom notification.
public struct CustomNotification: Hashable, Sendable {
    public var type: String
    public var embed: Embed?
    public var title: String?
    public var description: String?
    /// The user who issued it.
    public var issuer: Int64

    public init(type: String, embed: Embed?, title: String?, description: String?, issuer: Int64) {
        self.type = type
        self.embed = embed
        self.title = title
        self.description = description
        self.issuer = issuer
    }
}

/// What a SendNotification call stores: Graph's notification resource.
public struct GraphNotification: Hashable, Sendable {
    public var targetHostName: String?
    public var appNotificationID: String?
    public var groupName: String?
    /// At whole milliseconds when the service made it.
    public var expiration: Timestamp
    public var payload: Payload
    /// Never empty: an absent targetPolicy means all platforms.
    public var platforms: [Platform]
    public var priority: Priority
    /// Seconds.
    public var displayTimeToLive: Int64
    /// Graph's fallbackPolicy object, serialized JSON.
    public var fallbackPolicyJSON: String?

    public init(
        targetHostName: String?, appNotificationID: String?, groupName: String?, expiration: Timestamp,
        payload: Payload, platforms: [Platform], priority: Priority, displayTimeToLive: Int64,
        fallbackPolicyJSON: String?
    ) {
        self.targetHostName = targetHostName
        self.appNotificationID = appNotificationID
        self.groupName = groupName
        self.expiration = expiration
        self.payload = payload
        self.platforms = platforms
        self.priority = priority
        self.displayTimeToLive = displayTimeToLive
        self.fallbackPolicyJSON = fallbackPolicyJSON
    }
}

/// The content of a notification: one of the two documented kinds.
public enum NotificationContent: Hashable, Sendable {
    case custom(CustomNotification)
    case graph(GraphNotification)
}

/// A notification as it sits in one user's feed.
public struct Notification: Hashable, Sendable {
    /// Server-assigned, a UUID string; the same for every recipient of one Notify.
    public var id: String
    /// Position in `user`'s feed: strictly increasing, no gaps, from 1.
    public var sequence: UInt64
    /// The recipient.
    public var user: Int64
    /// At whole milliseconds when the service made it.
    public var createdAt: Timestamp
    public var content: NotificationContent
    /// Whether the user has read it, when it was read from the feed.
    public var read: Bool
    /// What the user did with it, when it was read from the feed.
    public var actionState: ActionState

    public init(
        id: String, sequence: UInt64, user: Int64, createdAt: Timestamp, content: NotificationContent,
        read: Bool = false, actionState: ActionState = .noInteraction
    ) {
        self.id = id
        self.sequence = sequence
        self.user = user
        self.createdAt = createdAt
        self.content = content
        self.read = read
        self.actionState = actionState
    }
}
