import Foundation
import NotifyStorage
import NotifyStorageSQLite
import Testing

/// The settings the conformance suite needs of every store implementation,
/// each mapped to the implementation's own configuration.
struct ConformanceOptions: Sendable {
    /// The most entries one feed holds; nil: no bound.
    var maxFeedEntries: Int64?
    /// Write every connections audience the way the implementation writes
    /// its largest ones (SQLite: a background fan-out job in small batches).
    var largeAudiences = false
    /// How long entries without an expiration are kept; nil: for ever.
    var retention: Duration?
    /// Run the store's sweeper (often); off by default, so a test sees rows
    /// stay until it asks for sweeping.
    var sweeps = false
}

/// Where one store's data lives: an implementation opens stores on it, one
/// after another, so that the suite can stop a store and open its data again.
protocol StoreLocation: Sendable {
    /// A store on this location's data, not yet running.
    func open(_ options: ConformanceOptions) throws -> any NotificationStore
    /// Deletes the data.
    func remove()
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

    static let all: [StoreBackend] = [.sqlite]

    static let sqlite = StoreBackend(name: "SQLite") { try SQLiteLocation() }

    /// Runs `body` with a store on a new location, running, then stops the
    /// store and deletes its data.
    func withStore<T>(
        _ options: ConformanceOptions = .init(), _ body: (any NotificationStore) async throws -> T
    ) async throws -> T {
        let location = try makeLocation()
        defer { location.remove() }
        return try await location.withStore(options, body)
    }

    /// ``withStore(_:_:)``, with the location too.
    func withStore<T>(
        _ options: ConformanceOptions, _ body: (any NotificationStore, any StoreLocation) async throws -> T
    ) async throws -> T {
        let location = try makeLocation()
        defer { location.remove() }
        return try await location.withStore(options) { try await body($0, location) }
    }
}

extension StoreLocation {
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
        configuration.retention = options.retention
        configuration.sweepInterval = options.sweeps ? .milliseconds(100) : .zero
        configuration.sweepBatchSize = 3
        return try database.open(configuration)
    }

    func storedRows(_ store: any NotificationStore) async throws -> (notifications: Int, feedEntries: Int) {
        let sqlite = try #require(store as? SQLiteNotificationStore)
        return try await sqlite.storedRowCounts()
    }

    func remove() {
        database.remove()
    }
}
