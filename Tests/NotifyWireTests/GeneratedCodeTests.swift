import Foundation
import Testing

/// The protoc-c output under Sources/CNotifyProto is committed; this fails when it no longer matches
/// proto/, so a schema change cannot ship without its regenerated C.
@Suite("Generated protobuf-c code")
struct GeneratedCodeTests {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // NotifyWireTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    static var protocCInstalled: Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { directory in
            FileManager.default.isExecutableFile(atPath: "\(directory)/protoc-c")
        }
    }

    @Test(
        "committed protoc-c output matches proto/ (scripts/generate-proto.sh --check)",
        .enabled(if: protocCInstalled, "protoc-c is not installed, so the generated code cannot be checked")
    )
    func upToDate() throws {
        let script = Self.packageRoot.appendingPathComponent("scripts/generate-proto.sh")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path, "--check"]
        process.currentDirectoryURL = Self.packageRoot
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Read before waiting so a chatty diff cannot fill the pipe and deadlock the script.
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "generate-proto.sh --check failed:\n\(text)")
    }
}
