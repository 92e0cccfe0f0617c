import NotifyDomain
public import NotifyStorage

/// The NOTIFY payloads through which instances sharing one database tell
/// each other of their commits: which users' feeds advanced, and what
/// changed in the directory. Pure text in, text out, so that it is checked
/// without a server.
///
/// Every payload starts with the sending store's instance id and `:`; a
/// store ignores its own (it woke its readers and evicted its caches as it
/// committed). A payload this version cannot read is taken for "anything
/// may have changed" (wake every reader, forget every cached lookup): an
/// instance of another version never makes one miss a commit.
///
/// Feed channel (`notify_feed[_<schema>]`):
/// - `<instance>:*` wakes every reader (the users did not fit);
/// - `<instance>:<u1>,<d2>,<d3>...`: the users whose feeds advanced, sorted,
///   each once, in base 36: the first as it is (a `-` for a negative id),
///   each next one as its difference from the one before (as an unsigned
///   64-bit number, wrapping), so that ids close together take a character
///   or two each. A payload stays under ``maxPayloadBytes`` (PostgreSQL
///   refuses 8,000 bytes or more); a commit sends up to
///   ``maxFeedPayloads`` of them, each starting again from an absolute id,
///   and `*` when its users need more.
///
/// Directory channel (`notify_directory[_<schema>]`):
/// `<instance>:t` a token was revoked; `<instance>:b:<principal>` the
/// principal (`app:<name>` or `user:<id>`) was blocked or unblocked;
/// `<instance>:u:<id>` the user was deleted; `<instance>:n:<id>` the user
/// was created or renamed; `<instance>:s:<id>` the
/// subscription was renewed or deleted; `<instance>:*` anything.
enum PostgresNotices {
    /// The most bytes of one payload: PostgreSQL's limit is 8,000.
    static let maxPayloadBytes = 7_900
    /// The most feed payloads one commit sends before it sends `*` instead.
    static let maxFeedPayloads = 4

    /// What a feed payload says.
    enum Feed: Equatable {
        case users([Int64])
        case everyone
    }

    /// The feed payloads for a commit that advanced `users`' feeds.
    static func feedPayloads(instance: String, users: [Int64]) -> [String] {
        let sorted = users.sorted()
        var payloads: [String] = []
        var payload = ""
        var previous: Int64 = 0
        for (index, user) in sorted.enumerated() {
            if index > 0 && user == sorted[index - 1] { continue }
            let item: String
            if payload.isEmpty {
                item = String(user, radix: 36)
            } else {
                item = String(UInt64(bitPattern: user &- previous), radix: 36)
            }
            if !payload.isEmpty && payload.utf8.count + 1 + item.utf8.count > maxPayloadBytes {
                payloads.append(payload)
                if payloads.count >= maxFeedPayloads { return [instance + ":*"] }
                payload = ""
                // The next payload starts from the user itself.
                payload = instance + ":" + String(user, radix: 36)
            } else if payload.isEmpty {
                payload = instance + ":" + item
            } else {
                payload += "," + item
            }
            previous = user
        }
        if !payload.isEmpty { payloads.append(payload) }
        return payloads
    }

    /// Reads a feed payload: who sent it and what it says (``Feed/everyone``
    /// for one it cannot read).
    static func feed(_ payload: String) -> (instance: Substring, feed: Feed) {
        guard let colon = payload.firstIndex(of: ":") else { return ("", .everyone) }
        let instance = payload[..<colon]
        let body = payload[payload.index(after: colon)...]
        if body == "*" || body.isEmpty { return (instance, .everyone) }
        var users: [Int64] = []
        var previous: Int64 = 0
        for (index, item) in body.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            if index == 0 {
                guard let user = Int64(item, radix: 36) else { return (instance, .everyone) }
                previous = user
            } else {
                guard let delta = UInt64(item, radix: 36) else { return (instance, .everyone) }
                previous = previous &+ Int64(bitPattern: delta)
            }
            users.append(previous)
        }
        return (instance, .users(users))
    }

    /// The directory payload for `change`: `<instance>:` and its
    /// ``DirectoryChange/text``.
    static func directoryPayload(instance: String, change: DirectoryChange) -> String {
        let payload = instance + ":" + change.text
        return payload.utf8.count > maxPayloadBytes ? instance + ":*" : payload
    }

    /// Reads a directory payload (``DirectoryChange/everything`` for one it
    /// cannot read).
    static func directory(_ payload: String) -> (instance: Substring, change: DirectoryChange) {
        let parts = payload.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return ("", .everything) }
        return (parts[0], DirectoryChange(text: parts[1]))
    }

    /// The store's two channel names on its database. Channels are per
    /// database, not per schema: stores in different schemas of one database
    /// (tests) must not hear each other, so the schema is part of the name;
    /// a name PostgreSQL would cut (63 bytes) ends in a hash of the schema instead.
    static func channels(schema: String?) -> (feed: String, directory: String) {
        func name(_ base: String) -> String {
            guard let schema else { return base }
            let full = base + "_" + schema
            if full.utf8.count <= 63 { return full }
            // FNV-1a: the same in every process (Swift's Hasher is seeded per process).
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in schema.utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x100_0000_01b3
            }
            return base + "_" + String(hash, radix: 16)
        }
        return (name("notify_feed"), name("notify_directory"))
    }
}
