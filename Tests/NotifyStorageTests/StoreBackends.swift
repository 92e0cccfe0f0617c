import Foundation
import Logging
import NotifyStorage
import NotifyStoragePostgres
import NotifyStorageSQLite
import Testing

/// The settings the conformance suite needs of every store implementation,
/// each mapped to the implementation's own configuration.
struct ConformanceOptions: Sendable {
    /// The most entries one feed holds; nil: no bound.
    var maxFeedEntries: Int64?
    /// Write every connections audience the way the implementation writes
    /// its largest ones: a background fan-out job, in batches of two.
    var largeAudiences = false
    /// Whether the store runs its background fan-out (off: jobs wait).
    var runsFanOut = true
    /// A rest after each fan-out batch, to catch a job midway.
    var fanOutPause: Duration = .zero
    /// How long entries without an expiration are kept; nil: for ever.
    var retention: Duration?
    /// Run the store's sweeper (often); off by default, so a test sees rows
    /// stay until it asks for sweeping.
    var sweeps = false
    /// Where the store records its metrics.
    var metrics: StoreMetrics = .disabled
}

/// Where one store's data lives: an implementation opens stores on it, one
/// after another, so that the suite can stop a store and open its data again.
protocol StoreLocation: Sendable {
    /// A store on this location's data, not yet running.
    func open(_ options: ConformanceOptions) throws -> any NotificationStore
    /// Deletes the data.
    func remove()
    /// Deletes the data and returns once it is gone (by default, ``remove()``).
    func removeNow() async
    /// How many notifications and feed entries `store` (opened here) holds,
    /// expired ones not yet swept included.
    func storedRows(_ store: any NotificationStore) async throws -> (notifications: Int, feedEntries: Int)
}

/// A store implementation under test. Each entry of ``all`` runs every test
/// of ``StoreConformanceTests``; a new backend adds one entry here.
struct StoreBackend: Sendable, CustomTestStringConvertible {
    let name: String
    /// A new, empty location.
    let makeLocation: @Sendable () throws -> any StoreLocation

    var testDescription: String { name }

    /// SQLite always; PostgreSQL when a server is given (``PostgresTestServer``),
    /// and in CI always (there, a missing server fails its tests).
    static let all: [StoreBackend] = [.sqlite] + (PostgresTestServer.runs ? [.postgres] : [])

    static let sqlite = StoreBackend(name: "SQLite") { try SQLiteLocation() }

    static let postgres = StoreBackend(name: "PostgreSQL") { try PostgresLocation() }

    /// Runs `body` with a store on a new location, running, then stops the
    /// store and deletes its data.
    func withStore<T>(
        _ options: ConformanceOptions = .init(), _ body: (any NotificationStore) async throws -> T
    ) async throws -> T {
        let location = try makeLocation()
        return try await location.removing { try await location.withStore(options, body) }
    }

    /// ``withStore(_:_:)``, with the location too.
    func withStore<T>(
        _ options: ConformanceOptions, _ body: (any NotificationStore, any StoreLocation) async throws -> T
    ) async throws -> T {
        let location = try makeLocation()
        return try await location.removing { try await location.withStore(options) { try await body($0, location) } }
    }
}

extension StoreLocation {
    /// ``remove()``, for a location whose removal is done when it returns.
    func removeNow() async {
        remove()
    }

    /// Runs `body`, then deletes the data, whatever `body` did.
    func removing<T>(_ body: () async throws -> T) async throws -> T {
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try await body())
        } catch {
            outcome = .failure(error)
        }
        await removeNow()
        return try outcome.get()
    }

    /// Opens a store on this location, runs it while `body` runs, then stops it.
    func withStore<T>(
        _ options: ConformanceOptions = .init(), _ body: (any NotificationStore) async throws -> T
    ) async throws -> T {
        try await Self.run(try open(options), body)
    }

    private static func run<Store: NotificationStore, T>(
        _ store: Store, _ body: (any NotificationStore) async throws -> T
    ) async throws -> T {
        try await store.withRunning { try await body($0) }
    }
}

