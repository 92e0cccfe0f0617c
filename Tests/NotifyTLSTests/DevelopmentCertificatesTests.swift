import Foundation
import NotifyTLS
import NotifyTesting
import Testing

@Suite("DevelopmentCertificates")
struct DevelopmentCertificatesTests {
    @Test("ensure is idempotent: a second call returns the same files without rewriting them")
    func idempotent() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certs = directory.path + "/dev"
        let first = try DevelopmentCertificates.ensure(in: certs)
        let firstContents = try Data(contentsOf: URL(fileURLWithPath: first.serverCertificate))
        let firstInode = try FileManager.default.attributesOfItem(atPath: first.serverKey)[.systemFileNumber] as? Int
        let second = try DevelopmentCertificates.ensure(in: certs)
        #expect(second.caCertificate == first.caCertificate)
        #expect(second.serverCertificate == first.serverCertificate)
        #expect(second.serverKey == first.serverKey)
        #expect(try Data(contentsOf: URL(fileURLWithPath: second.serverCertificate)) == firstContents)
        #expect(try FileManager.default.attributesOfItem(atPath: second.serverKey)[.systemFileNumber] as? Int == firstInode)
    }

    @Test("without keeping the CA key: none is written, a later call reuses the set, and a stale ca.key is deleted")
    func withoutCAKey() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certs = directory.path + "/dev"
        let first = try DevelopmentCertificates.ensure(in: certs, keepingCAKey: false)
        #expect(!FileManager.default.fileExists(atPath: certs + "/ca.key"))
        #expect(FileManager.default.fileExists(atPath: first.serverKey))
        let certificate = try Data(contentsOf: URL(fileURLWithPath: first.serverCertificate))
        // No key: the directory can issue nothing.
        #expect(throws: TLSError.self) { try DevelopmentCertificates.issueClientCertificate(in: certs, name: "x") }
        #expect(FileManager.default.createFile(atPath: certs + "/ca.key", contents: Data("stale".utf8)))
        _ = try DevelopmentCertificates.ensure(in: certs, keepingCAKey: false)
        #expect(!FileManager.default.fileExists(atPath: certs + "/ca.key"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: first.serverCertificate)) == certificate)
    }

    @Test("the directory is 0700 and keys are 0600")
    func permissions() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certs = directory.path + "/dev"
        let files = try DevelopmentCertificates.ensure(in: certs)
        let client = try DevelopmentCertificates.issueClientCertificate(in: certs, name: "ops-alice")
        func mode(_ path: String) throws -> Int? {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        }
        #expect(try mode(certs) == 0o700)
        #expect(try mode(files.serverKey) == 0o600)
        #expect(try mode(client.key) == 0o600)
        #expect(client.certificate == certs + "/ops-alice.crt")
    }

    @Test("client certificate names that could escape the directory are refused")
    func badClientName() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = try DevelopmentCertificates.ensure(in: directory.path)
        for name in ["../evil", "", "a/b", ".hidden"] {
            #expect(throws: TLSError.self) {
                try DevelopmentCertificates.issueClientCertificate(in: directory.path, name: name)
            }
        }
    }

    @Test("a server certificate verifies against the CA with openssl verify")
    func verifiesWithOpenSSL() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = try DevelopmentCertificates.ensure(in: directory.path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["verify", "-CAfile", files.caCertificate, "-purpose", "sslserver", files.serverCertificate]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("OK"))
    }
}
