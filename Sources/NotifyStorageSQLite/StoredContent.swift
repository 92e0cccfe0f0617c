import Foundation
import NotifyDomain
import NotifyStorage

/// The JSON form of ``NotificationContent`` in `notifications.content`.
///
/// Mirror structs rather than Codable domain types: the stored format is
/// this module's contract with files already on disk, and must not change
/// when the domain types gain a field. Optional fields are omitted when nil,
/// so a nil and an empty string stay distinct.
enum StoredContent {
    static let customKind = "custom"
    static let graphKind = "graph"

    struct Embed: Codable {
        var embedType: String
        var embedID: String
        var url: String?
        var metadataJSON: String?
    }

    struct Custom: Codable {
        var type: String
        var embed: Embed?
        var title: String?
        var description: String?
        var issuer: Int64
    }

    struct Graph: Codable {
        var targetHostName: String?
        var appNotificationID: String?
        var groupName: String?
        /// Microseconds since 1970.
        var expiration: Int64
        var rawContent: String?
        var visualTitle: String?
        var visualBody: String?
        var hasVisualContent: Bool
        var platforms: [String]
        var priority: String
        var displayTimeToLive: Int64
        var fallbackPolicyJSON: String?
    }

    /// The stored JSON, written by hand: byte for byte what ``referenceEncode(_:)``
    /// (JSONEncoder with sorted keys) gives, at a fraction of its cost, since
    /// every append pays it.
    static func encode(_ content: NotificationContent) -> (kind: String, json: String) {
        var writer = JSONObjectWriter()
        switch content {
        case .custom(let custom):
            // Keys in sorted order.
            writer.string("description", custom.description)
            if let embed = custom.embed {
                writer.key("embed")
                var nested = JSONObjectWriter()
                nested.string("embedID", embed.embedID)
                nested.string("embedType", embed.embedType)
                nested.string("metadataJSON", embed.metadataJSON)
                nested.string("url", embed.url)
                writer.raw(nested.finish())
            }
            writer.integer("issuer", custom.issuer)
            writer.string("title", custom.title)
            writer.string("type", custom.type)
            return (customKind, writer.finish())
        case .graph(let graph):
            writer.string("appNotificationID", graph.appNotificationID)
            writer.integer("displayTimeToLive", graph.displayTimeToLive)
            writer.integer("expiration", graph.expiration.storedMicroseconds)
            writer.string("fallbackPolicyJSON", graph.fallbackPolicyJSON)
            writer.string("groupName", graph.groupName)
            writer.boolean("hasVisualContent", graph.payload.visualContent != nil)
            writer.strings("platforms", graph.platforms.map(\.rawValue))
            writer.string("priority", graph.priority.rawValue)
            writer.string("rawContent", graph.payload.rawContent)
            writer.string("targetHostName", graph.targetHostName)
            writer.string("visualBody", graph.payload.visualContent?.body)
            writer.string("visualTitle", graph.payload.visualContent?.title)
            return (graphKind, writer.finish())
        }
    }

