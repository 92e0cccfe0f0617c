import Foundation
import NIOCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import Testing

/// Checks the codecs against Google's own encoder, `protoc --encode`.
@Suite("Message codecs agree with protoc")
struct MessagesProtocTests {
    static let protoc: URL? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":")
            .map { URL(fileURLWithPath: String($0)).appendingPathComponent("protoc") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    /// The package root: this file is Tests/NotifyWireTests/<file>.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `protoc --encode=<message>` on text-format input.
    static func encode(_ message: String, text: String, protoc: URL) throws -> [UInt8] {
        let process = Process()
        process.executableURL = protoc
        process.arguments = ["--encode=\(message)", "-I", "proto", "proto/notify/v1/notification.proto"]
        process.currentDirectoryURL = packageRoot
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let bytes = output.fileHandleForReading.readDataToEndOfFile()
        let diagnostics = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(
            process.terminationStatus == 0, "protoc failed: \(String(decoding: diagnostics, as: UTF8.self))")
        return Array(bytes)
    }

    @Test("NotifyRequest: protoc's bytes equal ours and decode to the same request", .enabled(if: protoc != nil))
    func notifyRequest() throws {
        let protoc = try #require(Self.protoc)
        let text = #"""
            recipients_type: "user"
            type: "custom"
            embed { embed_type: "post" embed_id: "12" url: "https://e.example/p/12" metadata_json: "{\"a\":1}" }
            title { value: "Héllo ✓" }
            description { }
            user: -3
            """#
        let request = NotifyRequest(
            recipientsType: "user", type: "custom",
            embed: EmbedInput(embedType: "post", embedID: "12", url: "https://e.example/p/12", metadataJSON: #"{"a":1}"#),
            title: .value("Héllo ✓"), description: .null, user: -3)

        let expected = try Self.encode("notify.v1.NotifyRequest", text: text, protoc: protoc)
        #expect(!expected.isEmpty)
        #expect(Array(request.serializedBuffer().readableBytesView) == expected)
        #expect(try NotifyRequest(serializedBytes: ByteBuffer(bytes: expected)) == request)
    }

    @Test("SendNotificationRequest with an empty targetPolicy matches protoc", .enabled(if: protoc != nil))
    func sendNotificationRequest() throws {
        let protoc = try #require(Self.protoc)
        let text = #"""
            target_host_name: "app.example"
            payload { visual_content { title: "T" } }
            target_policy { }
            display_time_to_live: 0
            """#
        let request = SendNotificationRequest(
            targetHostName: "app.example", payload: PayloadInput(visualContent: VisualContentInput(title: "T")),
            platformTypes: [], displayTimeToLive: 0)
        let expected = try Self.encode("notify.v1.SendNotificationRequest", text: text, protoc: protoc)
        #expect(Array(request.serializedBuffer().readableBytesView) == expected)
        #expect(try SendNotificationRequest(serializedBytes: ByteBuffer(bytes: expected)) == request)
    }
}
