// notify-bench: micro-benchmarks of the hot paths. Build in release:
//   swift run -c release notify-bench [--filter NAME] [--samples N] [--content-rows N] [--feed-entries N]
//     [--sweep-entries N] [--sweep-rate N] [--sweep-batch N] [--sweep-budget MS] [--sweep-rounds N]
//     [--sweep-probe S] [--sweep-quiet-budget MS] [--sweep-store postgres://...] [--sweep-to-swept]
//     [--fan-out-followers N] [--fan-out-rate N] [--fan-out-budget MS] [--fan-out-rounds N] [--fan-out-store postgres://...]
// docs/PERFORMANCE.md records its output with the command that produced it.
import Foundation
import Logging
import NIOCore
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyStorage
import NotifyStorageSQLite
import NotifyWire
import NotifyJSON

@main
struct NotifyBench {
    static func main() async throws {
        var harness = Harness()
        var contentRows = 100_000
        var feedEntries = 1_000_000
        var sweep = SweepBench.Options()
        var fanOut = FanOutBench.Options()
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = arguments.next() {
            switch argument {
            case "--filter": harness.filter = arguments.next()
            case "--samples": harness.samples = arguments.next().flatMap(Int.init) ?? harness.samples
            case "--content-rows": contentRows = arguments.next().flatMap(Int.init) ?? contentRows
            case "--feed-entries": feedEntries = arguments.next().flatMap(Int.init) ?? feedEntries
            case "--sweep-entries": sweep.entries = arguments.next().flatMap(Int.init) ?? sweep.entries
            case "--sweep-rate": sweep.rate = arguments.next().flatMap(Int.init) ?? sweep.rate
            case "--sweep-batch": sweep.batch = arguments.next().flatMap(Int.init)
            case "--sweep-budget": sweep.budget = arguments.next().flatMap(Double.init).map { .microseconds(Int64($0 * 1_000)) }
            case "--sweep-rounds": sweep.rounds = arguments.next().flatMap(Int.init) ?? sweep.rounds
            case "--sweep-probe": sweep.probeInterval = arguments.next().flatMap(Double.init) ?? sweep.probeInterval
            case "--sweep-quiet-budget":
                sweep.quietBudget = arguments.next().flatMap(Double.init).map { .microseconds(Int64($0 * 1_000)) } ?? sweep.quietBudget
            case "--sweep-store": sweep.postgres = arguments.next()
            case "--sweep-to-swept": sweep.toSwept = true
            case "--fan-out-followers": fanOut.followers = arguments.next().flatMap(Int.init) ?? fanOut.followers
            case "--fan-out-rate": fanOut.rate = arguments.next().flatMap(Int.init) ?? fanOut.rate
            case "--fan-out-budget": fanOut.budget = arguments.next().flatMap(Double.init).map { .microseconds(Int64($0 * 1_000)) }
            case "--fan-out-rounds": fanOut.rounds = arguments.next().flatMap(Int.init) ?? fanOut.rounds
            case "--fan-out-store": fanOut.postgres = arguments.next()
            default:
                print(
                    "usage: notify-bench [--filter NAME] [--samples N] [--content-rows N] [--feed-entries N] "
                        + "[--sweep-entries N] [--sweep-rate N] [--sweep-batch N] [--sweep-budget MS] [--sweep-rounds N] "
                        + "[--sweep-probe S] [--sweep-quiet-budget MS] [--sweep-store postgres://...] [--sweep-to-swept] "
                        + "[--fan-out-followers N] [--fan-out-rate N] [--fan-out-budget MS] [--fan-out-rounds N] "
                        + "[--fan-out-store postgres://...]")
                exit(2)
            }
        }

        print(Harness.header())

        // A typical Notify call as it travels: envelope with metadata and payload.
        let notify = NotifyRequest(
            recipientsType: "user", type: "wishlist_add",
            embed: EmbedInput(embedType: "product", embedID: "42", url: "https://example.com/p/42", metadataJSON: "{}"),
            title: .value("Alice added an item to her wishlist"), description: .null, user: 3
        )
        let notifyPayload = notify.serializedBuffer()
        var metadata = Metadata()
        metadata.add("authorization", "Bearer ntf_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
        metadata.add("x-request-id", "71e62feb-8d72-4912-8b2c-4cee9d89e781")
        let request = Frame.request(RequestFrame(
            callID: 123_456, method: Methods.notify, metadata: metadata, timeoutMilliseconds: 5000, payload: notifyPayload
        ))
        let response = Frame.response(ResponseFrame(
            callID: 123_456, status: .ok, metadata: ["x-request-id": "71e62feb-8d72-4912-8b2c-4cee9d89e781"],
            payload: NotifyResponse(id: "119081f2-f19d-4fa8-817c-7e01092c0f7d", recipients: 1).serializedBuffer()
        ))

        var scratch = ByteBufferAllocator().buffer(capacity: 4096)
        var encodedRequest = ByteBuffer()
        try request.encode(into: &encodedRequest)
        let requestBody = encodedRequest.getSlice(at: Limits.frameHeaderSize, length: encodedRequest.readableBytes - Limits.frameHeaderSize) ?? ByteBuffer()
        print("request frame: \(encodedRequest.readableBytes) bytes")

        try harness.measure("frame encode: request envelope", iterations: 200_000) {
            scratch.clear()
            try request.encode(into: &scratch)
            return scratch.readableBytes
        }
        try harness.measure("frame encode: response envelope", iterations: 200_000) {
            scratch.clear()
            try response.encode(into: &scratch)
            return scratch.readableBytes
        }
        try harness.measure("frame decode: request envelope", iterations: 200_000) {
            if case .request(let decoded) = try Frame.decode(payload: requestBody) { return decoded.payload.readableBytes }
            return 0
        }

        // The decoder over a buffer holding 64 pipelined frames, as a read burst delivers them.
        var burst = ByteBuffer()
        for _ in 0..<64 { try request.encode(into: &burst) }
        try harness.measure("frame decoder: 64-frame read burst, per frame", iterations: 5_000, operationsPerIteration: 64) {
            var decoder = FrameDecoder()
            var buffer = burst
            var count = 0
            while let frame = try decoder.decode(buffer: &buffer) {
                if case .request = frame { count += 1 }
            }
            return count
        }

        let send = SendNotificationRequest(
            targetHostName: "graphnotifications.sample.windows.com", appNotificationID: "testDirectToastNotification",
            groupName: "TestGroup", expirationDateTime: "2019-10-30T23:59:00.000Z",
            payload: PayloadInput(visualContent: VisualContentInput(title: "Hello World!", body: "Notifications are Great!")),
            platformTypes: ["windows", "ios", "android"], priority: "High", displayTimeToLive: 60
        )
        let sendPayload = send.serializedBuffer()
        harness.measure("protobuf-c pack: NotifyRequest", iterations: 200_000) {
            scratch.clear()
            notify.serialize(into: &scratch)
            return scratch.readableBytes
        }
        try harness.measure("protobuf-c unpack: NotifyRequest", iterations: 200_000) {
            try NotifyRequest(serializedBytes: notifyPayload).user.map { Int($0) } ?? 0
        }
        harness.measure("protobuf-c pack: SendNotificationRequest", iterations: 200_000) {
            scratch.clear()
            send.serialize(into: &scratch)
            return scratch.readableBytes
        }
        try harness.measure("protobuf-c unpack: SendNotificationRequest", iterations: 200_000) {
            try SendNotificationRequest(serializedBytes: sendPayload).displayTimeToLive.map { Int($0) } ?? 0
        }

        // The gateway's translation: documented JSON to the request value, validated.
        let graphJSON = Data("""
            {"targetHostName":"graphnotifications.sample.windows.com","appNotificationId":"testDirectToastNotification",
             "expirationDateTime":"2030-04-01T23:59:00.000Z","payload":{"visualContent":{"title":"Hello World!",
             "body":"Notifications are Great!"}},"targetPolicy":{"platformTypes":["windows","ios","android"]},
             "priority":"High","groupName":"TestGroup","displayTimeToLive":"60"}
            """.utf8)
        let now = Timestamp(secondsSince1970: 1_900_000_000)
        try harness.measure("JSON to SendNotificationRequest + validation", iterations: 20_000) {
            let parsed = try ContractJSON.sendNotificationRequest(graphJSON)
            return Int(try SendNotificationValidation.validate(parsed, now: now).displayTimeToLive)
        }

        // The gateway's answer to it: the stored notification comes back in a
        // SendNotificationResponse, is unpacked, and is written as Graph's entity.
        let stored = NotifyDomain.Notification(
            id: "119081f2-f19d-4fa8-817c-7e01092c0f7d", sequence: 42, user: 3, createdAt: now,
            content: .graph(GraphNotification(
                targetHostName: "graphnotifications.sample.windows.com", appNotificationID: "testDirectToastNotification",
                groupName: "TestGroup", expiration: now.adding(seconds: 3600),
                payload: Payload(rawContent: nil, visualContent: VisualContent(title: "Hello World!", body: "Notifications are Great!")),
                platforms: [.windows, .ios, .android], priority: .high, displayTimeToLive: 60, fallbackPolicyJSON: nil
            ))
        )
        let sendResponse = SendNotificationResponse(notification: stored).serializedBuffer()
        harness.measure("protobuf-c pack: SendNotificationResponse", iterations: 200_000) {
            scratch.clear()
            SendNotificationResponse(notification: stored).serialize(into: &scratch)
            return scratch.readableBytes
        }
        try harness.measure("protobuf-c unpack: SendNotificationResponse", iterations: 200_000) {
            Int(try SendNotificationResponse(serializedBytes: sendResponse).notification.sequence)
        }
        let context = "http://localhost:8080/v1.0/$metadata#users('3')/notifications/$entity"
        harness.measure("Graph entity JSON: written by JSONWriter (the gateway's)", iterations: 200_000) {
            var writer = JSONWriter()
            return stored.writeGraphEntity(context: context, to: &writer) ? writer.bytes.count : 0
        }

        // TLS records: one full 16 KiB record of application data per
        // operation, client to server (encrypt, move, decrypt).
        let tlsDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-bench-tls-\(getpid())").path
        let pair = try TLSPair(certificates: tlsDirectory)
        let record = ByteBuffer(repeating: 0x61, count: 16 * 1024)
        try harness.measure("TLS handler pair: one 16 KiB record", iterations: 5_000) {
            try pair.send(record)
        }
        // Small frames, as calls are: 64 writes of 300 bytes in one flush.
        let frame = ByteBuffer(repeating: 0x62, count: 300)
        try harness.measure("TLS handler pair: 64 × 300 B in one flush, per write", iterations: 2_000, operationsPerIteration: 64) {
            try pair.sendBatch(frame, count: 64)
        }
        try? FileManager.default.removeItem(atPath: tlsDirectory)

        // The store: one durable commit per append against group commit. Each
        // sample appends 200 notifications; the figure is per notification.
        let storeDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: storeDirectory, withIntermediateDirectories: true)
        try await SQLiteNotificationStore(
            // No feed bound, as before it was the default: the figure stays comparable.
            path: storeDirectory + "/bench.sqlite", configuration: SQLiteStoreConfiguration(maxFeedEntries: nil), logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        ).withRunning { store in
            let appendsPerSample = 200
            for id in 1...Int64(appendsPerSample) { try await store.putUser(User(id: id)) }
            let content = NotificationContent.custom(CustomNotification(type: "bench", embed: nil, title: "t", description: nil, issuer: 1))
            let append: @Sendable (Int64) async throws -> Int = { user in
                let result = try await store.append(NewNotification(
                    id: UUID().uuidString, createdAt: Timestamp.now().truncatedToMilliseconds, content: content, recipients: .users([user]), idempotencyKey: nil
                ))
                return Int(result.recipients)
            }
            try await harness.measureAsync(
                "store append: one commit each", iterations: 1, operationsPerIteration: appendsPerSample
            ) {
                var total = 0
                for _ in 0..<appendsPerSample { total += try await append(1) }
                return total
            }
            // One feed, as the load scenarios write, and a feed per append: a
            // batch then advances 200 heads instead of one.
            for (name, users) in [("one user", 1...1), ("200 users", 1...Int64(appendsPerSample))] {
                try await harness.measureAsync(
                    "store append: 200 concurrent, group commit, \(name)", iterations: 1,
                    operationsPerIteration: appendsPerSample
                ) {
                    try await withThrowingTaskGroup(of: Int.self) { group in
                        for index in 0..<Int64(appendsPerSample) {
                            let user = users.lowerBound + index % Int64(users.count)
                            group.addTask { try await append(user) }
                        }
                        return try await group.reduce(0, +)
                    }
                }
            }
            // With 1,000 live readers of other feeds: the writer wakes by user,
            // so they should cost these appends nothing.
            var idleWatches: [AsyncStream<Void>] = (1_001...2_000).map { store.watchFeed(user: $0) }
            try await harness.measureAsync(
                "store append: 200 concurrent, group commit, one user, 1,000 other feeds watched", iterations: 1,
                operationsPerIteration: appendsPerSample
            ) {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<appendsPerSample { group.addTask { try await append(1) } }
                    return try await group.reduce(0, +)
                }
            }
            idleWatches.removeAll()
            // The feed as a stream, one entry at a time: an append, its commit,
            // the watcher's wake-up and its read of the entry.
            let roundTrips = 50
            try await harness.measureAsync(
                "feed watch: append, wake-up and read of the new entry", iterations: 1, operationsPerIteration: roundTrips
            ) {
                var wakes = store.watchFeed(user: 1).makeAsyncIterator()
                var cursor = try await store.feed(user: 1, after: 0, limit: 1_000_000).last?.sequence ?? 0
                var read = 0
                for _ in 0..<roundTrips {
                    _ = try await append(1)
                    while true {
                        guard await wakes.next() != nil else { return read }
                        let entries = try await store.feed(user: 1, after: cursor, limit: 100)
                        guard let last = entries.last else { continue }
                        cursor = last.sequence
                        read += entries.count
                        break
                    }
                }
                return read
            }
            // A page of a feed read back, as every List and every Watch wake-up
            // reads it: the SQL, the rows and each entry's stored JSON.
            let pageSize = 100
            let onPage = try await store.feed(user: 1, after: 0, limit: pageSize).count
            for _ in onPage..<pageSize { _ = try await append(1) }
            try await harness.measureAsync(
                "store feed read: a page of 100 entries, per entry", iterations: 20, operationsPerIteration: pageSize
            ) {
                try await store.feed(user: 1, after: 0, limit: pageSize).count
            }
        }
        try? FileManager.default.removeItem(atPath: storeDirectory)

        // Notification content as canonical JSON text against typed columns
        // (docs/PERFORMANCE.md's decision): append, feed page, file size.
        if harness.filter.map({ ContentStorageBench.name.contains($0) }) ?? true {
            try await ContentStorageBench.run(samples: harness.samples, rows: contentRows)
        }

        // UnseenCount on a feed of --feed-entries against an empty one: only
        // when asked for (--filter 'unseen count'), since filling takes tens of seconds.
        if let filter = harness.filter, FeedStateBench.name.contains(filter) {
            try await FeedStateBench.run(samples: harness.samples, entries: feedEntries)
        }
        // The sweeper against appends at a fixed rate: only with --filter sweep.
        if let filter = harness.filter, SweepBench.name.contains(filter) {
            try await SweepBench.run(sweep)
        }
        // The background fan-out against appends to its feeds: only with --filter fan-out.
        if let filter = harness.filter, FanOutBench.name.contains(filter) {
            try await FanOutBench.run(fanOut)
        }

    }
}
