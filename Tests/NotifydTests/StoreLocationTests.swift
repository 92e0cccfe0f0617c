import ArgumentParser
import Foundation
import NotifyStoragePostgres
import Testing

@testable import notifyd

/// `--store` and `--store-connections`, read into where the data lives.
@Suite("--store: SQLite in the data folder by default, a postgres:// URL for PostgreSQL")
struct StoreLocationTests {
    private func read(_ environment: [String: String], flags: FlagValues = FlagValues()) throws -> StoreLocation {
        var warnings: [String] = []
        defer { #expect(warnings.isEmpty, "\(warnings)") }
        return try StoreLocation.read(
            Settings(flags: flags, environment: environment), dataDir: "/d", environment: environment
        ) { warnings.append($0) }
    }

    @Test("without --store the data is the SQLite file in --data-dir")
    func sqliteByDefault() throws {
        guard case .sqlite(let path) = try read([:]) else {
            Issue.record("not SQLite")
            return
        }
        #expect(path == "/d/notify.sqlite")
        // The pool size means nothing there: said, not ignored.
        #expect(throws: ValidationError.self) { try read(["NOTIFY_STORE_CONNECTIONS": "4"]) }
    }

    @Test("NOTIFY_STORE or --store selects PostgreSQL; the flag wins; the pool size is validated; the password comes from PGPASSWORD")
    func postgres() throws {
        var flags = FlagValues()
        flags.set(.store, "postgres://app@db.example:6543/notify?schema=s1")
        flags.set(.storeConnections, 12)
        let environment = ["NOTIFY_STORE": "postgres://other@elsewhere/x", "PGPASSWORD": "pw"]
        guard case .postgres(let configuration) = try read(environment, flags: flags) else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(configuration.description == "postgres://app@db.example:6543/notify?schema=s1")
        #expect(configuration.maximumConnections == 12)
        #expect(configuration.password == "pw")
        guard case .postgres(let fromVariable) = try read(["NOTIFY_STORE": "postgres://other@127.0.0.1/x"]) else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(fromVariable.host == "127.0.0.1")
        #expect(fromVariable.maximumConnections == Defaults.storeConnections)
        #expect(fromVariable.tls == .disable)
        for count in ["2", "1001", "0"] {
            #expect(throws: ValidationError.self) {
                try read(["NOTIFY_STORE": "postgres://a@h/d", "NOTIFY_STORE_CONNECTIONS": count])
            }
        }
        #expect(throws: ValidationError.self) { try read(["NOTIFY_STORE": "postgres://a:pw@h/d"]) }
        #expect(throws: ValidationError.self) { try read(["NOTIFY_STORE": "mysql://a@h/d"]) }
    }
}
