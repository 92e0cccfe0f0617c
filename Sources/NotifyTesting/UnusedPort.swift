import NIOCore
import NIOPosix

/// A loopback port with nothing listening on it, for a test that starts a
/// server there later (after its client has found nothing).
///
/// Chosen below Linux's ephemeral range (32768 and up): a port from
/// `bind(port: 0)`, closed and bound again later, can meanwhile become the
/// local port of another test's connection, and the second bind then fails
/// with "Address already in use" (seen once in a full run).
public func unusedPortOutsideEphemeralRange() async throws -> Int {
    for candidate in (20_000..<32_000).shuffled().prefix(100) {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        guard let probe = try? await bootstrap.bind(host: "127.0.0.1", port: candidate).get() else { continue }
        try await probe.close()
        return candidate
    }
    throw NoUnusedPort()
}

/// A hundred ports below the ephemeral range were all taken.
public struct NoUnusedPort: Error {}
