import Foundation
import NotifyTesting
import Testing

@testable import notifyd

/// libpq's password rules, as notifyd follows them (PostgresPassword).
@Suite("The PostgreSQL password: PGPASSWORD, else the passfile, by libpq's rules")
struct PostgresPasswordTests {
    private let target = PostgresPassword.Target(host: "db.example", port: 5432, database: "notify", username: "app")

    @Test("the first line whose four fields match gives the password; * matches anything")
    func matching() {
        let file = """
            # a comment
            other.example:5432:notify:app:wrong-host
            db.example:6543:notify:app:wrong-port
            db.example:5432:*:someone:wrong-user

            db.example:5432:*:app:right
            *:*:*:*:too-late
            """
        #expect(PostgresPassword.password(in: file, for: target) == "right")
        #expect(PostgresPassword.password(in: "*:*:*:*:any\n", for: target) == "any")
        #expect(PostgresPassword.password(in: "db.example:5432:notify:app\n", for: target) == nil)
        #expect(PostgresPassword.password(in: "db.example:5432:notify:bob:x\n", for: target) == nil)
        // Windows line ends are tolerated, as libpq strips them.
        #expect(PostgresPassword.password(in: "*:*:*:app:crlf\r\n", for: target) == "crlf")
        // A '*' only matches as a whole field.
        #expect(PostgresPassword.password(in: "db.*:5432:notify:app:x\n", for: target) == nil)
    }

    @Test("\\: and \\\\ escape a colon and a backslash, in the fields and in the password")
    func escapes() {
        let ipv6 = PostgresPassword.Target(host: "::1", port: 5432, database: "a:b", username: "app")
        #expect(PostgresPassword.password(in: #"\:\:1:5432:a\:b:app:p\:w\\d"#, for: ipv6) == #"p:w\d"#)
        // The password ends at an unescaped colon.
        #expect(PostgresPassword.password(in: "*:*:*:*:first:second", for: target) == "first")
        #expect(PostgresPassword.password(in: #"*:*:*:*:trailing\"#, for: target) == #"trailing\"#)
    }

    @Test("PGPASSWORD wins; else PGPASSFILE, else ~/.pgpass; a file open to group or others, or not a plain file, is ignored with a warning")
    func sources() throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let file = scratch.path + "/pgpass"
        try "*:*:*:app:from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(chmod(file, 0o600) == 0)
        var warnings: [String] = []
        func find(_ environment: [String: String]) -> String? {
            PostgresPassword.find(for: target, environment: environment) { warnings.append($0) }
        }
        #expect(find(["PGPASSWORD": "from-env", "PGPASSFILE": file]) == "from-env")
        #expect(find(["PGPASSWORD": "", "PGPASSFILE": file]) == "from-file")
        #expect(find(["PGPASSFILE": file]) == "from-file")
        try FileManager.default.copyItem(atPath: file, toPath: scratch.path + "/.pgpass")
        #expect(chmod(scratch.path + "/.pgpass", 0o400) == 0)
        #expect(find(["HOME": scratch.path]) == "from-file")
        #expect(find(["PGPASSFILE": scratch.path + "/missing"]) == nil)
        #expect(warnings.isEmpty, "\(warnings)")

        for mode in [0o640, 0o604, 0o660, 0o644] {
            #expect(chmod(file, mode_t(mode)) == 0)
            #expect(find(["PGPASSFILE": file]) == nil)
        }
        #expect(warnings.count == 4)
        #expect(warnings.allSatisfy { $0.contains("group or world access") && !$0.contains("from-file") })
        warnings = []
        #expect(find(["PGPASSFILE": scratch.path]) == nil)
        #expect(warnings.count == 1 && warnings[0].contains("not a plain file"))
    }
}
