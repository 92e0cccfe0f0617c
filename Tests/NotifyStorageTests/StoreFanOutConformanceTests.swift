import Foundation
import MetricsTestKit
import NotifyDomain
import NotifyStorage
import Testing

/// The background fan-out's promises, on every backend: a job reads its
/// audience from the connections as it goes (docs/PROTOCOL.md, "Large
/// audiences"), commits each batch with its cursor, and a job stopped
/// midway finishes when the data is opened again, every follower getting
/// the entry exactly once.
@Suite("Store conformance: background fan-out")
struct StoreFanOutConformanceTests {
    /// Each of `users` has exactly one entry, `id`, numbered 1; waits up to a minute for it.
    private func expectEachOnce(_ store: any NotificationStore, users: ClosedRange<Int64>, id: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var missing: [Int64] = []
        repeat {
            missing = []
            for user in users where try await store.feed(user: user, after: 0, limit: 10).isEmpty { missing.append(user) }
            if missing.isEmpty { break }
            try await Task.sleep(for: .milliseconds(20))
        } while ContinuousClock.now < deadline
        #expect(missing.isEmpty, "no entry yet for \(missing.count) followers")
        for user in users {
            let feed = try await store.feed(user: user, after: 0, limit: 10)
            #expect(feed.map(\.id) == [id], "user \(user)")
            #expect(feed.map(\.sequence) == [1], "user \(user)")
        }
    }

    @Test(
        "a fan-out job stopped midway completes once its data is opened again: every follower has the entry exactly once",
        .timeLimit(.minutes(3)), arguments: StoreBackend.all)
    func resumesAfterStop(backend: StoreBackend) async throws {
        let followers = Int64(2)...Int64(81)
        let slow = ConformanceOptions(largeAudiences: true, fanOutPause: .milliseconds(20))
        let location = try backend.makeLocation()
        try await location.removing {
            let midway = try await location.withStore(slow) { store in
                for id in Int64(1)...81 { try await store.putUser(User(id: id)) }
                for id in followers { try await store.putConnection(Connection(user: id, to: 1, kind: .follow)) }
                let result = try await store.append(Sample.notification(id: "big", to: .connections(of: 1, mode: .follow)))
                #expect(result.recipients == 80)
                #expect(result.first?.user == 2)
                // Stopped once the job has begun and before it ends: batches of
                // two with a rest of 20 ms take about a second for 80 followers.
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline, try await store.feed(user: 10, after: 0, limit: 1).isEmpty {
                    try await Task.sleep(for: .milliseconds(2))
                }
                return try await store.feed(user: 81, after: 0, limit: 1).isEmpty
            }
            #expect(midway, "the job finished before the store stopped")
            try await location.withStore(ConformanceOptions(largeAudiences: true)) { store in
                try await expectEachOnce(store, users: followers, id: "big")
                #expect(try await store.feed(user: 1, after: 0, limit: 10).isEmpty)
                // The feeds go on from there, gapless.
                let next = try await store.append(Sample.notification(id: "after", to: .users([81])))
                #expect(next.first?.sequence == 2)
            }
        }
    }

