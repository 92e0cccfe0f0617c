import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import Testing

@Suite("Overload: the server sheds what it cannot serve and loses nothing it acknowledged")
struct OverloadTests {
    @Test("offered far more than its capacity, it answers OVERLOADED at once, and every OK is stored")
    func shedsLoad() async throws {
        try await withTestServer(configure: { $0.maxCallsInFlight = 16 }) { server in
            let token = try await server.adminToken()
            let request = NotifyRequest(
                recipientsType: "user", type: "overload", title: .value("x"), description: .null, user: 1_000_000
            )
            // 8 connections × 250 calls at once: far past 16 running calls.
            let clients = (0..<8).map { _ in server.client() }
            let outcomes = try await withThrowingTaskGroup(of: Result<String, RPCError>.self) { group in
                for client in clients {
                    for _ in 0..<250 {
                        group.addTask {
                            do throws(RPCError) {
                                return .success(try await client.notify(request, metadata: .bearer(token)).id)
                            } catch {
                                return .failure(error)
                            }
                        }
                    }
                }
                var outcomes: [Result<String, RPCError>] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            for client in clients { await client.close() }

            let accepted = outcomes.compactMap { try? $0.get() }
            let refused = outcomes.compactMap { outcome -> RPCError? in
                if case .failure(let error) = outcome { return error }
                return nil
            }
            #expect(outcomes.count == 2000)
            #expect(!accepted.isEmpty)
            #expect(!refused.isEmpty, "nothing was shed")
            for error in refused {
                #expect(error.code == .resourceExhausted)
                #expect(error.reason == .overloaded)
                #expect(error.metadata["retry-after"] == "1")
            }
            // Every acknowledged notification is in the issuer's feed, exactly once.
            let feed = try await server.store.feed(user: 1_000_000, after: 0, limit: 10_000)
            #expect(Set(feed.map(\.id)) == Set(accepted))
            #expect(feed.count == accepted.count)
            try await expectHealthy(server)
        }
    }
}
