import ArgumentParser
import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import NotifyDomain
import Testing

@testable import NotifyLoad

@Suite("Mix: weighted operations")
struct MixTests {
    @Test("the issue's example parses, and a zero weight drops the operation")
    func parsesExample() throws {
        let mix = try Mix(parsing: "notify-user=70,notify-connections=10,send=20,health=0")
        #expect(mix.weights == [.notifyUser: 70, .notifyConnections: 10, .send: 20])
        #expect(mix.operations == [.notifyUser, .notifyConnections, .send])
        #expect(mix.cycle.count == 100)
    }

    @Test("one cycle holds each operation exactly its weight's times", arguments: [
        "notify-user=70,notify-connections=10,send=20",
        "health=1,send=3",
        "send",
        "notify-user=1,notify-connections=1,send=1,health=1",
    ])
    func cycleProportions(text: String) throws {
        let mix = try Mix(parsing: text)
        var counts: [LoadOperation: Int] = [:]
        for index in 0..<(mix.cycle.count * 3) { counts[mix.operation(at: index), default: 0] += 1 }
        for (operation, weight) in mix.weights { #expect(counts[operation] == weight * 3) }
    }

    @Test("picks are interleaved, not clumped: 50/50 alternates")
    func interleaved() throws {
        let mix = try Mix(parsing: "health=50,send=50")
        for index in 0..<99 { #expect(mix.operation(at: index) != mix.operation(at: index + 1)) }
    }

    @Test("bad mixes say what is wrong", arguments: [
        ("notify-user=70,bogus=3", "unknown operation"),
        ("send=-1", "non-negative"),
        ("send=x", "non-negative"),
        ("health=0,send=0", "no operation"),
        ("send=1,send=2", "twice"),
        ("", "no operation"),
    ])
    func rejects(text: String, fragment: String) {
        #expect {
            _ = try Mix(parsing: text)
        } throws: { error in
            (error as? LoadConfigurationError)?.message.contains(fragment) == true
        }
    }
}

@Suite("RateSchedule: open-loop due times")
struct RateScheduleTests {
    @Test("call n is due n / rate seconds after the start")
    func offsets() {
        let schedule = RateSchedule(rate: 200, connections: 4, warmup: 1)
        #expect(schedule.offset(ofCall: 0) == 0)
        #expect(schedule.offset(ofCall: 200) == 1)
        #expect(schedule.offset(ofCall: 50) == 0.25)
    }

    @Test("calls due during the warm-up are sent but not measured")
    func warmup() {
        let schedule = RateSchedule(rate: 200, connections: 4, warmup: 1.5)
        #expect(schedule.firstMeasuredCall == 300)
        #expect(!schedule.isMeasured(299))
        #expect(schedule.isMeasured(300))
        #expect(RateSchedule(rate: 3, connections: 1, warmup: 0.5).firstMeasuredCall == 2)
    }

    @Test("a duration ends at the first call due after it; a count after that many measured calls")
    func end() {
        let schedule = RateSchedule(rate: 100, connections: 3, warmup: 2)
        #expect(schedule.endCall(for: .duration(10)) == 1_200)
        #expect(schedule.endCall(for: .count(50)) == 250)
        let measured = (0..<schedule.endCall(for: .count(50))).filter(schedule.isMeasured).count
        #expect(measured == 50)
    }

    @Test("the connections share the calls evenly, in turn", arguments: [1, 3, 7])
    func partition(connections: Int) {
        let schedule = RateSchedule(rate: 1_000, connections: connections, warmup: 0.1)
        let calls = 0..<schedule.endCall(for: .count(123))
        var shares = Array(repeating: 0, count: connections)
        for call in calls {
            let connection = schedule.connection(forCall: call)
            #expect((0..<connections).contains(connection))
            shares[connection] += 1
        }
        #expect(shares.max()! - shares.min()! <= 1)
        #expect(schedule.connection(forCall: connections) == 0)
    }
}

@Suite("PayloadText: filling the user text to a size")
struct PayloadTextTests {
    @Test("the fields hold exactly the bytes asked for", arguments: [1, 64, 255, 256, 1_000, 4_351])
    func notifySizes(bytes: Int) {
        let text = PayloadText(bytes: bytes, for: .notifyUser)
        #expect(text.byteCount == bytes)
        #expect(text.title.count <= Limits.titleMaxLength)
        #expect((text.body?.count ?? 0) <= Limits.descriptionMaxLength)
        #expect(text.rawContent == nil)
    }

