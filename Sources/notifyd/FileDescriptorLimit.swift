import ArgumentParser
import Foundation
import Logging

/// The process's limit on open files (RLIMIT_NOFILE), which bounds the
/// connections it can hold.
///
/// Distributions start services with a soft limit of 1024 and a hard limit
/// far above it; each connection costs one descriptor, so notifyd raises the
/// soft limit to the hard one at start, then checks that its connection caps
/// fit under it with room for its own files.
enum FileDescriptorLimit {
    /// Descriptors kept for everything that is not a client connection: the
    /// SQLite files and their WAL, the listeners, event-loop internals,
    /// certificates being read, the gateway's upstream pool.
    static let reserve = 256

    /// Raises the soft limit to the hard limit.
    ///
    /// - Returns: the soft limit now in force; nil when it could not be read.
    static func raise() -> Int? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// The RPC connection cap to use under `limit` descriptors.
    ///
    /// - Parameters:
    ///   - requested: `--max-connections`, or nil for its default.
    ///   - otherConnections: the gateway's `--http-max-connections` (0 without it).
    /// - Returns: `requested`, or the default lowered to what fits.
    /// - Throws: `ValidationError` when an explicit `--max-connections` does not fit.
    static func connectionCap(
        requested: Int?, default defaultCap: Int, otherConnections: Int, limit: Int?, logger: Logger
    ) throws -> Int {
        let cap = requested ?? defaultCap
        guard let limit else { return cap }
        let fits = limit - otherConnections - reserve
        guard cap > fits else { return cap }
        if requested != nil {
            throw ValidationError(
                "--max-connections \(cap) plus --http-max-connections \(otherConnections) and \(reserve) descriptors for "
                    + "the server's own files exceed the open-file limit (\(limit), ulimit -n): raise the limit or lower the caps"
            )
        }
        let lowered = max(16, fits)
        logger.notice(
            "the default connection cap does not fit the open-file limit: lowered",
            metadata: [
                "notify.connections.limit": "\(lowered)", "notify.nofile.limit": "\(limit)",
                "notify.http.connections.limit": "\(otherConnections)",
            ]
        )
        return lowered
    }

    #if canImport(Glibc)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif
}
