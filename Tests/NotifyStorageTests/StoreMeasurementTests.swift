import Foundation
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite
import Testing

/// Larger workloads. They print their timings (the numbers vary by machine
/// and are not asserted beyond generous bounds).
@Suite("SQLite notification store at scale")
struct StoreMeasurementTests {
    @Test("a user with 100,000 followers: the call answers fast, the background fan-out reaches them all")
    func hundredThousandFollowers() async throws {
        try await withStore { store, _ in
            let followers = 100_000
            try await store.putUsers((0...Int64(followers)).map { User(id: $0) })
            try await store.putConnections((1...Int64(followers)).map { Connection(user: $0, to: 0, kind: .follow) })

            let clock = ContinuousClock()
            let start = clock.now
            let result = try await store.append(Sample.notification(id: "celebrity", to: .connections(of: 0, mode: .follow)))
            let answered = clock.now
            #expect(result.recipients == UInt64(followers))
            #expect(result.first?.user == 1)
            #expect(try await waitForFanOut(store, timeout: .seconds(300)))
            let finished = clock.now

            let statistics = store.statistics
            #expect(statistics.fanOutJobsCreated == 1)
            #expect(statistics.fanOutJobsCompleted == 1)
            #expect(statistics.fanOutRowsWritten == followers - 1)
            for user in [Int64(1), 2, 50_000, Int64(followers)] {
                #expect(try await store.feed(user: user, after: 0, limit: 10).map(\.id) == ["celebrity"])
            }
            #expect(try await store.feed(user: 0, after: 0, limit: 10).isEmpty)
            // A later small append still finds every feed head in order.
            let next = try await store.append(Sample.notification(id: "next", to: .users([Int64(followers)])))
            #expect(next.first?.sequence == 2)

            print(
                "measurement: append to \(followers) followers answered in \(answered - start); "
                    + "background fan-out done \(finished - answered) later, in \(statistics.fanOutTransactions) transactions")
            #expect(answered - start < .seconds(30))
        }
    }

    @Test("group commit against one transaction per append (timings printed, not asserted)")
    func groupCommitThroughput() async throws {
        let count = 2_000
        try await withStore { store, _ in
            let clock = ContinuousClock()
            let sequentialStart = clock.now
            for i in 0..<count {
                _ = try await store.append(Sample.notification(id: "s\(i)", to: .users([Int64(i % 50)])))
            }
            let sequential = clock.now - sequentialStart
            let sequentialTransactions = store.statistics.appendTransactions

            let concurrentStart = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<count {
                    group.addTask {
                        _ = try await store.append(Sample.notification(id: "c\(i)", to: .users([Int64(i % 50)])))
                    }
                }
                try await group.waitForAll()
            }
            let concurrent = clock.now - concurrentStart
            let concurrentTransactions = store.statistics.appendTransactions - sequentialTransactions

            #expect(sequentialTransactions == count)
            #expect(concurrentTransactions < count)
            for user in Int64(0)..<50 {
                let feed = try await store.feed(user: user, after: 0, limit: 1_000)
                #expect(feed.map(\.sequence) == (1...UInt64(2 * count / 50)).map { $0 })
            }
            func rate(_ duration: Duration) -> Int {
                let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
                return Int(Double(count) / seconds)
            }
            print(
                "measurement: \(count) sequential appends: \(sequential), \(rate(sequential)) rows/s, "
                    + "\(sequentialTransactions) transactions; \(count) concurrent appends: \(concurrent), "
                    + "\(rate(concurrent)) rows/s, \(concurrentTransactions) transactions")
        }
    }
}
