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

    /// Writes ``graphEntityJSON``, with `@odata.context` when given, as
    /// `JSONValue.write` would (members in key order), without building the
    /// value: the gateway answers every SendNotification with it. Returns
    /// false, writing nothing, for a notification that is not Graph's.
    public func writeGraphEntity(context: String?, to out: inout [UInt8]) -> Bool {
        guard case .graph(let graph) = content else { return false }
        func key(_ name: StaticString, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: "\":".utf8)
        }
        out.append(UInt8(ascii: "{"))
        if let context {
            key("@odata.context", first: true)
            JSONValue.appendQuoted(context, to: &out)
            key("displayTimeToLive")
        } else {
            key("displayTimeToLive", first: true)
        }
        out.append(contentsOf: String(graph.displayTimeToLive).utf8)
        key("expirationDateTime")
        JSONValue.appendQuoted(Timestamps.formatRFC3339(graph.expiration), to: &out)
        key("groupName")
        if let groupName = graph.groupName { JSONValue.appendQuoted(groupName, to: &out) } else { out.append(contentsOf: "null".utf8) }
        key("id")
        JSONValue.appendQuoted(id, to: &out)
        key("payload")
        out.append(UInt8(ascii: "{"))
        var first = true
        if let rawContent = graph.payload.rawContent {
            key("rawContent", first: true)
            JSONValue.appendQuoted(rawContent, to: &out)
            first = false
        }
        if let visual = graph.payload.visualContent {
            key("visualContent", first: first)
            out.append(UInt8(ascii: "{"))
            if let body = visual.body {
                key("body", first: true)
                JSONValue.appendQuoted(body, to: &out)
                key("title")
            } else {
                key("title", first: true)
            }
            JSONValue.appendQuoted(visual.title, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
        key("priority")
        JSONValue.appendQuoted(graph.priority.rawValue, to: &out)
        out.append(UInt8(ascii: "}"))
        return true
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
