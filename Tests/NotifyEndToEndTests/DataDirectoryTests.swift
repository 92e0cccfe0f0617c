import Foundation
import NotifyClient
import NotifyCore
import NotifyMessages
import NotifyTLS
import NotifyTesting
import Testing

/// The `notifyd` built with the tests; the suite is skipped without it.
private let notifyd = NotifydProcess.executable()

@Suite(
    "The data folder: one server at a time, private files, no CA key",
    .enabled(if: notifyd != nil, "no notifyd executable next to the test bundle (build it, or set NOTIFYD_PATH)")
)
struct DataDirectoryTests {
    private static func admin(_ arguments: [String], data: String, executable: URL, scratch: String) async throws -> NotifydProcess.Outcome {
        try await NotifydProcess.run(["admin"] + arguments + ["--data-dir", data], executable: executable, scratch: scratch)
    }

    private static func health(of server: NotifydProcess) async throws -> HealthCheckResponse.ServingStatus {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: server.port, trustRootsFile: server.caFile)
        configuration.defaultTimeout = .seconds(20)
        let client = NotifyClient(configuration: configuration)
        do {
            let status = try await client.health().status
            await client.close()
            return status
        } catch {
            await client.close()
            throw error
        }
    }

    @Test("a second notifyd serve on the same data folder exits 1 with a clear error; admin commands still work", .timeLimit(.minutes(2)))
    func secondServerRefused() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        let first = try await NotifydProcess.serve(executable: executable, dataDirectory: data)
        defer { first.signal(SIGKILL) }

        let second = try await NotifydProcess.run(
            ["serve", "--data-dir", data, "--rpc-port", "0", "--no-gateway"], executable: executable, scratch: scratch.path
        )
        #expect(second.status == 1, "exit \(second.status)\n\(second.standardError)")
        #expect(second.standardError.contains("another notifyd serve is running on this data folder"), "\(second.standardError)")
        #expect(second.standardError.contains("pid \(first.processIdentifier)"), "\(second.standardError)")

        // The first one is untouched, and the admin CLI works beside it.
        #expect(try await Self.health(of: first) == .serving)
        let added = try await Self.admin(["user", "add", "--id", "7"], data: data, executable: executable, scratch: scratch.path)
        #expect(added.status == 0, "\(added.standardError)")

        // Once the first has stopped, the lock is free again.
        first.signal(SIGTERM)
        #expect(await first.waitForExit(timeout: .seconds(20)) == 0)
        let third = try await NotifydProcess.serve(executable: executable, dataDirectory: data)
        defer { third.signal(SIGKILL) }
        #expect(try await Self.health(of: third) == .serving)
        third.signal(SIGTERM)
        #expect(await third.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("the data folder is 0700, the database, its -wal and -shm, the lock and the keys 0600; no CA key is kept", .timeLimit(.minutes(2)))
    func privateFiles() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        // As an operator starts: the admin CLI creates the folder, then the server runs.
        let token = try await Self.admin(
            ["token", "create", "--user", "1", "--role", "admin", "--create-user"], data: data, executable: executable, scratch: scratch.path
        )
        #expect(token.status == 0, "\(token.standardError)")
        let server = try await NotifydProcess.serve(executable: executable, dataDirectory: data)
        defer { server.signal(SIGKILL) }
        #expect(try await Self.health(of: server) == .serving)

        #expect(Self.mode(data) == 0o700)
        #expect(Self.mode(data + "/tls") == 0o700)
        for file in ["notify.sqlite", "notify.sqlite-wal", "notify.sqlite-shm", "notifyd.lock", "tls/server.key"] {
            #expect(Self.mode(data + "/" + file) == 0o600, "\(file): \(String(Self.mode(data + "/" + file) ?? 0, radix: 8))")
        }
        #expect(!FileManager.default.fileExists(atPath: data + "/tls/ca.key"))
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("a data folder from before: its CA key is deleted, its database made 0600, clients still trust its CA", .timeLimit(.minutes(2)))
    func olderDataFolder() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        // What an earlier version left: a CA key beside the certificates, a 0644 database.
        let files = try DevelopmentCertificates.ensure(in: data + "/tls")
        #expect(FileManager.default.fileExists(atPath: data + "/tls/ca.key"))
        let caBefore = try Data(contentsOf: URL(fileURLWithPath: files.caCertificate))
        #expect(FileManager.default.createFile(atPath: data + "/notify.sqlite", contents: nil, attributes: [.posixPermissions: 0o644]))

        let server = try await NotifydProcess.serve(executable: executable, dataDirectory: data)
        defer { server.signal(SIGKILL) }
        #expect(try await Self.health(of: server) == .serving)
        #expect(!FileManager.default.fileExists(atPath: data + "/tls/ca.key"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: files.caCertificate)) == caBefore)
        #expect(Self.mode(data + "/notify.sqlite") == 0o600)
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(20)) == 0)
    }

    private static func mode(_ path: String) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let permissions = attributes[.posixPermissions] as? NSNumber
        else { return nil }
        return permissions.intValue & 0o777
    }
}
