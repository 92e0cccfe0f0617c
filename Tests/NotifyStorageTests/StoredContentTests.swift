import Foundation
import NotifyDomain
import NotifyStorage
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
                expiration: Timestamp(microsecondsSince1970: -12_000_001),
                payload: Payload(rawContent: nil, visualContent: nil), platforms: [], priority: .none,
                displayTimeToLive: Int64.min, fallbackPolicyJSON: nil)),
        .graph(
            GraphNotification(
                targetHostName: awkward, appNotificationID: awkward, groupName: awkward, expiration: Timestamp.now(),
                payload: Payload(rawContent: awkward, visualContent: VisualContent(title: awkward, body: awkward)),
                platforms: [.windows, .webPush, .windows], priority: .low, displayTimeToLive: 0,
                fallbackPolicyJSON: awkward)),
    ]

    @Test("NotifyJSON writes byte for byte what JSONEncoder writes, and both read it back", arguments: contents)
    func matchesJSONEncoder(content: NotificationContent) throws {
        let fast = StoredContent.encode(content)
        let reference = try StoredContentOracle.encode(content)
        #expect(fast.kind == reference.kind)
        #expect(fast.json == reference.json)
        #expect(try StoredContent.decode(kind: fast.kind, json: fast.json) == content)
        #expect(try StoredContentOracle.decode(kind: fast.kind, json: fast.json) == content)
    }

    @Test("what is not the stored format is refused as corrupt, as JSONDecoder refuses it", arguments: [
        (StoredContent.customKind, "not json"),
        (StoredContent.customKind, "[1]"),
        (StoredContent.customKind, #"{"issuer":1}"#),
        (StoredContent.customKind, #"{"type":"t","issuer":"1"}"#),
        (StoredContent.customKind, #"{"type":"t","issuer":1,"embed":"x"}"#),
        (StoredContent.customKind, #"{"type":"t","issuer":1,"embed":{"embedID":"e"}}"#),
        (StoredContent.graphKind, #"{"expiration":0,"hasVisualContent":false,"platforms":["windows"],"priority":"None"}"#),
        (StoredContent.graphKind, #"{"displayTimeToLive":1,"expiration":0,"hasVisualContent":false,"platforms":["mars"],"priority":"None"}"#),
        (StoredContent.graphKind, #"{"displayTimeToLive":1,"expiration":0,"hasVisualContent":false,"platforms":[1],"priority":"None"}"#),
        (StoredContent.graphKind, #"{"displayTimeToLive":1,"expiration":0,"hasVisualContent":"no","platforms":[],"priority":"None"}"#),
        ("other", #"{"type":"t","issuer":1}"#),
    ])
    func refusesCorrupt(kind: String, json: String) {
        let fast = #expect(throws: StorageError.self) { try StoredContent.decode(kind: kind, json: json) }
        #expect(fast?.code == .corrupt)
        let reference = #expect(throws: StorageError.self) { try StoredContentOracle.decode(kind: kind, json: json) }
        #expect(reference?.code == .corrupt)
    }
}