    @Test("send spills from the title to the body, then to rawContent", arguments: [10, 255, 4_351, 4_352, 69_887])
    func sendSizes(bytes: Int) {
        let text = PayloadText(bytes: bytes, for: .send)
        #expect(text.byteCount == bytes)
        #expect(text.title.count == min(bytes, Limits.visualTitleMaxLength))
        #expect((text.body?.count ?? 0) <= Limits.visualBodyMaxLength)
        #expect((text.rawContent?.utf8.count ?? 0) <= Limits.rawContentMaxBytes)
        #expect((text.rawContent != nil) == (bytes > Limits.visualTitleMaxLength + Limits.visualBodyMaxLength))
    }

    @Test("zero bytes still sends a one-character title, which Graph requires")
    func zero() {
        let text = PayloadText(bytes: 0, for: .send)
        #expect(text.title.count == 1)
        #expect(text.body == nil)
    }
}

@Suite("LatencyRecorder and Summary")
struct SummaryTests {
    private func configuration() throws -> LoadConfiguration {
        LoadConfiguration(
            target: .rpc, host: "127.0.0.1", port: 7443, caFile: "ca.crt", token: "t", unsID: "u", user: 1,
            connections: 2, model: .closed(inFlightPerConnection: 3), stop: .duration(4), warmup: 1,
            mix: try Mix(parsing: "notify-user=1,send=1"), payloadBytes: 64, timeout: 10, maxErrorRate: nil
        )
    }

    @Test("percentiles come from the histogram, within its three significant digits")
    func percentiles() throws {
        var recorder = LatencyRecorder()
        for value in 1...1_000 {
            recorder.record(.notifyUser, microseconds: UInt64(value * 10), outcome: .ok)
        }
        let summary = Summary(configuration: try configuration(), recorder: recorder, measuredSeconds: 4, clientCPUSeconds: 1, wallSeconds: 5)
        #expect(summary.requests == 1_000)
        #expect(summary.throughputPerSecond == 250)
        #expect(abs(Double(summary.latencyMicroseconds.p50) - 5_000) <= 5)
        #expect(abs(Double(summary.latencyMicroseconds.p90) - 9_000) <= 9)
        #expect(abs(Double(summary.latencyMicroseconds.p99) - 9_900) <= 10)
        #expect(abs(Double(summary.latencyMicroseconds.max) - 10_000) <= 10)
        #expect(summary.operations["notify-user"]?.requests == 1_000)
    }

    @Test("merging recorders adds counts, statuses and errors per operation")
    func merge() throws {
        var first = LatencyRecorder()
        first.record(.notifyUser, microseconds: 100, outcome: .ok)
        first.record(.send, microseconds: 200, outcome: Outcome(status: "RESOURCE_EXHAUSTED/TOO_MANY_CALLS", isSuccess: false))
        var second = LatencyRecorder()
        second.record(.send, microseconds: 300, outcome: Outcome(status: "RESOURCE_EXHAUSTED/TOO_MANY_CALLS", isSuccess: false))
        second.record(.send, microseconds: 400, outcome: .ok)
        first.merge(second)
        #expect(first.count == 4)
        #expect(first.errors == 2)
        #expect(first.statuses == ["OK": 2, "RESOURCE_EXHAUSTED/TOO_MANY_CALLS": 2])
        let summary = Summary(configuration: try configuration(), recorder: first, measuredSeconds: 1, clientCPUSeconds: 0, wallSeconds: 2)
        #expect(summary.errorRate == 0.5)
        #expect(summary.operations["send"]?.requests == 3)
        #expect(summary.operations["send"]?.errors == 2)
        #expect(summary.operations["notify-user"]?.errors == 0)
    }

    @Test("the error-rate threshold: above fails, at or below passes, nothing measured fails")
    func threshold() throws {
        var recorder = LatencyRecorder()
        for index in 0..<100 {
            recorder.record(.send, microseconds: 10, outcome: index == 0 ? Outcome(status: "HTTP 503", isSuccess: false) : .ok)
        }
        let summary = Summary(configuration: try configuration(), recorder: recorder, measuredSeconds: 1, clientCPUSeconds: 0, wallSeconds: 1)
        #expect(!summary.exceeds(maxErrorRate: nil))
        #expect(!summary.exceeds(maxErrorRate: 0.01))
        #expect(summary.exceeds(maxErrorRate: 0.005))
        let empty = Summary(configuration: try configuration(), recorder: LatencyRecorder(), measuredSeconds: 1, clientCPUSeconds: 0, wallSeconds: 1)
        #expect(empty.exceeds(maxErrorRate: 1))
    }

