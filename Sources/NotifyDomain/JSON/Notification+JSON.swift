import Foundation

extension Notification {
    /// The entity as Graph's create-and-send answers it: id, payload,
    /// priority, groupName, expirationDateTime and displayTimeToLive (a
    /// number), for notifications stored by SendNotification.
    public var graphEntityJSON: JSONValue? {
        guard case .graph(let graph) = content else { return nil }
        var members: [String: JSONValue] = [
            "id": .string(id),
            "priority": .string(graph.priority.rawValue),
            "expirationDateTime": .string(Timestamps.formatRFC3339(graph.expiration)),
            "displayTimeToLive": .integer(graph.displayTimeToLive),
            "payload": graph.payload.json,
        ]
        members["groupName"] = graph.groupName.map(JSONValue.string) ?? .null
        return .object(members)
    }

    /// The feed entry of either kind, as `notifyctl feed` and the feed
    /// endpoints show it.
    public var feedJSON: JSONValue {
        var members: [String: JSONValue] = [
            "id": .string(id),
            "sequence": .integer(Int64(clamping: sequence)),
            "user": .integer(user),
            "createdDateTime": .string(Timestamps.formatRFC3339(createdAt)),
        ]
        switch content {
        case .custom(let custom):
            members["source"] = .string("notify")
            members["type"] = .string(custom.type)
            members["title"] = custom.title.map(JSONValue.string) ?? .null
            members["description"] = custom.description.map(JSONValue.string) ?? .null
            members["user_issuer"] = .integer(custom.issuer)
            if let embed = custom.embed {
                var object: [String: JSONValue] = [
                    "embed_type": .string(embed.embedType), "embed_id": .string(embed.embedID),
                    "url": embed.url.map(JSONValue.string) ?? .null,
                ]
                object["metadata"] = embed.metadataJSON.flatMap { JSONValue.parse(Data($0.utf8)) } ?? .null
                members["embed"] = .object(object)
            }
        case .graph(let graph):
            members["source"] = .string("send")
            if case .object(let entity)? = graphEntityJSON {
                members.merge(entity) { current, _ in current }
            }
            members["targetHostName"] = graph.targetHostName.map(JSONValue.string) ?? .null
            members["appNotificationId"] = graph.appNotificationID.map(JSONValue.string) ?? .null
            members["targetPolicy"] = .object(["platformTypes": .array(graph.platforms.map { .string($0.rawValue) })])
        }
        return .object(members)
    }
}

extension Payload {
    var json: JSONValue {
        var members: [String: JSONValue] = [:]
        if let rawContent { members["rawContent"] = .string(rawContent) }
        if let visualContent {
            var visual: [String: JSONValue] = ["title": .string(visualContent.title)]
            if let body = visualContent.body { visual["body"] = .string(body) }
            members["visualContent"] = .object(visual)
        }
        return .object(members)
    }
}
