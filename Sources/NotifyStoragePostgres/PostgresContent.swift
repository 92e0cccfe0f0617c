import NotifyDomain
import NotifyJSON
import NotifyStorage

/// The JSON form of ``NotificationContent`` in `notifications.content`: the
/// same canonical encoding as the SQLite store's (compact, keys sorted, nil
/// members omitted, times as integer microseconds), so a row moves between
/// the two stores as it is.
///
/// A copy rather than a shared type: the stored format is each store's
/// contract with the data it has written, and must not change when the other
/// store changes its own. Written member by member rather than derived from
/// the domain types, for the same reason.
enum PostgresContent {
    static let customKind = "custom"
    static let graphKind = "graph"

    /// The stored JSON, through NotifyJSON's writer, keys in sorted order:
    /// byte for byte what JSONEncoder with `.sortedKeys` and
    /// `.withoutEscapingSlashes` writes for the same members (the tests' oracle),
    /// at a fraction of its cost, since every append pays it.
    static func encode(_ content: NotificationContent) -> (kind: String, json: String) {
        var writer = JSONWriter(capacity: 512)
        writer.beginObject()
        switch content {
        case .custom(let custom):
            writer.member("description", omittingNil: custom.description)
            if let embed = custom.embed {
                writer.key("embed")
                writer.beginObject()
                writer.member("embedID", embed.embedID)
                writer.member("embedType", embed.embedType)
                writer.member("metadataJSON", omittingNil: embed.metadataJSON)
                writer.member("url", omittingNil: embed.url)
                writer.endObject()
            }
            writer.member("issuer", custom.issuer)
            writer.member("title", omittingNil: custom.title)
            writer.member("type", custom.type)
            writer.endObject()
            return (customKind, writer.text)
        case .graph(let graph):
            writer.member("appNotificationID", omittingNil: graph.appNotificationID)
            writer.member("displayTimeToLive", graph.displayTimeToLive)
            writer.member("expiration", graph.expiration.microsecondsSince1970)
            writer.member("fallbackPolicyJSON", omittingNil: graph.fallbackPolicyJSON)
            writer.member("groupName", omittingNil: graph.groupName)
            writer.member("hasVisualContent", graph.payload.visualContent != nil)
            writer.member("platforms", strings: graph.platforms.lazy.map(\.rawValue))
            writer.member("priority", graph.priority.rawValue)
            writer.member("rawContent", omittingNil: graph.payload.rawContent)
            writer.member("targetHostName", omittingNil: graph.targetHostName)
            writer.member("visualBody", omittingNil: graph.payload.visualContent?.body)
            writer.member("visualTitle", omittingNil: graph.payload.visualContent?.title)
            writer.endObject()
            return (graphKind, writer.text)
        }
    }

    /// Reads the stored JSON with NotifyJSON's reader (the gateway's).
    /// Every entry a feed returns pays it, every live reader once per entry:
    /// through JSONDecoder it was over half of a Watch's read of new entries.
    /// Tests hold it to a JSONDecoder oracle.
    static func decode(kind: String, json: String) throws(StorageError) -> NotificationContent {
        let parsed = JSONValue.parse(text: json)
        guard case .object(let object)? = parsed else { throw unreadable("not a JSON object") }
        let fields = Fields(object: object)
        switch kind {
        case customKind:
            var embed: NotifyDomain.Embed?
            if let value = object["embed"] {
                guard case .object(let nested) = value else { throw unreadable("embed is not an object") }
                let embedFields = Fields(object: nested)
                embed = NotifyDomain.Embed(
                    embedType: try embedFields.string("embedType"), embedID: try embedFields.string("embedID"),
                    url: try embedFields.optionalString("url"), metadataJSON: try embedFields.optionalString("metadataJSON"))
            }
            return .custom(
                CustomNotification(
                    type: try fields.string("type"), embed: embed, title: try fields.optionalString("title"),
                    description: try fields.optionalString("description"), issuer: try fields.integer("issuer")))
        case graphKind:
            var platforms: [Platform] = []
            for name in try fields.strings("platforms") {
                guard let platform = Platform(rawValue: name) else {
                    throw StorageError(code: .corrupt, message: "a stored notification has an unknown platform")
                }
                platforms.append(platform)
            }
            guard let priority = Priority(rawValue: try fields.string("priority")) else {
                throw StorageError(code: .corrupt, message: "a stored notification has an unknown priority")
            }
            let visual = try fields.boolean("hasVisualContent")
                ? VisualContent(title: try fields.optionalString("visualTitle") ?? "", body: try fields.optionalString("visualBody"))
                : nil
            return .graph(
                GraphNotification(
                    targetHostName: try fields.optionalString("targetHostName"),
                    appNotificationID: try fields.optionalString("appNotificationID"),
                    groupName: try fields.optionalString("groupName"),
                    expiration: Timestamp(microsecondsSince1970: try fields.integer("expiration")),
                    payload: Payload(rawContent: try fields.optionalString("rawContent"), visualContent: visual),
                    platforms: platforms, priority: priority, displayTimeToLive: try fields.integer("displayTimeToLive"),
                    fallbackPolicyJSON: try fields.optionalString("fallbackPolicyJSON")))
        default:
            throw StorageError(code: .corrupt, message: "a stored notification has an unknown kind")
        }
    }

    private static func unreadable(_ cause: String) -> StorageError {
        StorageError(code: .corrupt, message: "a stored notification is unreadable", cause: cause)
    }

    /// The members of one stored object, typed as the mirror structs declare them.
    private struct Fields {
        let object: [String: JSONValue]

        func optionalString(_ key: String) throws(StorageError) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let value)?: return value
            default: throw unreadable("\(key) is not a string")
            }
        }

        func string(_ key: String) throws(StorageError) -> String {
            guard let value = try optionalString(key) else { throw unreadable("\(key) is missing") }
            return value
        }

        func integer(_ key: String) throws(StorageError) -> Int64 {
            guard case .integer(let value)? = object[key] else { throw unreadable("\(key) is not an integer") }
            return value
        }

        func boolean(_ key: String) throws(StorageError) -> Bool {
            guard case .bool(let value)? = object[key] else { throw unreadable("\(key) is not a boolean") }
            return value
        }

        func strings(_ key: String) throws(StorageError) -> [String] {
            guard case .array(let values)? = object[key] else { throw unreadable("\(key) is not an array") }
            var strings: [String] = []
            strings.reserveCapacity(values.count)
            for value in values {
                guard case .string(let string) = value else { throw unreadable("\(key) holds a non-string") }
                strings.append(string)
            }
            return strings
        }
    }
}