    @Test("--json is one object with snake_case keys")
    func json() throws {
        var recorder = LatencyRecorder()
        recorder.record(.notifyUser, microseconds: 1_234, outcome: .ok)
        let summary = Summary(configuration: try configuration(), recorder: recorder, measuredSeconds: 1, clientCPUSeconds: 0.5, wallSeconds: 2)
        let text = summary.json()
        #expect(!text.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["throughput_per_second"] as? Double == 1)
        #expect((object["latency_microseconds"] as? [String: Any])?["p999"] != nil)
        #expect(object["client_cpu_seconds"] as? Double == 0.5)
        #expect(object["target_rate"] == nil && object["delivery"] == nil)
        #expect(summary.text().contains("p99.9"))
    }

    /// The bytes `--json` printed when Foundation's JSONEncoder (`.sortedKeys`)
    /// wrote them, kept so that moving to NotifyJSON's writer changes nothing a
    /// script reads: keys sorted bytewise, a whole `Double` without `.0`, nil
    /// members omitted. One byte-level difference, read alike by every JSON
    /// reader: JSONEncoder wrote `/` as `\/`, NotifyJSON writes it as it is.
    @Test("--json prints byte for byte what it printed before: sorted keys, numbers, nil members omitted")
    func jsonBytes() throws {
        var recorder = LatencyRecorder()
        recorder.record(.notifyUser, microseconds: 1_234, outcome: .ok)
        recorder.record(.send, microseconds: 5_000_000, outcome: Outcome(status: "HTTP 503", isSuccess: false))
        var summary = Summary(configuration: try configuration(), recorder: recorder, measuredSeconds: 10, clientCPUSeconds: 1.0 / 3, wallSeconds: 12.25)
        summary.model = "open"
        summary.targetRate = 1e21
        summary.warmupSeconds = 1e-7
        var latency = summary.latencyMicroseconds
        latency.mean = 2_500_617.5
        summary.delivery = Summary.Delivery(watchers: 2, entries: 9, events: 0, gaps: 0, latencyMicroseconds: latency, failure: "a/b \"é\"\n")
        #expect(summary.json() == #"{"client":"notify-client","client_cpu_seconds":0.3333333333333333,"connections":2,"delivery":{"entries":9,"events":0,"failure":"a/b \"é\"\n","gaps":0,"latency_microseconds":{"max":5001215,"mean":2500617.5,"p50":1234,"p90":5000000,"p99":5000000,"p999":5000000},"watchers":2},"error_rate":0.5,"errors":1,"in_flight":3,"latency_microseconds":{"max":5001215,"mean":2500201,"p50":1234,"p90":5000000,"p99":5000000,"p999":5000000},"measured_seconds":10,"model":"open","operations":{"notify-user":{"errors":0,"latency_microseconds":{"max":1234,"mean":1234,"p50":1234,"p90":1234,"p99":1234,"p999":1234},"requests":1},"send":{"errors":1,"latency_microseconds":{"max":5001215,"mean":4999168,"p50":5000000,"p90":5000000,"p99":5000000,"p999":5000000},"requests":1}},"payload_bytes":64,"requests":2,"statuses":{"HTTP 503":1,"OK":1},"target":"rpc","target_rate":1e+21,"throughput_per_second":0.2,"wall_seconds":12.25,"warmup_seconds":1e-07}"#)
        summary.delivery?.failure = nil
        summary.targetRate = nil
        #expect(summary.json() == #"{"client":"notify-client","client_cpu_seconds":0.3333333333333333,"connections":2,"delivery":{"entries":9,"events":0,"gaps":0,"latency_microseconds":{"max":5001215,"mean":2500617.5,"p50":1234,"p90":5000000,"p99":5000000,"p999":5000000},"watchers":2},"error_rate":0.5,"errors":1,"in_flight":3,"latency_microseconds":{"max":5001215,"mean":2500201,"p50":1234,"p90":5000000,"p99":5000000,"p999":5000000},"measured_seconds":10,"model":"open","operations":{"notify-user":{"errors":0,"latency_microseconds":{"max":1234,"mean":1234,"p50":1234,"p90":1234,"p99":1234,"p999":1234},"requests":1},"send":{"errors":1,"latency_microseconds":{"max":5001215,"mean":4999168,"p50":5000000,"p90":5000000,"p99":5000000,"p999":5000000},"requests":1}},"payload_bytes":64,"requests":2,"statuses":{"HTTP 503":1,"OK":1},"target":"rpc","throughput_per_second":0.2,"wall_seconds":12.25,"warmup_seconds":1e-07}"#)
    }
}

@Suite("Options")
struct OptionsTests {
    @Test("no --rate is a closed loop; --rate is an open loop with its own outstanding bound")
    func models() throws {
        let closed = try NotifyLoad.parse(["--ca", "ca.crt", "--mix", "health"]).loadConfiguration(environment: [:])
        #expect(closed.model == .closed(inFlightPerConnection: 8))
        #expect(closed.stop == .duration(10))
        #expect(closed.connections == 8)
        #expect(closed.port == 7443)
        let open = try NotifyLoad.parse(["--ca", "ca.crt", "--mix", "health", "--rate", "500", "--count", "100"])
            .loadConfiguration(environment: [:])
        #expect(open.model == .open(ratePerSecond: 500, maxOutstandingPerConnection: 256))
        #expect(open.stop == .count(100))
    }

