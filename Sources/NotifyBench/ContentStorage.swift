import Foundation
import GRDB
import Logging
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite

/// One layout's database file, opened as the store opens its own (a WAL
/// pool, `synchronous = FULL`), with the store's schema for what the layouts
/// share.
final class ContentFile {
    let layout: ContentLayout
    let path: String
    private let pool: DatabasePool
    /// Each feed's last sequence number, as the store's `FeedHeads` keeps them.
    private var heads: [Int64: Int64] = [:]

    init(_ layout: ContentLayout, path: String) throws {
        self.layout = layout
        self.path = path
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        pool = try DatabasePool(path: path, configuration: configuration)
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: layout.schema)
        }
    }

    /// Durable commits (the store's) or none, to fill a file quickly.
    func setDurable(_ durable: Bool) throws {
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(durable ? "FULL" : "OFF")") }
    }

    /// One transaction of appends to `user`'s feed, as the store's writer
    /// commits a batch.
    func append(_ items: ArraySlice<(id: String, content: NotificationContent)>, user: Int64, createdAt: Timestamp) throws {
        var seq = heads[user] ?? 0
        let layout = layout
        try pool.write { db in
            let statements = try layout.statements(db)
            for item in items {
                seq += 1
                try layout.append(
                    db, statements, id: item.id, createdAt: createdAt.microsecondsSince1970,
                    content: item.content, user: user, seq: seq)
            }
        }
        heads[user] = seq
    }

    func page(user: Int64, after: Int64, limit: Int) throws -> [NotifyDomain.Notification] {
        try pool.read { db in try layout.page(db, user: user, after: after, limit: limit) }
    }

    /// The file's bytes once the WAL is checkpointed into it, and the
    /// notifications table's own pages (nil when SQLite lacks `dbstat`).
    func size() throws -> (file: Int, table: Int?) {
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let table = try? pool.read { db in
            try Int.fetchOne(db, sql: "SELECT SUM(pgsize) FROM dbstat WHERE name = 'notifications'")
        }
        let file = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        return (file, table ?? nil)
    }
}

/// Notification content in SQLite, canonical JSON text against typed
/// columns (``ContentLayout``): the append path, a feed page's read path and
/// the file size, side by side in one run, samples alternating between the
/// layouts so that a noisy neighbour weighs on both.
enum ContentStorageBench {
    static let name = "content storage"

    /// Notify's content as the bench's other figures use it.
    static let notifyContent = NotificationContent.custom(CustomNotification(
        type: "wishlist_add",
        embed: Embed(embedType: "product", embedID: "42", url: "https://example.com/p/42", metadataJSON: "{}"),
        title: "Alice added an item to her wishlist", description: nil, issuer: 3))

    /// SendNotification's content: Graph's documented example.
    static let sendContent = NotificationContent.graph(GraphNotification(
        targetHostName: "graphnotifications.sample.windows.com", appNotificationID: "testDirectToastNotification",
        groupName: "TestGroup", expiration: Timestamp(microsecondsSince1970: 1_900_003_600_000_000),
        payload: Payload(rawContent: nil, visualContent: VisualContent(title: "Hello World!", body: "Notifications are Great!")),
        platforms: [.windows, .ios, .android], priority: .high, displayTimeToLive: 60, fallbackPolicyJSON: nil))

