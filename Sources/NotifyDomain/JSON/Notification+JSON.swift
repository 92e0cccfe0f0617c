public import NotifyJSON

extension Notification {
    /// Writes the entity as Graph's create-and-send answers it, for a
    /// notification stored by SendNotification: `@odata.context` when given,
    /// then `displayTimeToLive` (a number), `expirationDateTime`,
    /// `fallbackPolicy` (the object sent, only when one was), `groupName`,
    /// `id`, `payload` and `priority`, keys in sorted order.
    ///
    /// - Parameter state: also `isRead` and `userActionState`, the entry's
    ///   state as the feed's views (`GET /me/notifications`) show it.
    /// - Returns: false, writing nothing, for a notification that is not Graph's.
    public func writeGraphEntity(context: String?, state: Bool = false, to writer: inout JSONWriter) -> Bool {
        guard case .graph(let graph) = content else { return false }
        writer.beginObject()
        if let context { writer.member("@odata.context", context) }
        writeEntityMembers(graph, state: state, to: &writer)
        writer.endObject()
        return true
    }

    /// ``writeGraphEntity(context:to:)`` as text (`notifyctl send` prints it).
    public func graphEntityText(context: String? = nil) -> String? {
        var writer = JSONWriter()
        return writeGraphEntity(context: context, to: &writer) ? writer.text : nil
    }

    /// Writes the feed entry of either kind, as `notifyctl feed` prints it and
    /// `/feed/events` streams it, keys in sorted order.
    ///
    /// A custom entry: `createdDateTime`, `description`, `embed` (when there
    /// is one: `embed_id`, `embed_type`, `metadata` as an object, `url`), `id`,
    /// `sequence`, `source` ("notify"), `title`, `type`, `user`, `user_issuer`.
    /// A Graph entry: Graph's entity members, plus `appNotificationId`,
    /// `createdDateTime`, `sequence`, `source` ("send"), `targetHostName`,
    /// `targetPolicy.platformTypes` and `user`.
    public func writeFeedEntry(to writer: inout JSONWriter) {
        writer.beginObject()
        switch content {
        case .custom(let custom):
            writer.member("createdDateTime", createdAt.rfc3339)
            writer.member("description", orNull: custom.description)
            if let embed = custom.embed {
                writer.key("embed")
                writer.beginObject()
                writer.member("embed_id", embed.embedID)
                writer.member("embed_type", embed.embedType)
                writer.key("metadata")
                // Re-written rather than copied: metadata_json sent over RPC is
                // any object text, and the entry shows it compact with sorted keys.
                if let metadata = embed.metadataJSON.flatMap({ JSONValue.parse(text: $0, maximumDepth: JSONValue.maximumStoredDepth) }) {
                    metadata.write(to: &writer)
                } else {
                    writer.null()
                }
                writer.member("url", orNull: embed.url)
                writer.endObject()
            }
            writer.member("id", id)
            writer.member("sequence", Int64(clamping: sequence))
            writer.member("source", "notify")
            writer.member("title", orNull: custom.title)
            writer.member("type", custom.type)
            writer.member("user", user)
            writer.member("user_issuer", custom.issuer)
        case .graph(let graph):
            writer.member("appNotificationId", orNull: graph.appNotificationID)
            writer.member("createdDateTime", createdAt.rfc3339)
            writeEntityMembers(graph, to: &writer)
            writer.member("sequence", Int64(clamping: sequence))
            writer.member("source", "send")
            writer.member("targetHostName", orNull: graph.targetHostName)
            writer.key("targetPolicy")
            writer.beginObject()
            writer.member("platformTypes", strings: graph.platforms.lazy.map(\.rawValue))
            writer.endObject()
            writer.member("user", user)
        }
        writer.endObject()
    }

    /// ``writeFeedEntry(to:)`` as text.
    public var feedEntryText: String {
        var writer = JSONWriter()
        writeFeedEntry(to: &writer)
        return writer.text
    }

    private func writeEntityMembers(_ graph: GraphNotification, state: Bool = false, to writer: inout JSONWriter) {
        writer.member("displayTimeToLive", graph.displayTimeToLive)
        writer.member("expirationDateTime", graph.expiration.rfc3339)
        // Graph's entity carries the fallbackPolicy object it was sent; absent
        // when none was, so entries stored without one render as before.
        // Re-written rather than copied, as embed metadata is: sent over RPC
        // it is any object text, and the entity shows it compact, keys sorted.
        if let policy = graph.fallbackPolicyJSON.flatMap({ JSONValue.parse(text: $0, maximumDepth: JSONValue.maximumStoredDepth) }) {
            writer.key("fallbackPolicy")
            policy.write(to: &writer)
        }
        writer.member("groupName", orNull: graph.groupName)
        writer.member("id", id)
        if state { writer.member("isRead", read) }
        writer.key("payload")
        graph.payload.write(to: &writer)
        writer.member("priority", graph.priority.rawValue)
        if state { writer.member("userActionState", actionState.rawValue) }
    }
}

extension Payload {
    /// `{"rawContent"?, "visualContent"?: {"body"?, "title"}}`, absent members omitted.
    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.member("rawContent", omittingNil: rawContent)
        if let visualContent {
            writer.key("visualContent")
            writer.beginObject()
            writer.member("body", omittingNil: visualContent.body)
            writer.member("title", visualContent.title)
            writer.endObject()
        }
        writer.endObject()
    }
}
