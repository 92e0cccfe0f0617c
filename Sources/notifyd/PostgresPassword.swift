import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The PostgreSQL password, found as libpq finds it: `PGPASSWORD`, else
/// the first matching line of the password file (`PGPASSFILE`, else
/// `~/.pgpass`).
///
/// Never from the store URL (which is logged, and shows in process lists):
/// `PostgresStoreConfiguration` refuses a URL that holds one. The rules are
/// libpq's, so that one file serves `psql` and notifyd alike: each line is
/// `hostname:port:database:username:password`; a field of `*` alone matches
/// anything; `\:` and `\\` stand for `:` and `\`; `#` starts a comment line;
/// the first line whose four fields match is used. A file that is not a
/// plain file, or that its group or others may read or write (anything
/// looser than 0600), is ignored with a warning, as libpq does.
enum PostgresPassword {
    /// Where the server is, as the passfile's fields compare it.
    struct Target: Equatable {
        var host: String
        var port: Int
        var database: String
        var username: String
    }

    /// The password for `target`, or nil for none.
    /// - Parameters:
    ///   - environment: the process's environment (`PGPASSWORD`, `PGPASSFILE`, `HOME`).
    ///   - warn: told why a password file was ignored.
    static func find(
        for target: Target, environment: [String: String], warn: (String) -> Void
    ) -> String? {
        if let password = environment["PGPASSWORD"], !password.isEmpty { return password }
        let path: String
        if let file = environment["PGPASSFILE"], !file.isEmpty {
            path = file
        } else if let home = environment["HOME"], !home.isEmpty {
            path = home + "/.pgpass"
        } else {
            return nil
        }
        var status = stat()
        // No file is no password, silently (libpq says nothing either).
        guard stat(path, &status) == 0 else { return nil }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            warn("password file \"\(path)\" is not a plain file: ignored")
            return nil
        }
        guard status.st_mode & (S_IRWXG | S_IRWXO) == 0 else {
            warn("password file \"\(path)\" has group or world access; permissions should be u=rw (0600) or less: ignored")
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            warn("password file \"\(path)\" cannot be read: ignored")
            return nil
        }
        return password(in: String(decoding: data, as: UTF8.self), for: target)
    }

    /// The password of the first line of `text` (a passfile's content) that
    /// matches `target`, or nil.
    static func password(in text: String, for target: Target) -> String? {
        // libpq compares the host as given; a socket directory counts as localhost.
        let host = target.host.hasPrefix("/") ? "localhost" : target.host
        let wanted = [host, String(target.port), target.database, target.username]
        // By scalars: "\r\n" is one Character, and libpq strips the '\r'.
        for rawLine in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: true) {
            var rest = Array(rawLine)[...]
            while rest.last == "\r" { rest = rest.dropLast() }
            if rest.isEmpty || rest.first == "#" { continue }
            var matched = true
            for field in wanted {
                guard let after = matching(rest, field) else {
                    matched = false
                    break
                }
                rest = after
            }
            guard matched else { continue }
            // The password: up to an unescaped ':' or the end, escapes removed.
            var password = String.UnicodeScalarView()
            var index = rest.startIndex
            while index < rest.endIndex, rest[index] != ":" {
                if rest[index] == "\\", rest.index(after: index) < rest.endIndex { index = rest.index(after: index) }
                password.append(rest[index])
                index = rest.index(after: index)
            }
            return String(password)
        }
        return nil
    }

    /// libpq's `pwdfMatchesString`: whether the field at the start of
    /// `line` matches `token`; returns what follows its ':' if so.
    private static func matching(
        _ line: ArraySlice<Unicode.Scalar>, _ token: String
    ) -> ArraySlice<Unicode.Scalar>? {
        if line.count >= 2, line[line.startIndex] == "*", line[line.startIndex + 1] == ":" {
            return line.dropFirst(2)
        }
        let token = Array(token.unicodeScalars)
        var at = line.startIndex
        var t = 0
        var escaped = false
        while at < line.endIndex {
            if line[at] == "\\", !escaped {
                at += 1
                escaped = true
                guard at < line.endIndex else { return nil }
            }
            if line[at] == ":", t == token.count, !escaped { return line[(at + 1)...] }
            escaped = false
            guard t < token.count, line[at] == token[t] else { return nil }
            at += 1
            t += 1
        }
        return nil
    }
}
