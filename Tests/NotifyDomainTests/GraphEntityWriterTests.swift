import NotifyDomain
import NotifyJSON
import Testing

/// The answers' members built a second way, as ``JSONValue`` dictionaries
/// (written with sorted keys): the oracle the direct writers are held to.
enum EntityOracle {
    static func graphEntity(_ notification: NotifyDomain.Notification, context: String?) -> JSONValue? {
        guard case .graph(let graph) = notification.content else { return nil }
        var members: [String: JSONValue] = [
            "id": .string(notification.id),
            "priority": .string(graph.priority.rawValue),
            "expirationDateTime": .string(graph.expiration.rfc3339),
            "displayTimeToLive": .integer(graph.displayTimeToLive),
            "payload": payload(graph.payload),
            "groupName": graph.groupName.map(JSONValue.string) ?? .null,
        ]
        if let context { members["@odata.context"] = .string(context) }
        return .object(members)
    }

    static func feedEntry(_ notification: NotifyDomain.Notification) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .string(notification.id),
            "sequence": .integer(Int64(clamping: notification.sequence)),
            "user": .integer(notification.user),
            "createdDateTime": .string(notification.createdAt.rfc3339),
        ]
        switch notification.content {
        case .custom(let custom):
            members["source"] = .string("notify")
            members["type"] = .string(custom.type)
            members["title"] = custom.title.map(JSONValue.string) ?? .null
            members["description"] = custom.description.map(JSONValue.string) ?? .null
            members["user_issuer"] = .integer(custom.issuer)
            if let embed = custom.embed {
                members["embed"] = .object([
                    "embed_type": .string(embed.embedType), "embed_id": .string(embed.embedID),
                    "url": embed.url.map(JSONValue.string) ?? .null,
                    "metadata": embed.metadataJSON.flatMap { JSONValue.parse(text: $0, maximumDepth: 512) } ?? .null,
                ])
            }
        case .graph(let graph):
            members["source"] = .string("send")
            if case .object(let entity)? = graphEntity(notification, context: nil) {
                members.merge(entity) { current, _ in current }
            }
            members["targetHostName"] = graph.targetHostName.map(JSONValue.string) ?? .null
            members["appNotificationId"] = graph.appNotificationID.map(JSONValue.string) ?? .null
            members["targetPolicy"] = .object(["platformTypes": .array(graph.platforms.map { .string($0.rawValue) })])
        }
        return .object(members)
    }

    static func payload(_ payload: Payload) -> JSONValue {
        var members: [String: JSONValue] = [:]
        if let rawContent = payload.rawContent { members["rawContent"] = .string(rawContent) }
        if let visual = payload.visualContent {
            var object: [String: JSONValue] = ["title": .string(visual.title)]
            if let body = visual.body { object["body"] = .string(body) }
            members["visualContent"] = .object(object)
        }
        return .object(members)
    }
}

@Suite("The entity and feed entry written by JSONWriter")
struct GraphEntityWriterTests {
    private static func notification(
        groupName: String?, rawContent: String?, visual: VisualContent?, id: String = "0e7a9c4d-2b8f-4d1a-8c3e-5f6a7b8c9d0e"
    ) -> NotifyDomain.Notification {
        NotifyDomain.Notification(
            id: id, sequence: 9, user: 4, createdAt: Timestamp(secondsSince1970: 1_700_000_000),
            content: .graph(GraphNotification(
                targetHostName: "app.example", appNotificationID: "n-1", groupName: groupName,
                expiration: Timestamp(microsecondsSince1970: 1_900_000_000_250_000),
                payload: Payload(rawContent: rawContent, visualContent: visual),
                platforms: [.windows], priority: .low, displayTimeToLive: 3600, fallbackPolicyJSON: nil
            ))
        )
    }

    static let graphs = [
        notification(groupName: "g", rawContent: "raw", visual: VisualContent(title: "T", body: "B")),
        notification(groupName: nil, rawContent: nil, visual: VisualContent(title: "T", body: nil)),
        notification(groupName: nil, rawContent: "r", visual: nil),
        notification(groupName: nil, rawContent: nil, visual: nil),
        notification(
            groupName: "quote \" back\\slash", rawContent: "line\nbreak\u{1}", visual: VisualContent(title: "Tïtle ✓", body: "\t"),
            id: "x/y"),
    ]