    /// Every shape the layouts must keep apart: absent and empty members,
    /// escapes, free-form JSON, platform order.
    static let checkedContents: [NotificationContent] = [
        notifyContent,
        sendContent,
        .custom(CustomNotification(type: "ping", embed: nil, title: nil, description: nil, issuer: 0)),
        .custom(CustomNotification(
            type: "comment", embed: Embed(embedType: "post", embedID: "", url: nil, metadataJSON: nil),
            title: "", description: "", issuer: .max)),
        .custom(CustomNotification(
            type: "mention",
            embed: Embed(
                embedType: "post", embedID: "7", url: "https://example.com/a/b?c=d&e=f",
                metadataJSON: #"{"price":{"amount":12.5,"currency":"EUR"},"tags":["a","b"]}"#),
            title: "Ünïcode \"quoted\" \\ / 👍", description: "line\nbreak\ttab", issuer: 9)),
        .graph(GraphNotification(
            targetHostName: nil, appNotificationID: nil, groupName: nil, expiration: Timestamp(microsecondsSince1970: 253_402_300_799_999_999),
            payload: Payload(rawContent: "", visualContent: nil), platforms: [.ios], priority: .none, displayTimeToLive: 0,
            fallbackPolicyJSON: nil)),
        .graph(GraphNotification(
            targetHostName: "host", appNotificationID: "a,b", groupName: "", expiration: Timestamp(microsecondsSince1970: 1_900_000_000_123_001),
            payload: Payload(rawContent: "raw, with \"quotes\"", visualContent: VisualContent(title: "", body: nil)),
            platforms: [.webPush, .android, .windows, .ios], priority: .low, displayTimeToLive: .max,
            fallbackPolicyJSON: #"{"mode":"email","after":[1,2]}"#)),
    ]

    /// Checks, then times. `rows` notifications per file for the size and as
    /// the table the appends and reads run against.
    static func run(samples: Int, rows: Int) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-bench-content-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await check(in: directory)
        print("\(name): both layouts hold the store's notifications (check passed); \(samples) alternating samples, medians, ratio = typed / JSON")

        let pageSize = 100
        let batch = 256
        let batchesPerSample = 16
        let pagesPerSample = 200
        for (kind, content, user) in [("Notify", notifyContent, Int64(1)), ("SendNotification", sendContent, Int64(2))] {
            let files = try ContentLayout.allCases.map { try ContentFile($0, path: "\(directory)/\(kind)-\($0).sqlite") }
            let json = files[0], typed = files[1]

            // The size, filled without syncs; then the store's durable commits.
            for file in files {
                try file.setDurable(false)
                var start = 0
                while start < rows {
                    let count = min(batch, rows - start)
                    try file.append(items(count, content)[...], user: user, createdAt: .now().truncatedToMilliseconds)
                    start += count
                }
                try file.setDurable(true)
            }
            let sizes = try files.map { try $0.size() }
            print(line(
                "\(kind): file at \(rows) notifications", json: Double(sizes[0].file), typed: Double(sizes[1].file),
                unit: { bytes in String(format: "%.1f MiB (%.0f B each)", bytes / 1_048_576, bytes / Double(rows)) }))
            if let jsonTable = sizes[0].table, let typedTable = sizes[1].table {
                print(line(
                    "\(kind): notifications table alone", json: Double(jsonTable), typed: Double(typedTable),
                    unit: { bytes in String(format: "%.1f MiB (%.0f B each)", bytes / 1_048_576, bytes / Double(rows)) }))
            }

            // Appends: encode + insert + feed row, 256 per durable transaction.
            let perSample = batch * batchesPerSample
            let appends = try alternate(samples: samples, files: (json, typed)) { file in
                let work = items(perSample, content)
                return try measure(operations: perSample) {
                    var start = 0
                    while start < perSample {
                        try file.append(work[start..<(start + batch)], user: user, createdAt: .now().truncatedToMilliseconds)
                        start += batch
                    }
                }
            }
            print(line("\(kind): append, wall per append", json: appends.json.wall, typed: appends.typed.wall, unit: duration))
            print(line("\(kind): append, CPU per append", json: appends.json.cpu, typed: appends.typed.cpu, unit: duration))

            // A feed page of 100: select + decode, spread over the feed.
            let reads = try alternate(samples: samples, files: (json, typed)) { file in
                var entries = 0
                let timing = try measure(operations: pagesPerSample) {
                    for index in 0..<pagesPerSample {
                        let after = Int64((index * 7_919) % max(1, rows - pageSize))
                        entries += try file.page(user: user, after: after, limit: pageSize).count
                    }
                }
                guard entries == pagesPerSample * pageSize else { throw ContentBenchError("a page came back short") }
                return timing
            }
            print(line("\(kind): feed page of \(pageSize), per page", json: reads.json.wall, typed: reads.typed.wall, unit: duration))
        }
    }

    /// Holds both layouts to the store before anything is timed: each layout
    /// reads back exactly the notifications the store's own feed read returns.
    static func check(in directory: String) async throws {
        let createdAt = Timestamp(microsecondsSince1970: 1_900_000_000_123_000)
        let items = checkedContents.enumerated().map { (id: "check-\($0.offset)", content: $0.element) }
        let storePath = directory + "/check-store.sqlite"
        let fromStore = try await SQLiteNotificationStore(
            path: storePath, configuration: SQLiteStoreConfiguration(maxFeedEntries: nil),
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        ).withRunning { store in
            try await store.putUser(User(id: 1))
            for item in items {
                _ = try await store.append(NewNotification(
                    id: item.id, createdAt: createdAt, content: item.content, recipients: .users([1]), idempotencyKey: nil))
            }
            return try await store.feed(user: 1, after: 0, limit: 1_000)
        }
        guard fromStore.map(\.content) == checkedContents else { throw ContentBenchError("the store read back other content") }
        for layout in ContentLayout.allCases {
            let file = try ContentFile(layout, path: "\(directory)/check-\(layout).sqlite")
            try file.append(items[...], user: 1, createdAt: createdAt)
            let read = try file.page(user: 1, after: 0, limit: 1_000)
            guard read == fromStore else { throw ContentBenchError("\(layout.rawValue) read back other notifications than the store") }
        }
    }

    private static func items(_ count: Int, _ content: NotificationContent) -> [(id: String, content: NotificationContent)] {
        (0..<count).map { _ in (id: UUID().uuidString, content: content) }
    }

    struct Timing {
        var wall: Double
        var cpu: Double
    }

    /// Wall and process CPU time of `body`, in nanoseconds per operation.
    private static func measure(operations: Int, _ body: () throws -> Void) rethrows -> Timing {
        let cpuStart = cpuNanoseconds()
        let start = ContinuousClock.now
        try body()
        let elapsed = (ContinuousClock.now - start).components
        let wall = Double(elapsed.seconds) * 1e9 + Double(elapsed.attoseconds) / 1e9
        return Timing(wall: wall / Double(operations), cpu: (cpuNanoseconds() - cpuStart) / Double(operations))
    }

    private static func cpuNanoseconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) * 1e9 + Double(now.tv_nsec)
    }

