import Foundation
import NotifyDomain
import NotifyStorage

@testable import NotifyStorageSQLite

/// The JSON text `notifications.content` held before `v7-typed-content`
/// (compact, keys sorted, nil members omitted, times as integer
/// microseconds), defined through Codable mirror structs and JSONEncoder:
/// what the previous releases wrote, so that the tests can write files as
/// they did and check that the migration moves every member.
enum StoredContentOracle {
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


    /// The format's definition through the mirror structs and JSONEncoder.
    static func encode(_ content: NotificationContent) throws(StorageError) -> (kind: String, json: String) {
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
                return ("custom", String(decoding: try encoder.encode(stored), as: UTF8.self))
            case .graph(let graph):
                let stored = Graph(
                    targetHostName: graph.targetHostName, appNotificationID: graph.appNotificationID,
                    groupName: graph.groupName, expiration: graph.expiration.microsecondsSince1970,
                    rawContent: graph.payload.rawContent, visualTitle: graph.payload.visualContent?.title,
                    visualBody: graph.payload.visualContent?.body,
                    hasVisualContent: graph.payload.visualContent != nil,
                    platforms: graph.platforms.map(\.rawValue), priority: graph.priority.rawValue,
                    displayTimeToLive: graph.displayTimeToLive, fallbackPolicyJSON: graph.fallbackPolicyJSON)
                return ("graph", String(decoding: try encoder.encode(stored), as: UTF8.self))
            }
        } catch {
            throw StorageError(code: .internalError, message: "could not encode a notification", cause: "\(error)")
        }
    }


    /// The format's reading through the mirror structs and JSONDecoder.
    static func decode(kind: String, json: String) throws(StorageError) -> NotificationContent {
        let decoder = JSONDecoder()
        let data = Data(json.utf8)
        do {
            switch kind {
            case "custom":
                let stored = try decoder.decode(Custom.self, from: data)
                return .custom(
                    CustomNotification(
                        type: stored.type,
                        embed: stored.embed.map {
                            NotifyDomain.Embed(
                                embedType: $0.embedType, embedID: $0.embedID, url: $0.url, metadataJSON: $0.metadataJSON)
                        },
                        title: stored.title, description: stored.description, issuer: stored.issuer))
            case "graph":
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
                        groupName: stored.groupName, expiration: Timestamp(microsecondsSince1970: stored.expiration),
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