    /// The format's definition through the mirror structs; tests hold
    /// ``encode(_:)`` to it.
    static func referenceEncode(_ content: NotificationContent) throws(StorageError) -> (kind: String, json: String) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            switch content {
            case .custom(let custom):
                let stored = Custom(
                    type: custom.type,
                    embed: custom.embed.map {
                        Embed(embedType: $0.embedType, embedID: $0.embedID, url: $0.url, metadataJSON: $0.metadataJSON)
                    },
                    title: custom.title, description: custom.description, issuer: custom.issuer)
                return (customKind, String(decoding: try encoder.encode(stored), as: UTF8.self))
            case .graph(let graph):
                let stored = Graph(
                    targetHostName: graph.targetHostName, appNotificationID: graph.appNotificationID,
                    groupName: graph.groupName, expiration: graph.expiration.storedMicroseconds,
                    rawContent: graph.payload.rawContent, visualTitle: graph.payload.visualContent?.title,
                    visualBody: graph.payload.visualContent?.body,
                    hasVisualContent: graph.payload.visualContent != nil,
                    platforms: graph.platforms.map(\.rawValue), priority: graph.priority.rawValue,
                    displayTimeToLive: graph.displayTimeToLive, fallbackPolicyJSON: graph.fallbackPolicyJSON)
                return (graphKind, String(decoding: try encoder.encode(stored), as: UTF8.self))
            }
        } catch {
            throw StorageError(code: .internalError, message: "could not encode a notification", cause: "\(error)")
        }
    }

    /// Reads the stored JSON with NotifyDomain's own parser (the gateway's).
    /// Every entry a feed returns pays it, every live reader once per entry:
    /// through JSONDecoder it was over half of a Watch's read of new entries.
    /// Tests hold it to ``referenceDecode(kind:json:)``.
    static func decode(kind: String, json: String) throws(StorageError) -> NotificationContent {
        var text = json
        let parsed = text.withUTF8 { JSONValue.parse(bytes: UnsafeRawBufferPointer($0)) }
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
                    expiration: Date(storedMicroseconds: try fields.integer("expiration")),
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

    /// The format's reading through the mirror structs and JSONDecoder.
    static func referenceDecode(kind: String, json: String) throws(StorageError) -> NotificationContent {
        let decoder = JSONDecoder()
        let data = Data(json.utf8)
        do {
            switch kind {
            case customKind:
                let stored = try decoder.decode(Custom.self, from: data)
                return .custom(
                    CustomNotification(
                        type: stored.type,
                        embed: stored.embed.map {
                            NotifyDomain.Embed(
                                embedType: $0.embedType, embedID: $0.embedID, url: $0.url, metadataJSON: $0.metadataJSON)
                        },
                        title: stored.title, description: stored.description, issuer: stored.issuer))
            case graphKind:
                let stored = try decoder.decode(Graph.self, from: data)
                var platforms: [Platform] = []
                for name in stored.platforms {
                    guard let platform = Platform(rawValue: name) else {
                        throw StorageError(code: .corrupt, message: "a stored notification has an unknown platform")
                    }
                    platforms.append(platform)
                }
                guard let priority = Priority(rawValue: stored.priority) else {
                    throw StorageError(code: .corrupt, message: "a stored notification has an unknown priority")
                }
                let visual = stored.hasVisualContent
                    ? VisualContent(title: stored.visualTitle ?? "", body: stored.visualBody) : nil
                return .graph(
                    GraphNotification(
                        targetHostName: stored.targetHostName, appNotificationID: stored.appNotificationID,
                        groupName: stored.groupName, expiration: Date(storedMicroseconds: stored.expiration),
                        payload: Payload(rawContent: stored.rawContent, visualContent: visual),
                        platforms: platforms, priority: priority, displayTimeToLive: stored.displayTimeToLive,
                        fallbackPolicyJSON: stored.fallbackPolicyJSON))
            default:
                throw StorageError(code: .corrupt, message: "a stored notification has an unknown kind")
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(code: .corrupt, message: "a stored notification is unreadable", cause: "\(error)")
        }
    }
}

extension NotificationContent {
    /// The content as the feed will return it: dates at the stored precision.
    var stored: NotificationContent {
        switch self {
        case .custom:
            return self
        case .graph(var graph):
            graph.expiration = graph.expiration.stored
            return .graph(graph)
        }
    }
}

/// Writes one JSON object the way JSONEncoder does with `.sortedKeys` and
/// `.withoutEscapingSlashes`: keys in the order given (the caller sorts them),
/// nil values omitted, no whitespace.
struct JSONObjectWriter {
    /// UTF-8 bytes, made into one `String` at the end: appending small
    /// strings to a `String` one by one was 3 % of a SendNotification call.
    private var output: [UInt8] = {
        var output: [UInt8] = [UInt8(ascii: "{")]
        output.reserveCapacity(512)
        return output
    }()
    private var empty = true

    mutating func key(_ name: String) {
        if !empty { output.append(UInt8(ascii: ",")) }
        empty = false
        output.append(UInt8(ascii: "\""))
        output.append(contentsOf: name.utf8)
        output.append(contentsOf: "\":".utf8)
    }

    mutating func raw(_ json: String) { output.append(contentsOf: json.utf8) }

    mutating func string(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        JSONValue.appendQuoted(value, to: &output)
    }

    mutating func integer(_ name: String, _ value: Int64) {
        key(name)
        output.append(contentsOf: String(value).utf8)
    }

    mutating func boolean(_ name: String, _ value: Bool) {
        key(name)
        output.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func strings(_ name: String, _ values: [String]) {
        key(name)
        output.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONValue.appendQuoted(value, to: &output)
        }
        output.append(UInt8(ascii: "]"))
    }

    mutating func finish() -> String {
        output.append(UInt8(ascii: "}"))
        return String(decoding: output, as: UTF8.self)
    }
}
