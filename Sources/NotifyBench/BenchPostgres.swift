import Foundation
import Logging
import NotifyStorage
import NotifyStoragePostgres

/// The PostgreSQL side of the store benchmarks (sweep, fan-out).
enum BenchPostgres {
    /// Runs a store with `configuration` on a schema of its own, named after
    /// `name` and this process, while `body` runs; then drops the schema,
    /// whether `body` threw or not.
    static func withStore<T>(
        _ configuration: PostgresStoreConfiguration, url: String, name: String,
        _ body: (PostgresNotificationStore) async throws -> T
    ) async throws -> T {
        var configuration = configuration
        let schema = "notify_bench_\(name)_\(getpid())"
        configuration.schema = schema
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let result: T
        do {
            result = try await PostgresNotificationStore(configuration: configuration, logger: logger).withRunning(body)
        } catch {
            try? await PostgresNotificationStore.dropSchema(url: url, schema: schema)
            throw error
        }
        try await PostgresNotificationStore.dropSchema(url: url, schema: schema)
        return result
    }
}