    @Test(
        "the fan-out backlog gauge counts the jobs not yet finished and ends at 0",
        .timeLimit(.minutes(2)), arguments: StoreBackend.all)
    func backlogGauge(backend: StoreBackend) async throws {
        let metrics = TestMetrics()
        let label = backend.name == "PostgreSQL" ? "postgres" : "sqlite"
        let options = ConformanceOptions(largeAudiences: true, metrics: StoreMetrics(factory: metrics, store: label))
        let location = try backend.makeLocation()
        try await location.removing {
            try await location.withStore(options) { store in
                for id in Int64(1)...41 { try await store.putUser(User(id: id)) }
                for id in Int64(2)...41 { try await store.putConnection(Connection(user: id, to: 1, kind: .follow)) }
                // Two jobs: once the first finishes, one is left.
                for id in ["one", "two"] {
                    _ = try await store.append(Sample.notification(id: id, to: .connections(of: 1, mode: .follow)))
                }
                try await expectEachHas(store, users: Int64(2)...Int64(41), ids: ["one", "two"])
                let gauge = try metrics.expectGauge(StoreMetrics.Name.fanOutBacklog, [("store", label)])
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline, gauge.lastValue != 0 {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(gauge.values.contains(1), "\(gauge.values)")
                #expect(gauge.lastValue == 0, "\(gauge.values)")
            }
        }
    }

    /// Each of `users` has `ids`, in that order; waits up to a minute.
    private func expectEachHas(_ store: any NotificationStore, users: ClosedRange<Int64>, ids: [String]) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        for user in users {
            while try await store.feed(user: user, after: 0, limit: 10).count < ids.count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await store.feed(user: user, after: 0, limit: 10).map(\.id) == ids, "user \(user)")
        }
    }

    @Test(
        "a large audience's answer is its count at the call, through added, repeated and removed connections and deleted users",
        arguments: StoreBackend.all)
    func countedAtTheCall(backend: StoreBackend) async throws {
        try await backend.withStore(ConformanceOptions(largeAudiences: true, runsFanOut: false)) { store in
            let users = Int64(1)...30
            for id in users { try await store.putUser(User(id: id)) }
            // The connections as stored: a friendship once, either way round.
            var stored = Set<Connection>()
            func key(_ connection: Connection) -> Connection {
                connection.kind == .friend
                    ? Connection(user: min(connection.user, connection.to), to: max(connection.user, connection.to), kind: .friend)
                    : connection
            }
            var generator = SystemRandomNumberGenerator()
            var made: [Connection] = []
            for _ in 0..<300 {
                let user = Int64.random(in: users, using: &generator)
                // Issuers 1 and 2 get most of them; a self-connection is in no audience.
                let to = Bool.random(using: &generator) ? Int64.random(in: 1...2, using: &generator) : Int64.random(in: users, using: &generator)
                made.append(Connection(user: user, to: to, kind: Bool.random(using: &generator) ? .friend : .follow))
            }
            for connection in made + made.shuffled() {
                try await store.putConnection(connection)
                stored.insert(key(connection))
            }
            for connection in made.prefix(40) where try await store.deleteConnection(connection) {
                stored.remove(key(connection))
            }
            for deleted in [Int64(7), 8] {
                #expect(try await store.deleteUser(id: deleted))
                stored = stored.filter { $0.user != deleted && $0.to != deleted }
            }
            try await store.putUser(User(id: 7))
            for (index, issuer) in [Int64(1), 2].enumerated() {
                let followers = stored.filter { $0.kind == .follow && $0.to == issuer && $0.user != issuer }.count
                let friends = stored.filter { $0.kind == .friend && $0.user != $0.to && ($0.user == issuer || $0.to == issuer) }.count
                #expect(followers > 1 && friends > 1, "a large audience each")
                let toFollowers = try await store.append(
                    Sample.notification(id: "follow\(index)", to: .connections(of: issuer, mode: .follow)))
                #expect(toFollowers.recipients == UInt64(followers), "followers of \(issuer)")
                let toFriends = try await store.append(
                    Sample.notification(id: "friends\(index)", to: .connections(of: issuer, mode: .friendship)))
                #expect(toFriends.recipients == UInt64(friends), "friends of \(issuer)")
            }
        }
    }

    @Test(
        "a job reads the audience as it runs: a follower added past its cursor receives the entry, one removed before his batch does not",
        arguments: StoreBackend.all)
    func audienceReadAsItRuns(backend: StoreBackend) async throws {
        let location = try backend.makeLocation()
        try await location.removing {
            try await location.withStore(ConformanceOptions(largeAudiences: true, runsFanOut: false)) { store in
                for id in Int64(1)...12 { try await store.putUser(User(id: id)) }
                for id in Int64(2)...10 { try await store.putConnection(Connection(user: id, to: 1, kind: .follow)) }
                let result = try await store.append(Sample.notification(id: "big", to: .connections(of: 1, mode: .follow)))
                // The audience when the call committed; the first recipient's entry is in the answer.
                #expect(result.recipients == 9)
                #expect(result.first?.user == 2)
                #expect(try await store.feed(user: 2, after: 0, limit: 10).map(\.id) == ["big"])
                #expect(try await store.feed(user: 3, after: 0, limit: 10).isEmpty)
                // While the job waits: 11 follows, 5 stops following.
                try await store.putConnection(Connection(user: 11, to: 1, kind: .follow))
                #expect(try await store.deleteConnection(Connection(user: 5, to: 1, kind: .follow)))
            }
            try await location.withStore(ConformanceOptions(largeAudiences: true)) { store in
                let expected: [Int64] = [2, 3, 4, 6, 7, 8, 9, 10, 11]
                let deadline = ContinuousClock.now + .seconds(60)
                var reached: [Int64] = []
                repeat {
                    reached = []
                    for user in Int64(1)...12 where try await !store.feed(user: user, after: 0, limit: 10).isEmpty {
                        reached.append(user)
                    }
                    if reached == expected { break }
                    try await Task.sleep(for: .milliseconds(20))
                } while ContinuousClock.now < deadline
                #expect(reached == expected)
                for user in expected {
                    #expect(try await store.feed(user: user, after: 0, limit: 10).map(\.id) == ["big"])
                }
            }
        }
    }
}
