import Foundation
import NotifyDomain
import Testing

/// 2019-10-20T00:00:00Z: ten days before the expiration in Graph's example.
private let now = Timestamp(secondsSince1970: 1_571_529_600)
private let day: Int64 = 86_400

/// Graph's example request body, as the gateway hands it over.
private func graphExample() -> SendNotificationRequest {
    SendNotificationRequest(
        targetHostName: "graphnotifications.sample.windows.com", appNotificationID: "testDirectToastNotification",
        groupName: "TestGroup", expirationDateTime: "2019-10-30T23:59:00.000Z",
        payload: PayloadInput(visualContent: VisualContentInput(title: "Hello World!", body: "Notifications are Great!")),
        platformTypes: ["windows", "ios", "android"], priority: "High", displayTimeToLive: 60)
}

/// The smallest request that passes.
private func minimal() -> SendNotificationRequest {
    SendNotificationRequest(payload: PayloadInput(rawContent: "hello"))
}

private func violations(_ request: SendNotificationRequest, at instant: Timestamp = now) -> [Violation] {
    do {
        _ = try SendNotificationValidation.validate(request, now: instant)
        return []
    } catch {
        return error.violations
    }
}

private func fields(_ request: SendNotificationRequest, at instant: Timestamp = now) -> [String] {
    violations(request, at: instant).map(\.field)
}

private func validate(_ request: SendNotificationRequest) throws -> GraphNotification {
    try SendNotificationValidation.validate(request, now: now)
}

@Suite("SendNotification validation")
struct SendNotificationValidationTests {
    // MARK: The seed's own example

