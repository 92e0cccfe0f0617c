import Foundation
import NIOCore
import NIOHTTP1
import NotifyGateway
import Testing

@Suite("docs/openapi.yaml and the routes agree")
struct OpenAPITests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The one source, embedded in the gateway at build time.
    static let specPath = root.appendingPathComponent("Sources/NotifyGateway/openapi.yaml").path
    /// What the docs show: a link to the source.
    static let docsPath = root.appendingPathComponent("docs/openapi.yaml").path

    /// Path → methods, read from the spec's `paths:` section (two-space keys, four-space methods).
    static func specRoutes(_ text: String) -> [String: Set<String>] {
        var routes: [String: Set<String>] = [:]
        var inPaths = false
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, !line.hasPrefix(" "), !line.isEmpty { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                current = String(line.dropFirst(2).dropLast())
                routes[current ?? ""] = []
            } else if let path = current, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast().uppercased()
                if ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"].contains(method) {
                    routes[path, default: []].insert(method)
                }
            }
        }
        return routes
    }

    @Test("every route is in the spec with its methods, and the spec has no other path")
    func routesMatch() throws {
        let text = try String(contentsOfFile: Self.specPath, encoding: .utf8)
        let spec = Self.specRoutes(text)
        let code = Dictionary(uniqueKeysWithValues: GatewayRoutes.all.map { ($0.path, Set($0.methods)) })
        #expect(spec.count == 31)
        #expect(spec == code)
    }

    @Test("the gateway serves docs/openapi.yaml byte for byte at /openapi.yaml")
    func served() async throws {
        let file = try Data(contentsOf: URL(fileURLWithPath: Self.specPath))
        try await withHarness { harness in
            let answer = try await harness.send(.GET, "/openapi.yaml")
            #expect(answer.status == 200)
            #expect(answer.header("Content-Type")?.hasPrefix("application/yaml") == true)
            #expect(Data(answer.body.readableBytesView) == file)
        }
    }

    @Test("docs/openapi.yaml is the embedded file, not a copy of it")
    func docsLinkToTheSource() throws {
        let destination = try FileManager.default.destinationOfSymbolicLink(atPath: Self.docsPath)
        #expect(destination == "../Sources/NotifyGateway/openapi.yaml")
        #expect(try Data(contentsOf: URL(fileURLWithPath: Self.docsPath)) == Data(contentsOf: URL(fileURLWithPath: Self.specPath)))
    }
}