    @Test("the NOTIFY_* variables fill what the flags leave out; flags win")
    func environment() throws {
        let environment = ["NOTIFY_TOKEN": "env-token", "NOTIFY_CA": "env.crt", "NOTIFY_HOST": "localhost", "NOTIFY_RPC_PORT": "9443"]
        let fromEnvironment = try NotifyLoad.parse(["--user", "1", "--mix", "notify-user"]).loadConfiguration(environment: environment)
        #expect(fromEnvironment.token == "env-token")
        #expect(fromEnvironment.caFile == "env.crt")
        #expect(fromEnvironment.host == "localhost")
        #expect(fromEnvironment.port == 9443)
        let fromFlags = try NotifyLoad.parse(["--user", "1", "--mix", "notify-user", "--token", "flag", "--port", "1234"])
            .loadConfiguration(environment: environment)
        #expect(fromFlags.token == "flag")
        #expect(fromFlags.port == 1234)
    }

    @Test("http defaults to one call at a time, plain HTTP unless --ca is given")
    func http() throws {
        let configuration = try NotifyLoad.parse(["--target", "http", "--token", "t", "--user", "1", "--mix", "notify-user"])
            .loadConfiguration(environment: ["NOTIFY_CA": "ignored.crt"])
        #expect(configuration.model == .closed(inFlightPerConnection: 1))
        #expect(configuration.caFile == nil)
        #expect(configuration.port == 8080)
    }

    @Test("the watchers connect to --watch-port when given, else to --port")
    func watchPort() throws {
        let base = ["--ca", "c", "--mix", "notify-user", "--token", "t", "--user", "1", "--watchers", "1", "--port", "7443"]
        #expect(try NotifyLoad.parse(base).loadConfiguration(environment: [:]).watchPort == nil)
        let other = try NotifyLoad.parse(base + ["--watch-port", "7444"]).loadConfiguration(environment: [:])
        #expect(other.port == 7443)
        #expect(other.watchPort == 7444)
    }

    @Test("combinations that cannot run are refused with the reason", arguments: [
        (["--ca", "c", "--mix", "health", "--duration", "1", "--count", "1"], "not both"),
        (["--mix", "health"], "needs --ca"),
        (["--ca", "c", "--mix", "send", "--token", "t"], "--uns-id"),
        (["--ca", "c", "--mix", "notify-user"], "--token"),
        (["--ca", "c", "--mix", "notify-user", "--token", "t"], "--user"),
        (["--target", "http", "--mix", "health"], "no health endpoint"),
        (["--target", "grpc", "--mix", "health"], "rpc or http"),
        (["--ca", "c", "--mix", "health", "--max-error-rate", "2"], "fraction"),
        (["--ca", "c", "--mix", "notify-user", "--token", "t", "--user", "1", "--payload-bytes", "5000"], "--payload-bytes"),
        (["--ca", "c", "--mix", "health", "--rate", "0"], "--rate"),
        (["--target", "http", "--mix", "notify-user", "--token", "t", "--user", "1", "--watchers", "2"], "--target rpc"),
        (["--ca", "c", "--mix", "health", "--watchers", "2"], "--watchers needs --user"),
        (["--ca", "c", "--mix", "health", "--watchers=-1"], "--watchers must be"),
        (["--target", "http", "--mix", "unseen-count", "--token", "t", "--user", "1"], "over RPC only"),
        (["--ca", "c", "--mix", "mark-read", "--token", "t"], "--user"),
        (["--ca", "c", "--mix", "health", "--users", "0"], "--users must be"),
        (["--target", "http", "--mix", "notify-user", "--token", "t", "--user", "1", "--users", "5"], "--target rpc"),
        (["--ca", "c", "--mix", "health", "--token", "t", "--fan-outs", "5"], "--fan-out-user"),
        (["--ca", "c", "--mix", "health", "--fan-out-user", "5"], "go with --fan-outs"),
        (["--ca", "c", "--mix", "health", "--watch-port", "7444"], "goes with --watchers"),
        (["--ca", "c", "--mix", "health", "--token", "t", "--user", "1", "--watchers", "1", "--watch-port", "0"], "--watch-port"),
    ])
    func refuses(arguments: [String], fragment: String) throws {
        let command = try NotifyLoad.parse(arguments)
        #expect {
            _ = try command.loadConfiguration(environment: [:])
        } throws: { error in
            (error as? LoadConfigurationError)?.message.contains(fragment) == true
        }
    }
}

