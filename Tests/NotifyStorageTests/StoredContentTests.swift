import Foundation
import NotifyDomain
import Testing

@testable import NotifyStorageSQLite

@Suite("Stored notification content")
struct StoredContentTests {
    /// Every ASCII control character, quotes, backslashes, slashes and non-ASCII text.
    static let awkward = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
        + #" "quoted" back\slash /slash/ ünïcode 日本 🎉"# + "\u{7F} \u{2028} \u{FEFF}"

    static let contents: [NotificationContent] = [
        Sample.custom(),
        Sample.custom(title: nil),
        Sample.graph,
        .custom(CustomNotification(type: awkward, embed: nil, title: "", description: nil, issuer: -1)),
        .custom(
            CustomNotification(
                type: "t", embed: Embed(embedType: awkward, embedID: "", url: nil, metadataJSON: nil), title: awkward,
                description: awkward, issuer: Int64.max)),
        .graph(
            GraphNotification(
                targetHostName: nil, appNotificationID: nil, groupName: nil,
                expiration: Date(timeIntervalSince1970: -12.000001),
                payload: Payload(rawContent: nil, visualContent: nil), platforms: [], priority: .none,
                displayTimeToLive: Int64.min, fallbackPolicyJSON: nil)),
        .graph(
            GraphNotification(
                targetHostName: awkward, appNotificationID: awkward, groupName: awkward, expiration: Date(),
                payload: Payload(rawContent: awkward, visualContent: VisualContent(title: awkward, body: awkward)),
                platforms: [.windows, .webPush, .windows], priority: .low, displayTimeToLive: 0,
                fallbackPolicyJSON: awkward)),
    ]

    @Test("the hand-written JSON is byte for byte what JSONEncoder writes, and decodes back", arguments: contents)
    func matchesJSONEncoder(content: NotificationContent) throws {
        let fast = StoredContent.encode(content)
        let reference = try StoredContent.referenceEncode(content)
        #expect(fast.kind == reference.kind)
        #expect(fast.json == reference.json)
        #expect(try StoredContent.decode(kind: fast.kind, json: fast.json) == content.stored)
    }
}