    static let customs = [
        NotifyDomain.Notification(
            id: "a", sequence: 1, user: 1, createdAt: Timestamp(microsecondsSince1970: 1_765_035_280_123_456),
            content: .custom(CustomNotification(type: "t", embed: nil, title: nil, description: "d", issuer: 1))),
        NotifyDomain.Notification(
            id: "b", sequence: UInt64.max, user: -3, createdAt: Timestamp(microsecondsSince1970: -1),
            content: .custom(CustomNotification(
                type: "ü\u{0}", embed: Embed(embedType: "post", embedID: "7", url: nil, metadataJSON: #"{"z":[1,{"b":2,"a":1}],"a":null}"#),
                title: "🎉", description: nil, issuer: Int64.min))),
        NotifyDomain.Notification(
            id: "c", sequence: 2, user: 2, createdAt: Timestamp(secondsSince1970: 0),
            content: .custom(CustomNotification(
                type: "t", embed: Embed(embedType: "e", embedID: "", url: "https://x/y", metadataJSON: "not json"),
                title: "", description: "", issuer: 0))),
    ]

    @Test("writes Graph's entity as the oracle does, with and without a context", arguments: graphs)
    func sameAsTheValue(_ notification: NotifyDomain.Notification) throws {
        for context in [nil, "http://localhost:8080/v1.0/$metadata#users('4')/notifications/$entity"] {
            var writer = JSONWriter()
            #expect(notification.writeGraphEntity(context: context, to: &writer))
            let expected = try #require(EntityOracle.graphEntity(notification, context: context))
            #expect(writer.text == expected.text)
            #expect(notification.graphEntityText(context: context) == expected.text)
        }
    }

    @Test("writes the feed entry of either kind as the oracle does", arguments: graphs + customs)
    func feedEntry(_ notification: NotifyDomain.Notification) {
        #expect(notification.feedEntryText == EntityOracle.feedEntry(notification).text)
    }

    @Test("writes nothing for a custom notification")
    func customIsNotGraph() {
        var writer = JSONWriter()
        #expect(!Self.customs[0].writeGraphEntity(context: nil, to: &writer))
        #expect(writer.bytes.isEmpty)
    }

    @Test("prints an instant with three digits in the entity and the feed entry alike")
    func sameInstantSameString() throws {
        let notification = Self.graphs[0]
        let entityText = try #require(notification.graphEntityText())
        let entity = try #require(JSONValue.parse(text: entityText))
        let entry = try #require(JSONValue.parse(text: notification.feedEntryText))
        guard case .object(let a) = entity, case .object(let b) = entry else {
            Issue.record("not objects")
            return
        }
        #expect(a["expirationDateTime"] == .string("2030-03-17T17:46:40.250Z"))
        #expect(a["expirationDateTime"] == b["expirationDateTime"])
        #expect(b["createdDateTime"] == .string("2023-11-14T22:13:20.000Z"))
    }
}

@Suite("Field paths: the proto's over RPC, the contract's through the gateway")
struct FieldPathTests {
    @Test(
        "each contract path maps to its proto path and back",
        arguments: [
            ("payload.visualContent.title", "payload.visual_content.title", true),
            ("payload.rawContent", "payload.raw_content", true),
            ("targetPolicy.platformTypes[1]", "target_policy.platform_types[1]", true),
            ("expirationDateTime", "expiration_date_time", true),
            ("fallbackPolicy", "fallback_policy_json", true),
            ("appNotificationId", "app_notification_id", true),
            ("targetHostName", "target_host_name", true),
            ("displayTimeToLive", "display_time_to_live", true),
            ("X-UNS-ID", "metadata[x-uns-id]", true),
            ("embed.metadata", "embed.metadata_json", false),
            ("embed.embed_id", "embed.embed_id", false),
            ("recipients_type", "recipients_type", false),
            ("user", "user", false),
        ] as [(String, String, Bool)])
    func maps(contract: String, rpc: String, graph: Bool) {
        #expect(FieldPath.rpc(contract) == rpc)
        #expect(FieldPath.contract(rpc, graph: graph) == contract)
    }
}
