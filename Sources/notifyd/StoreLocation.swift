import ArgumentParser
import Foundation
import NotifyStorage
import NotifyStoragePostgres
import NotifyStorageSQLite

/// Where `serve` and `admin` keep their data, chosen at start from `--store`:
/// the embedded SQLite file in `--data-dir` (the default), or a PostgreSQL
/// database that several instances may share.
enum StoreLocation {
    case sqlite(path: String)
    case postgres(PostgresStoreConfiguration)

    /// Reads `--store` (and `--store-connections`), and for PostgreSQL its
    /// password, as libpq finds it (``PostgresPassword``).
    /// - Parameters:
    ///   - environment: the process's environment, for the PG* variables.
    ///   - warn: told why a password file was ignored.
    /// - Throws: `ValidationError` for a URL that is not one, or that holds a password.
    static func read(
        _ settings: Settings, dataDir: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        warn: (String) -> Void
    ) throws -> StoreLocation {
        let connections = try settings.int(.storeConnections)
        guard let url = try settings.string(.store) else {
            guard connections == nil else {
                throw ValidationError("--store-connections applies to a postgres:// --store only")
            }
            return .sqlite(path: Storage.databasePath(dataDir))
        }
        var configuration: PostgresStoreConfiguration
        do {
            configuration = try PostgresStoreConfiguration(url: url)
        } catch {
            throw ValidationError("--store: \(error.message)")
        }
        if let connections {
            guard (3...1000).contains(connections) else {
                throw ValidationError("--store-connections must be between 3 and 1000")
            }
            configuration.maximumConnections = connections
        }
        configuration.password = PostgresPassword.find(
            for: .init(
                host: configuration.host, port: configuration.port, database: configuration.database,
                username: configuration.username),
            environment: environment, warn: warn)
        return .postgres(configuration)
    }
}

extension PostgresStoreConfiguration {
    /// Takes the retention, feed bound and sweep settings that `serve` read
    /// for the SQLite store: the two stores share their flags. The sweep's
    /// and the fan-out's budgets only when given (microseconds): each store
    /// has defaults of its own.
    mutating func apply(_ settings: SQLiteStoreConfiguration, sweepBudget: Int?, fanOutBudget: Int?) {
        maxFeedEntries = settings.maxFeedEntries
        retention = settings.retention
        sweepInterval = settings.sweepInterval
        sweepBatchSize = settings.sweepBatchSize
        if let sweepBudget { sweepTransactionBudget = .microseconds(sweepBudget) }
        if let fanOutBudget { fanOutTransactionBudget = .microseconds(fanOutBudget) }
    }
}