/// The SQLite store on a file in a temporary directory.
struct SQLiteLocation: StoreLocation {
    let database: TemporaryDatabase

    init() throws {
        database = try TemporaryDatabase()
    }

    func open(_ options: ConformanceOptions) throws -> any NotificationStore {
        var configuration = SQLiteStoreConfiguration()
        configuration.maxFeedEntries = options.maxFeedEntries
        if options.largeAudiences {
            configuration.inlineFanOutLimit = 1
            configuration.fanOutBatchSize = 2
        }
        configuration.runsBackgroundFanOut = options.runsFanOut
        configuration.fanOutPause = options.fanOutPause
        configuration.retention = options.retention
        configuration.sweepInterval = options.sweeps ? .milliseconds(100) : .zero
        configuration.sweepBatchSize = 3
        return try database.open(configuration, metrics: options.metrics)
    }

    func storedRows(_ store: any NotificationStore) async throws -> (notifications: Int, feedEntries: Int) {
        let sqlite = try #require(store as? SQLiteNotificationStore)
        return try await sqlite.storedRowCounts()
    }

    func remove() {
        database.remove()
    }
}

/// The PostgreSQL server the tests use: `NOTIFY_TEST_POSTGRES`, set by
/// scripts/postgres.sh (scripts/test.sh runs the suites inside it).
enum PostgresTestServer {
    static let url: String? = ProcessInfo.processInfo.environment["NOTIFY_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
    /// Whether the PostgreSQL backend runs: with a server, or in CI (where
    /// its absence must fail, not pass unseen).
    static let runs = url != nil || inCI
    static let missing = "NOTIFY_TEST_POSTGRES is not set: run the tests through scripts/postgres.sh (scripts/test.sh does)"
}

/// The PostgreSQL store in a schema of its own on the test server, so that
/// tests run at once without meeting; the store creates the schema when it
/// first runs.
struct PostgresLocation: StoreLocation {
    let url: String
    let schema: String

    struct NoServer: Error, CustomStringConvertible {
        var description: String { PostgresTestServer.missing }
    }

    init() throws {
        guard let url = PostgresTestServer.url else { throw NoServer() }
        self.url = url
        schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    func open(_ options: ConformanceOptions) throws -> any NotificationStore {
        var configuration = try PostgresStoreConfiguration(url: url)
        configuration.schema = schema
        configuration.maximumConnections = 4
        configuration.maxFeedEntries = options.maxFeedEntries
        configuration.retention = options.retention
        configuration.sweepInterval = options.sweeps ? .milliseconds(100) : .zero
        configuration.sweepBatchSize = 3
        if options.largeAudiences {
            configuration.inlineFanOutLimit = 1
            configuration.fanOutBatchSize = 2
        }
        configuration.runsBackgroundFanOut = options.runsFanOut
        configuration.fanOutPause = options.fanOutPause
        configuration.fanOutPollInterval = .milliseconds(50)
        var logger = Logger(label: "notify.storage.tests.postgres")
        logger.logLevel = .warning
        return try PostgresNotificationStore(configuration: configuration, logger: logger, metrics: options.metrics)
    }

    func storedRows(_ store: any NotificationStore) async throws -> (notifications: Int, feedEntries: Int) {
        let postgres = try #require(store as? PostgresNotificationStore)
        return try await postgres.storedRowCounts()
    }

    /// Drops the schema, and returns once it is dropped.
    func removeNow() async {
        try? await PostgresNotificationStore.dropSchema(url: url, schema: schema)
    }

    /// Drops the schema, in the background: `remove()` is synchronous and
    /// must not block the caller's thread. Best effort: what a crashed test
    /// leaves goes with the throwaway server.
    func remove() {
        let (url, schema) = (url, schema)
        Task.detached {
            try? await PostgresNotificationStore.dropSchema(url: url, schema: schema)
        }
    }
}
