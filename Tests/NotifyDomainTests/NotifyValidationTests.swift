import Foundation
import NotifyDomain
import Testing

/// A request that passes, for tests to break one field at a time.
private func validRequest() -> NotifyRequest {
    NotifyRequest(
        recipientsType: "connections", type: "wishlist_add",
        embed: EmbedInput(embedType: "wishlist", embedID: "42", url: "https://example.com/w/42", metadataJSON: #"{"a":1}"#),
        title: .value("Added to wishlist"), description: .value("A nice thing"), user: 3)
}

/// The violations `request` produces; empty when it passes.
private func violations(_ request: NotifyRequest) -> [Violation] {
    do {
        _ = try NotifyValidation.validate(request)
        return []
    } catch {
        return error.violations
    }
}

private func fields(_ request: NotifyRequest) -> [String] {
    violations(request).map(\.field)
}

private func string(length: Int) -> String {
    String(repeating: "é", count: length)
}

@Suite("Notify validation")
struct NotifyValidationTests {
    // MARK: The seed's own examples

    @Test("SelfCommunity's example body: \"string\" is no recipients_type and user 0 is no user")
    func seedExampleBody() throws {
        let request = NotifyRequest(
            recipientsType: "string", type: "string",
            embed: EmbedInput(embedType: "string", embedID: "string", url: "https://example.com", metadataJSON: "{}"),
            title: .value("string"), description: .value("string"), user: 0)
        let error = try #require(throws: ValidationError.self) { try NotifyValidation.validate(request) }
        #expect(error.violations.map(\.field) == ["recipients_type", "user"])
        #expect(error.violation(for: "recipients_type")?.message == #"Must be "connections" or "user"."#)
    }

    @Test("SelfCommunity's example request (user 3): only recipients_type is wrong")
    func seedExampleRequest() {
        let request = NotifyRequest(
            recipientsType: "string", type: "string",
            embed: EmbedInput(embedType: "string", embedID: "string", url: "https://example.com", metadataJSON: "{}"),
            title: .value("string"), description: .value("string"), user: 3)
        #expect(fields(request) == ["recipients_type"])
    }

    @Test("The seed's example with a valid recipients_type passes, metadata kept")
    func seedExampleFixed() throws {
        let request = NotifyRequest(
            recipientsType: "user", type: "string",
            embed: EmbedInput(embedType: "string", embedID: "string", url: "https://example.com", metadataJSON: "{}"),
            title: .value("string"), description: .value("string"), user: 3)
        let validated = try NotifyValidation.validate(request)
        #expect(validated.recipientsType == .user)
        #expect(
            validated.notification
                == CustomNotification(
                    type: "string",
                    embed: Embed(embedType: "string", embedID: "string", url: "https://example.com", metadataJSON: "{}"),
                    title: "string", description: "string", issuer: 3))
    }

    @Test("A minimal request: no embed, null title and description, default recipients")
    func minimal() throws {
        let validated = try NotifyValidation.validate(
            NotifyRequest(type: "ping", title: .null, description: .null, user: 1))
        #expect(validated == ValidatedNotify(
            recipientsType: .connections,
            notification: CustomNotification(type: "ping", embed: nil, title: nil, description: nil, issuer: 1)))
    }

    @Test("An empty request names every required field, in document order")
    func empty() throws {
        let error = try #require(throws: ValidationError.self) { try NotifyValidation.validate(NotifyRequest()) }
        #expect(error.violations == [
            Violation(field: "type", message: "This field is required."),
            Violation(field: "title", message: "This field is required."),
            Violation(field: "description", message: "This field is required."),
            Violation(field: "user", message: "This field is required."),
        ])
    }

    @Test("Every broken field is reported, once each")
    func allAtOnce() {
        let request = NotifyRequest(
            recipientsType: "everyone", type: " ",
            embed: EmbedInput(embedType: "sc_link", embedID: nil, url: "ftp://x", metadataJSON: "[]"),
            title: .value(string(length: 256)), description: .missing, user: -4)
        let found = fields(request)
        #expect(found == [
            "recipients_type", "type", "embed.embed_type", "embed.embed_id", "embed.url", "embed.metadata", "title",
            "description", "user",
        ])
        #expect(Set(found).count == found.count)
    }

    // MARK: recipients_type

    @Test(
        "recipients_type: absent means connections; connections and user exactly",
        arguments: [(nil, .connections), ("connections", .connections), ("user", .user)] as [(String?, RecipientsType)])
    func recipientsTypeAccepted(text: String?, expected: RecipientsType) throws {
        var request = validRequest()
        request.recipientsType = text
        #expect(try NotifyValidation.validate(request).recipientsType == expected)
    }

    @Test(
        "recipients_type: anything else is refused",
        arguments: ["string", "", "Connections", "USER", " user", "user ", "conections", "friends", "followers"])
    func recipientsTypeRefused(text: String) {
        var request = validRequest()
        request.recipientsType = text
        #expect(fields(request) == ["recipients_type"])
    }

    // MARK: type

    @Test("type: required", arguments: [nil, "", "   ", "\n\t"] as [String?])
    func typeRequired(text: String?) {
        var request = validRequest()
        request.type = text
        let found = violations(request)
        #expect(found.map(\.field) == ["type"])
        #expect(found.first?.message == (text == nil ? "This field is required." : "This field may not be blank."))
    }

    @Test("type: stored trimmed, at most 100 characters")
    func typeBounds() throws {
        var request = validRequest()
        request.type = "  wishlist_add \n"
        #expect(try NotifyValidation.validate(request).notification.type == "wishlist_add")
        request.type = string(length: Limits.typeMaxLength)
        #expect(fields(request).isEmpty)
        request.type = string(length: Limits.typeMaxLength + 1)
        #expect(violations(request) == [
            Violation(field: "type", message: "Ensure this field has no more than 100 characters.")
        ])
    }

    // MARK: embed

    @Test("embed: embed_type and embed_id are required non-blank strings", arguments: [nil, "", "  "] as [String?])
    func embedIdentifiersRequired(text: String?) {
        var request = validRequest()
        request.embed?.embedType = text
        request.embed?.embedID = text
        #expect(fields(request) == ["embed.embed_type", "embed.embed_id"])
    }

    @Test("embed: embed_type and embed_id at most 255 characters, stored trimmed")
    func embedIdentifierBounds() throws {
        var request = validRequest()
        request.embed?.embedType = " " + string(length: Limits.embedTypeMaxLength) + " "
        request.embed?.embedID = string(length: Limits.embedIDMaxLength)
        let embed = try #require(try NotifyValidation.validate(request).notification.embed)
        #expect(embed.embedType == string(length: 255))
        request.embed?.embedType = string(length: 256)
        request.embed?.embedID = string(length: 256)
        #expect(fields(request) == ["embed.embed_type", "embed.embed_id"])
    }

    @Test(
        "embed: SelfCommunity's own embed types are reserved",
        arguments: ["sc_link", "sc_shared_object", "sc_shared_event", "SC_LINK", " sc_shared_event "])
    func reservedEmbedTypes(text: String) {
        var request = validRequest()
        request.embed?.embedType = text
        let found = violations(request)
        #expect(found.map(\.field) == ["embed.embed_type"])
        #expect(found.first?.message.contains("reserved") == true)
    }

    @Test("embed: absent is fine; an empty embed misses its two identifiers")
    func embedPresence() throws {
        var request = validRequest()
        request.embed = nil
        #expect(try NotifyValidation.validate(request).notification.embed == nil)
        request.embed = EmbedInput()
        #expect(fields(request) == ["embed.embed_type", "embed.embed_id"])
    }

    @Test(
        "embed.url: null or an absolute http(s) URL with a host",
        arguments: [
            nil, "https://example.com", "http://example.com/a/b?c=d#e", "HTTPS://EXAMPLE.COM/", "https://example.com:8443/x",
            "http://127.0.0.1/", "https://[::1]/",
        ] as [String?])
    func urlAccepted(text: String?) throws {
        var request = validRequest()
        request.embed?.url = text
        #expect(try NotifyValidation.validate(request).notification.embed?.url == text)
    }

    @Test(
        "embed.url: anything else is refused",
        arguments: [
            "", "example.com", "/relative/path", "ftp://example.com", "javascript:alert(1)", "mailto:a@example.com",
            "https://", "https:///path", "https://exa mple.com", " https://example.com", "https://example.com/\n",
            "file:///etc/passwd", "data:text/plain,hi",
        ])
    func urlRefused(text: String) {
        var request = validRequest()
        request.embed?.url = text
        #expect(fields(request) == ["embed.url"])
    }

    @Test("embed.url: at most 2,048 characters")
    func urlLength() {
        var request = validRequest()
        let prefix = "https://example.com/"
        request.embed?.url = prefix + String(repeating: "a", count: Limits.urlMaxLength - prefix.count)
        #expect(fields(request).isEmpty)
        request.embed?.url = prefix + String(repeating: "a", count: Limits.urlMaxLength - prefix.count + 1)
        #expect(fields(request) == ["embed.url"])
    }

    @Test(
        "embed.metadata: null or a JSON object; a string holding an object is unwrapped",
        arguments: [
            (nil, nil), ("{}", "{}"), (#"{"a":[1,2],"b":{"c":null}}"#, #"{"a":[1,2],"b":{"c":null}}"#),
            (#" { "a" : 1 } "#, #" { "a" : 1 } "#), (#""{}""#, "{}"), (#""{\"a\":1}""#, #"{"a":1}"#),
        ] as [(String?, String?)])
    func metadataAccepted(text: String?, stored: String?) throws {
        var request = validRequest()
        request.embed?.metadataJSON = text
        #expect(try NotifyValidation.validate(request).notification.embed?.metadataJSON == stored)
    }

    @Test(
        "embed.metadata: anything but an object is refused",
        arguments: ["", "[]", "1", "true", "null", #""text""#, #""[]""#, #""\"{}\"""#, "{", #"{"a":}"#, "{} {}"])
    func metadataRefused(text: String) {
        var request = validRequest()
        request.embed?.metadataJSON = text
        #expect(fields(request) == ["embed.metadata"])
    }

    @Test("embed.metadata: at most 16 KiB")
    func metadataSize() {
        var request = validRequest()
        let overhead = #"{"k":""}"#.utf8.count
        request.embed?.metadataJSON = #"{"k":""# + String(repeating: "x", count: Limits.metadataMaxBytes - overhead) + #""}"#
        #expect(fields(request).isEmpty)
        request.embed?.metadataJSON = #"{"k":""# + String(repeating: "x", count: Limits.metadataMaxBytes - overhead + 1) + #""}"#
        #expect(fields(request) == ["embed.metadata"])
    }

    // MARK: title and description

    @Test("title and description: the key is required, its value may be null")
    func titleAndDescriptionKeys() throws {
        var request = validRequest()
        request.title = .missing
        request.description = .missing
        #expect(violations(request) == [
            Violation(field: "title", message: "This field is required."),
            Violation(field: "description", message: "This field is required."),
        ])
        request.title = .null
        request.description = .null
        let notification = try NotifyValidation.validate(request).notification
        #expect(notification.title == nil)
        #expect(notification.description == nil)
        request.title = .value("")
        request.description = .value("  kept as sent ")
        let kept = try NotifyValidation.validate(request).notification
        #expect(kept.title == "")
        #expect(kept.description == "  kept as sent ")
    }

    @Test("title at most 255 and description at most 4,096 characters")
    func titleAndDescriptionBounds() {
        var request = validRequest()
        request.title = .value(string(length: Limits.titleMaxLength))
        request.description = .value(string(length: Limits.descriptionMaxLength))
        #expect(fields(request).isEmpty)
        request.title = .value(string(length: Limits.titleMaxLength + 1))
        request.description = .value(string(length: Limits.descriptionMaxLength + 1))
        #expect(fields(request) == ["title", "description"])
    }

    // MARK: user

    @Test("user: required and positive; existence is the server's question", arguments: [nil, 0, -1, Int64.min] as [Int64?])
    func userRefused(user: Int64?) {
        var request = validRequest()
        request.user = user
        let found = violations(request)
        #expect(found.map(\.field) == ["user"])
        #expect(found.first?.message == (user == nil ? "This field is required." : "Must be a positive user id."))
    }

    @Test("user: any positive id is the issuer", arguments: [1, 3, Int64.max] as [Int64])
    func userAccepted(user: Int64) throws {
        var request = validRequest()
        request.user = user
        #expect(try NotifyValidation.validate(request).notification.issuer == user)
    }
}

@Suite("Notify validation: hostile metadata")
struct NotifyHostileMetadataTests {
    @Test("Metadata nested deeper than the parser allows is refused, not a crash")
    func deepNesting() {
        var request = validRequest()
        let depth = (Limits.metadataMaxBytes - 16) / 2
        request.embed?.metadataJSON = #"{"a":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        // NotifyJSON caps a stored object's nesting at 512, as Foundation's parser did, instead of recursing until the stack overflows.
        #expect(fields(request) == ["embed.metadata"])
        request.embed?.metadataJSON = #"{"a":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"
        #expect(fields(request).isEmpty)
    }
}