    @Test("Graph's example body passes and keeps every field")
    func seedExample() throws {
        let notification = try validate(graphExample())
        #expect(
            notification
                == GraphNotification(
                    targetHostName: "graphnotifications.sample.windows.com",
                    appNotificationID: "testDirectToastNotification", groupName: "TestGroup",
                    expiration: Timestamp(secondsSince1970: 1_572_479_940),
                    payload: Payload(
                        rawContent: nil,
                        visualContent: VisualContent(title: "Hello World!", body: "Notifications are Great!")),
                    platforms: [.windows, .ios, .android], priority: .high, displayTimeToLive: 60,
                    fallbackPolicyJSON: nil))
    }

    @Test("Graph's example body, sent after its expiration, is refused on expirationDateTime only")
    func seedExampleExpired() {
        let later = Timestamp(secondsSince1970: 1_572_566_400)  // 2019-11-01
        #expect(violations(graphExample(), at: later) == [
            Violation(field: "expirationDateTime", message: "Must be in the future.")
        ])
    }

    @Test("Defaults: 7 days, all platforms, priority None, displayTimeToLive 0")
    func defaults() throws {
        let notification = try validate(minimal())
        #expect(notification.expiration == now.adding(seconds: 7 * day))
        #expect(notification.platforms == [.windows, .ios, .android, .webPush])
        #expect(notification.priority == Priority.none)
        #expect(notification.displayTimeToLive == 0)
        #expect(notification.targetHostName == nil)
        #expect(notification.appNotificationID == nil)
        #expect(notification.groupName == nil)
        #expect(notification.fallbackPolicyJSON == nil)
        #expect(notification.payload == Payload(rawContent: "hello", visualContent: nil))
    }

    @Test("Every broken field is reported, once each, in document order")
    func allAtOnce() {
        let request = SendNotificationRequest(
            targetHostName: "", appNotificationID: String(repeating: "a", count: 256), groupName: " ",
            expirationDateTime: "tomorrow", payload: PayloadInput(rawContent: "", visualContent: VisualContentInput()),
            platformTypes: ["windows", "mac"], fallbackPolicyJSON: "{}", priority: "Urgent", displayTimeToLive: -1)
        let found = fields(request)
        #expect(found == [
            "targetHostName", "appNotificationId", "groupName", "expirationDateTime", "payload.rawContent",
            "payload.visualContent.title", "targetPolicy.platformTypes[1]", "fallbackPolicy", "priority",
            "displayTimeToLive",
        ])
        #expect(Set(found).count == found.count)
    }

    // MARK: expirationDateTime

    @Test(
        "expirationDateTime: 7-digit fractions and offsets are read as UTC",
        arguments: [
            "2019-10-30T23:59:00.0000000Z", "2019-10-30T23:59:00Z", "2019-10-31T01:59:00.0000000+02:00",
            "2019-10-30T20:59:00-03:00",
        ])
    func expirationForms(text: String) throws {
        var request = minimal()
        request.expirationDateTime = text
        #expect(try validate(request).expiration == Timestamp(secondsSince1970: 1_572_479_940))
    }

    @Test(
        "expirationDateTime: after now and at most 30 days ahead",
        arguments: [
            (1, true), (day, true), (30 * day, true),
            (0, false), (-1, false), (-day, false), (30 * day + 1, false), (31 * day, false), (365 * day, false),
        ] as [(Int64, Bool)])
    func expirationWindow(offset: Int64, accepted: Bool) throws {
        var request = minimal()
        request.expirationDateTime = now.adding(seconds: offset).rfc3339
        if accepted {
            #expect(try validate(request).expiration == now.adding(seconds: offset))
        } else {
            let found = violations(request)
            #expect(found.map(\.field) == ["expirationDateTime"])
            #expect(found.first?.message == (offset > 0 ? "Must be at most 30 days from now." : "Must be in the future."))
        }
    }

    @Test("expirationDateTime: 31 days ahead written with an offset is refused")
    func expirationOffsetBeyondLimit() {
        var request = minimal()
        request.expirationDateTime = "2019-11-20T02:00:00+02:00"  // 2019-11-20T00:00Z, 31 days after now
        #expect(fields(request) == ["expirationDateTime"])
        request.expirationDateTime = "2019-11-19T02:00:00+02:00"  // exactly 30 days
        #expect(fields(request).isEmpty)
    }

    @Test(
        "expirationDateTime: text that is not RFC 3339 is refused",
        arguments: ["", "tomorrow", "2019-10-30", "2019-10-30T23:59:00", "2019-10-30T23:59:00.12345678Z", "1572479940"])
    func expirationMalformed(text: String) {
        var request = minimal()
        request.expirationDateTime = text
        #expect(fields(request) == ["expirationDateTime"])
    }

    // MARK: payload

    @Test("payload: required, with rawContent, visualContent or both")
    func payloadPresence() {
        var request = minimal()
        request.payload = nil
        #expect(violations(request) == [Violation(field: "payload", message: "This field is required.")])
        request.payload = PayloadInput()
        #expect(fields(request) == ["payload"])
    }

    @Test("payload: raw content alone, visual content alone, or both")
    func payloadKinds() throws {
        var request = minimal()
        request.payload = PayloadInput(visualContent: VisualContentInput(title: "Hi"))
        #expect(try validate(request).payload == Payload(rawContent: nil, visualContent: VisualContent(title: "Hi", body: nil)))
        request.payload = PayloadInput(rawContent: "{\"k\":1}", visualContent: VisualContentInput(title: "Hi", body: "there"))
        #expect(
            try validate(request).payload
                == Payload(rawContent: "{\"k\":1}", visualContent: VisualContent(title: "Hi", body: "there")))
    }

    @Test("payload.rawContent: not empty, at most 64 KiB")
    func rawContentBounds() {
        var request = minimal()
        request.payload?.rawContent = ""
        #expect(fields(request) == ["payload.rawContent"])
        request.payload?.rawContent = String(repeating: "x", count: Limits.rawContentMaxBytes)
        #expect(fields(request).isEmpty)
        request.payload?.rawContent = String(repeating: "é", count: Limits.rawContentMaxBytes / 2 + 1)  // 2 bytes each
        #expect(fields(request) == ["payload.rawContent"])
    }

    @Test("payload.visualContent.title: required, not blank", arguments: [nil, "", "  "] as [String?])
    func visualTitleRequired(title: String?) {
        var request = minimal()
        request.payload?.visualContent = VisualContentInput(title: title, body: "body")
        #expect(fields(request) == ["payload.visualContent.title"])
    }

    @Test("payload.visualContent: title at most 255, body at most 4,096 characters")
    func visualBounds() {
        var request = minimal()
        request.payload?.visualContent = VisualContentInput(
            title: String(repeating: "t", count: Limits.visualTitleMaxLength),
            body: String(repeating: "b", count: Limits.visualBodyMaxLength))
        #expect(fields(request).isEmpty)
        request.payload?.visualContent = VisualContentInput(
            title: String(repeating: "t", count: Limits.visualTitleMaxLength + 1),
            body: String(repeating: "b", count: Limits.visualBodyMaxLength + 1))
        #expect(fields(request) == ["payload.visualContent.title", "payload.visualContent.body"])
    }

    // MARK: targetPolicy.platformTypes

    @Test(
        "platformTypes: case-insensitive, duplicates collapsed in first-mention order, empty means all",
        arguments: [
            (nil, [.windows, .ios, .android, .webPush]),
            ([], [.windows, .ios, .android, .webPush]),
            (["windows", "ios", "android"], [.windows, .ios, .android]),
            (["WebPush"], [.webPush]),
            (["IOS", "ios", "iOS", "Windows", "webpush", "WEBPUSH"], [.ios, .windows, .webPush]),
        ] as [([String]?, [Platform])])
    func platformsAccepted(names: [String]?, expected: [Platform]) throws {
        var request = minimal()
        request.platformTypes = names
        #expect(try validate(request).platforms == expected)
    }

    @Test("platformTypes: each unknown entry is named by its index")
    func platformsRefused() {
        var request = minimal()
        request.platformTypes = ["ios", "mac", "android", "", "web push"]
        #expect(violations(request) == [
            Violation(field: "targetPolicy.platformTypes[1]", message: "Must be windows, ios, android or webPush."),
            Violation(field: "targetPolicy.platformTypes[3]", message: "Must be windows, ios, android or webPush."),
            Violation(field: "targetPolicy.platformTypes[4]", message: "Must be windows, ios, android or webPush."),
        ])
    }

    @Test("platformTypes: at most 16 entries, even valid ones")
    func platformsCount() {
        var request = minimal()
        request.platformTypes = Array(repeating: "ios", count: Limits.platformTypesMaxCount)
        #expect(fields(request).isEmpty)
        request.platformTypes = Array(repeating: "ios", count: Limits.platformTypesMaxCount + 1)
        #expect(fields(request).first == "targetPolicy.platformTypes")
    }

    // MARK: fallbackPolicy

    @Test(
        "fallbackPolicy: allowed only when the platforms include ios",
        arguments: [
            (nil, true), (["ios"], true), (["windows", "IOS"], true), ([], true),
            (["windows"], false), (["android", "webPush"], false),
        ] as [([String]?, Bool)])
    func fallbackNeedsIOS(names: [String]?, accepted: Bool) throws {
        var request = minimal()
        request.platformTypes = names
        request.fallbackPolicyJSON = #"{"platformType":"windows"}"#
        if accepted {
            #expect(try validate(request).fallbackPolicyJSON == #"{"platformType":"windows"}"#)
        } else {
            #expect(fields(request) == ["fallbackPolicy"])
        }
    }

    @Test("fallbackPolicy: must be a JSON object", arguments: ["", "[]", "1", "null", #""{}""#, "{"])
    func fallbackNotObject(text: String) {
        var request = minimal()
        request.fallbackPolicyJSON = text
        #expect(violations(request) == [Violation(field: "fallbackPolicy", message: "Must be a JSON object.")])
    }

    @Test("fallbackPolicy: at most 16 KiB")
    func fallbackSize() {
        var request = minimal()
        let overhead = #"{"k":""}"#.utf8.count
        request.fallbackPolicyJSON = #"{"k":""# + String(repeating: "x", count: Limits.fallbackPolicyMaxBytes - overhead) + #""}"#
        #expect(fields(request).isEmpty)
        request.fallbackPolicyJSON = #"{"k":""# + String(repeating: "x", count: Limits.fallbackPolicyMaxBytes - overhead + 1) + #""}"#
        #expect(fields(request) == ["fallbackPolicy"])
    }

    // MARK: priority

    @Test(
        "priority: None, High or Low in any case; absent is None",
        arguments: [
            (nil, .none), ("None", .none), ("none", .none), ("High", .high), ("HIGH", .high), ("low", .low),
        ] as [(String?, Priority)])
    func priorityAccepted(text: String?, expected: Priority) throws {
        var request = minimal()
        request.priority = text
        #expect(try validate(request).priority == expected)
    }

    @Test("priority: anything else is refused", arguments: ["", "Urgent", "Normal", " High", "0"])
    func priorityRefused(text: String) {
        var request = minimal()
        request.priority = text
        #expect(fields(request) == ["priority"])
    }

    // MARK: displayTimeToLive

    @Test(
        "displayTimeToLive: 0 to 30 days in seconds",
        arguments: [
            (0, true), (60, true), (Limits.displayTimeToLiveMax, true),
            (-1, false), (Limits.displayTimeToLiveMax + 1, false), (Int64.max, false), (Int64.min, false),
        ] as [(Int64, Bool)])
    func displayTimeToLive(seconds: Int64, accepted: Bool) throws {
        var request = minimal()
        request.displayTimeToLive = seconds
        if accepted {
            #expect(try validate(request).displayTimeToLive == seconds)
        } else {
            #expect(fields(request) == ["displayTimeToLive"])
        }
    }

    // MARK: Optional strings

    @Test("targetHostName, appNotificationId, groupName: optional, not blank, bounded")
    func optionalStrings() throws {
        var request = minimal()
        request.targetHostName = String(repeating: "h", count: Limits.targetHostNameMaxLength)
        request.appNotificationID = String(repeating: "a", count: Limits.appNotificationIDMaxLength)
        request.groupName = String(repeating: "g", count: Limits.groupNameMaxLength)
        let notification = try validate(request)
        #expect(notification.targetHostName?.count == 253)
        #expect(notification.appNotificationID?.count == 255)
        #expect(notification.groupName?.count == 255)

        request.targetHostName = String(repeating: "h", count: Limits.targetHostNameMaxLength + 1)
        request.appNotificationID = String(repeating: "a", count: Limits.appNotificationIDMaxLength + 1)
        request.groupName = String(repeating: "g", count: Limits.groupNameMaxLength + 1)
        #expect(fields(request) == ["targetHostName", "appNotificationId", "groupName"])

        request.targetHostName = ""
        request.appNotificationID = " "
        request.groupName = "\n"
        #expect(violations(request).map(\.message) == Array(repeating: "This field may not be blank.", count: 3))
    }

    // MARK: Times past the stored precision (docs/PROTOCOL.md, "SendNotification's rules")

    @Test(
        "expirationDateTime: digits past the third are dropped, never rounded",
        arguments: [
            ("2019-10-30T23:59:00.9999999Z", 1_572_479_940_999_000),
            ("2019-10-30T23:59:00.1234567Z", 1_572_479_940_123_000),
            ("2019-10-30T23:59:00.208Z", 1_572_479_940_208_000),
            ("2019-10-30T23:59:00.2Z", 1_572_479_940_200_000),
            ("2019-10-31T01:59:00.0015+02:00", 1_572_479_940_001_000),
        ] as [(String, Int64)])
    func truncatesFraction(text: String, microseconds: Int64) throws {
        var request = minimal()
        request.expirationDateTime = text
        let expiration = try validate(request).expiration
        #expect(expiration == Timestamp(microsecondsSince1970: microseconds))
        #expect(expiration.rfc3339.hasSuffix(String(format: ".%03dZ", microseconds / 1_000 % 1_000)))
    }

    @Test("expirationDateTime: more than 7 fraction digits is refused")
    func eightDigits() {
        var request = minimal()
        request.expirationDateTime = "2019-10-30T23:59:00.12345678Z"
        #expect(fields(request) == ["expirationDateTime"])
    }

    @Test("expirationDateTime: in the future is judged after truncation")
    func futureAfterTruncation() {
        var request = minimal()
        // 0.9 ms after now: the same millisecond as now once truncated.
        request.expirationDateTime = "2019-10-20T00:00:00.0009Z"
        #expect(fields(request) == ["expirationDateTime"])
        request.expirationDateTime = "2019-10-20T00:00:00.001Z"
        #expect(fields(request) == [])
    }

    @Test(
        "priority and platforms are normalised to their canonical spelling, platforms deduplicated in first-mention order",
        arguments: [
            ("high", ["WINDOWS", "ios", "Windows", "WebPush"], Priority.high, [Platform.windows, .ios, .webPush]),
            ("LOW", ["android"], .low, [.android]),
            ("None", [], .none, Platform.allCases),
        ] as [(String, [String], Priority, [Platform])])
    func normalised(priority: String, platforms: [String], expectedPriority: Priority, expectedPlatforms: [Platform]) throws {
        var request = minimal()
        request.priority = priority
        request.platformTypes = platforms
        let notification = try validate(request)
        #expect(notification.priority == expectedPriority)
        #expect(notification.platforms == expectedPlatforms)
    }

    @Test("raw and visual content together are accepted and both kept")
    func rawAndVisual() throws {
        var request = minimal()
        request.payload = PayloadInput(rawContent: "raw", visualContent: VisualContentInput(title: "T", body: nil))
        let payload = try validate(request).payload
        #expect(payload == Payload(rawContent: "raw", visualContent: VisualContent(title: "T", body: nil)))
    }
}