    /// `samples` of each layout, alternating which goes first; the medians.
    private static func alternate(
        samples: Int, files: (json: ContentFile, typed: ContentFile), _ body: (ContentFile) throws -> Timing
    ) throws -> (json: Timing, typed: Timing) {
        _ = try body(files.json)
        _ = try body(files.typed)
        var json: [Timing] = []
        var typed: [Timing] = []
        for sample in 0..<samples {
            if sample % 2 == 0 {
                json.append(try body(files.json))
                typed.append(try body(files.typed))
            } else {
                typed.append(try body(files.typed))
                json.append(try body(files.json))
            }
        }
        return (median(json), median(typed))
    }

    private static func median(_ timings: [Timing]) -> Timing {
        let walls = timings.map(\.wall).sorted()
        let cpus = timings.map(\.cpu).sorted()
        return Timing(wall: walls[walls.count / 2], cpu: cpus[cpus.count / 2])
    }

    private static func line(_ what: String, json: Double, typed: Double, unit: (Double) -> String) -> String {
        let label = "\(name): \(what)"
        let padded = label.count >= 58 ? label + " " : label + String(repeating: " ", count: 58 - label.count)
        return padded + "JSON \(unit(json)), typed \(unit(typed)), ratio " + String(format: "%.2f", typed / json)
    }

    private static func duration(_ nanoseconds: Double) -> String {
        nanoseconds >= 1e3 ? String(format: "%.2f µs", nanoseconds / 1e3) : String(format: "%.0f ns", nanoseconds)
    }
}