@Suite("HTTPStatusDecoder: statuses and body lengths of HTTP/1.1 answers")
struct HTTPStatusDecoderTests {
    private func head(_ text: String) throws -> (code: UInt, head: Int, body: Int)? {
        try HTTPStatusDecoder.head(in: ByteBuffer(string: text)).map { ($0.0.code, $0.1, $0.2) }
    }

    @Test("a 204 has no body; a 201 has its Content-Length; header names in any case")
    func framed() throws {
        let noContent = "HTTP/1.1 204 No Content\r\nDate: x\r\nX-Request-ID: y\r\n\r\n"
        let answer = try #require(try head(noContent + "HTTP/1.1 200 OK\r\n"))
        #expect(answer.code == 204 && answer.head == noContent.utf8.count && answer.body == 0)
        let created = try #require(try head("HTTP/1.1 201 Created\r\ncontent-LENGTH:  12\r\n\r\n{\"id\": \"1\"}x"))
        #expect(created.code == 201 && created.body == 12)
        let padded = try #require(try head("HTTP/1.0 406 Not Acceptable\r\nContent-Length:\t7 \r\nRetry-After: 1\r\n\r\n"))
        #expect(padded.code == 406 && padded.body == 7)
    }

    @Test("an incomplete head waits for more; chunked or unframed bodies and garbage are errors")
    func incompleteAndRefused() throws {
        #expect(try head("HTTP/1.1 204 No Content\r\nDate: x\r\n") == nil)
        #expect(throws: HTTPStatusDecoder.UnreadableResponse.self) {
            try HTTPStatusDecoder.head(in: ByteBuffer(string: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
        }
        #expect(throws: HTTPStatusDecoder.UnreadableResponse.self) {
            try HTTPStatusDecoder.head(in: ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"))
        }
        #expect(throws: HTTPStatusDecoder.UnreadableResponse.self) {
            try HTTPStatusDecoder.head(in: ByteBuffer(string: "SSH-2.0\r\n\r\n"))
        }
        #expect(throws: HTTPStatusDecoder.UnreadableResponse.self) {
            try HTTPStatusDecoder.head(in: ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"))
        }
        #expect(throws: HTTPStatusDecoder.UnreadableResponse.self) {
            try HTTPStatusDecoder.head(in: ByteBuffer(string: "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"))
        }
    }
}

@Suite("FeedCheck: a gap is a kept entry skipped, not a jump in the sequence")
struct FeedCheckTests {
    @Test("notifications and events share the sequence: a page merged by sequence has no gap")
    func eventsBetweenNotifications() {
        var check = FeedCheck()
        check.receive([1, 2, 4], events: [3, 5])
        check.receive([7], events: [6])
        #expect(check.sequences == [1, 2, 3, 4, 5, 6, 7])
        #expect(check.gaps(kept: [1, 2, 3, 4, 5, 6, 7]) == 0)
    }

    @Test("jumps over entries expired, deleted or of another view are no gap: they are not listed afterwards")
    func jumpsOverRemovedEntries() {
        var check = FeedCheck()
        check.receive([1, 5], events: [])
        check.receive([9], events: [8])
        // 2-4 expired, 6-7 deleted: the feed lists neither.
        #expect(check.gaps(kept: [1, 5, 8, 9, 10]) == 0)
    }

    @Test("a kept entry not received is a gap, and so is one that came again or out of order")
    func realGaps() {
        var check = FeedCheck()
        check.receive([1, 2], events: [])
        check.receive([4], events: [])
        #expect(check.gaps(kept: [1, 2, 3, 4]) == 1)
        check.receive([4], events: [])
        check.receive([3], events: [])
        #expect(check.gaps(kept: [1, 2, 3, 4]) == 3)
        // An entry received and removed since is no gap either.
        #expect(check.gaps(kept: [1, 4]) == 2)
    }
}
