import Foundation
import Histogram
import NotifyJSON

/// What a run measured, as printed for people and, with `--json`, for scripts.
///
/// Latencies are microseconds. Throughput counts every counted call, errors
/// included, over the measured time.
struct Summary: Hashable, Sendable {
    struct Latency: Hashable, Sendable {
        var p50: UInt64
        var p90: UInt64
        var p99: UInt64
        var p999: UInt64
        var max: UInt64
        var mean: Double

        init(_ histogram: Histogram<UInt64>) {
            let empty = histogram.totalCount == 0
            p50 = empty ? 0 : histogram.valueAtPercentile(50)
            p90 = empty ? 0 : histogram.valueAtPercentile(90)
            p99 = empty ? 0 : histogram.valueAtPercentile(99)
            p999 = empty ? 0 : histogram.valueAtPercentile(99.9)
            max = empty ? 0 : histogram.max
            mean = empty ? 0 : histogram.mean
        }
    }

    struct OperationSummary: Hashable, Sendable {
        var requests: Int
        var errors: Int
        var latencyMicroseconds: Latency
    }

    /// What `--watchers` saw of the feed while the run went on.
    struct Delivery: Hashable, Sendable {
        var watchers: Int
        /// Entries that reached a watcher, the warm-up's included.
        var entries: Int
        /// State events that reached a watcher.
        var events: Int
        /// Kept entries a watcher was skipped past, and entries that came twice
        /// or out of order (``FeedCheck``): 0 is the promise.
        var gaps: Int
        /// From each counted notification's creation to its arrival.
        var latencyMicroseconds: Latency
        /// Why a watcher stopped early, if one did.
        var failure: String?
    }

    var target: String
    /// How calls were made: "notify-client" or "raw" for rpc, "http/1.1" for http.
    var client: String
    /// "closed" or "open".
    var model: String
    var connections: Int
    /// Closed loop: calls in flight per connection. Open loop: the most outstanding per connection.
    var inFlight: Int
    /// Open loop only: the intended calls per second.
    var targetRate: Double?
    var payloadBytes: Int
    var warmupSeconds: Double
    var measuredSeconds: Double
    var requests: Int
    var errors: Int
    var errorRate: Double
    var throughputPerSecond: Double
    var latencyMicroseconds: Latency
    var operations: [String: OperationSummary]
    /// Every outcome by status, successes included.
    var statuses: [String: Int]
    /// CPU the load generator itself used (user + system) over the whole run,
    /// warm-up included: next to the wall time it shows whether the generator
    /// rather than the server was the limit.
    var clientCPUSeconds: Double
    var wallSeconds: Double
    /// Only with `--watchers`.
    var delivery: Delivery?
    /// Only with `--fan-outs`.
    var fanOuts: FanOuts.Report?

    init(
        configuration: LoadConfiguration, recorder: LatencyRecorder, measuredSeconds: Double, clientCPUSeconds: Double,
        wallSeconds: Double, watched: FeedWatchers.Report? = nil, fanOuts: FanOuts.Report? = nil
    ) {
        target = configuration.target.rawValue
        client = configuration.target == .rpc ? configuration.rpcClient.rawValue : "http/1.1"
        connections = configuration.connections
        switch configuration.model {
        case .closed(let inFlight):
            model = "closed"
            self.inFlight = inFlight
            targetRate = nil
        case .open(let rate, let outstanding):
            model = "open"
            inFlight = outstanding
            targetRate = rate
        }
        payloadBytes = configuration.payloadBytes
        warmupSeconds = configuration.warmup
        self.measuredSeconds = measuredSeconds
        requests = recorder.count
        errors = recorder.errors
        errorRate = requests > 0 ? Double(errors) / Double(requests) : 0
        throughputPerSecond = measuredSeconds > 0 ? Double(requests) / measuredSeconds : 0
        latencyMicroseconds = Latency(recorder.all)
        var operations: [String: OperationSummary] = [:]
        for (operation, histogram) in recorder.byOperation {
            operations[operation.rawValue] = OperationSummary(
                requests: Int(histogram.totalCount), errors: recorder.errorsByOperation[operation] ?? 0,
                latencyMicroseconds: Latency(histogram)
            )
        }
        self.operations = operations
        statuses = recorder.statuses
        self.clientCPUSeconds = clientCPUSeconds
        self.wallSeconds = wallSeconds
        delivery = watched.map { watched in
            Delivery(
                watchers: watched.watchers, entries: watched.entries, events: watched.events, gaps: watched.gaps,
                latencyMicroseconds: Latency(watched.delivery), failure: watched.failure
            )
        }
        self.fanOuts = fanOuts
    }

    /// Whether the run failed its `--max-error-rate`; a run that counted no
    /// call at all fails too, since it measured nothing.
    func exceeds(maxErrorRate: Double?) -> Bool {
        guard let maxErrorRate else { return false }
        return requests == 0 || errorRate > maxErrorRate
    }

    /// `--json`: one line, through NotifyJSON's writer (the project's one JSON
    /// path). The keys are snake_case, written in bytewise sorted order and
    /// nil members omitted, as Foundation's JSONEncoder with `.sortedKeys`
    /// wrote them before, so that scripts read the same document (a test
    /// holds the bytes).
    func json() -> String {
        var writer = JSONWriter(capacity: 2048)
        writer.beginObject()
        writer.member("client", client)
        writer.key("client_cpu_seconds")
        Summary.writeNumber(clientCPUSeconds, to: &writer)
        writer.member("connections", Int64(connections))
        if let delivery {
            writer.key("delivery")
            writer.beginObject()
            writer.member("entries", Int64(delivery.entries))
            writer.member("events", Int64(delivery.events))
            writer.member("failure", omittingNil: delivery.failure)
            writer.member("gaps", Int64(delivery.gaps))
            writer.key("latency_microseconds")
            delivery.latencyMicroseconds.write(to: &writer)
            writer.member("watchers", Int64(delivery.watchers))
            writer.endObject()
        }
        writer.key("error_rate")
        Summary.writeNumber(errorRate, to: &writer)
        writer.member("errors", Int64(errors))
        if let fanOuts {
            writer.key("fan_outs")
            writer.beginObject()
            writer.member("failure", omittingNil: fanOuts.failure)
            writer.key("timings")
            writer.beginArray()
            for timing in fanOuts.timings {
                writer.beginObject()
                writer.key("answered_milliseconds")
                Summary.writeNumber(timing.answeredMilliseconds, to: &writer)
                if let last = timing.lastFeedMilliseconds {
                    writer.key("last_feed_milliseconds")
                    Summary.writeNumber(last, to: &writer)
                }
                writer.member("recipients", Int64(clamping: timing.recipients))
                writer.endObject()
            }
            writer.endArray()
            writer.endObject()
        }
        writer.member("in_flight", Int64(inFlight))
        writer.key("latency_microseconds")
        latencyMicroseconds.write(to: &writer)
        writer.key("measured_seconds")
        Summary.writeNumber(measuredSeconds, to: &writer)
        writer.member("model", model)
        writer.key("operations")
        writer.beginObject()
        for name in Summary.sortedKeys(operations) {
            guard let operation = operations[name] else { continue }
            writer.key(name)
            writer.beginObject()
            writer.member("errors", Int64(operation.errors))
            writer.key("latency_microseconds")
            operation.latencyMicroseconds.write(to: &writer)
            writer.member("requests", Int64(operation.requests))
            writer.endObject()
        }
        writer.endObject()
        writer.member("payload_bytes", Int64(payloadBytes))
        writer.member("requests", Int64(requests))
        writer.key("statuses")
        writer.beginObject()
        for status in Summary.sortedKeys(statuses) {
            writer.key(status)
            writer.integer(Int64(statuses[status] ?? 0))
        }
        writer.endObject()
        writer.member("target", target)
        if let targetRate {
            writer.key("target_rate")
            Summary.writeNumber(targetRate, to: &writer)
        }
        writer.key("throughput_per_second")
        Summary.writeNumber(throughputPerSecond, to: &writer)
        writer.key("wall_seconds")
        Summary.writeNumber(wallSeconds, to: &writer)
        writer.key("warmup_seconds")
        Summary.writeNumber(warmupSeconds, to: &writer)
        writer.endObject()
        return writer.text
    }

    /// A dictionary's keys in bytewise order, JSONEncoder's `.sortedKeys` order.
    private static func sortedKeys(_ dictionary: [String: some Any]) -> [String] {
        dictionary.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// A `Double` as JSONEncoder printed it: Swift's shortest round-tripping
    /// text, without the `.0` of a whole number (`10`, `0.5`, `1e+21`), so
    /// that a script's integer stays an integer. NotifyJSON's `number` keeps
    /// the `.0`; non-finite values, which JSONEncoder refused, are `null`.
    fileprivate static func writeNumber(_ value: Double, to writer: inout JSONWriter) {
        guard value.isFinite else {
            writer.null()
            return
        }
        let text = "\(value)"
        writer.rawValue(text.hasSuffix(".0") ? String(text.dropLast(2)) : text)
    }

    /// The report for a terminal.
    func text() -> String {
        var lines: [String] = []
        let shape = model == "closed"
            ? "closed loop, \(connections) connections × \(inFlight) in flight"
            : "open loop at \(Summary.number(targetRate ?? 0))/s, \(connections) connections (≤ \(inFlight) outstanding each)"
        lines.append("notify-load: \(target) (\(client)), \(shape), payload \(payloadBytes) B")
        lines.append(
            "  measured \(Summary.seconds(measuredSeconds)) after \(Summary.seconds(warmupSeconds)) warm-up: "
                + "\(requests) calls, \(Summary.number(throughputPerSecond))/s, "
                + "\(errors) errors (\(String(format: "%.3f", errorRate * 100)) %)"
        )
        lines.append("  latency    " + Summary.latencyColumns(latencyMicroseconds))
        for name in operations.keys.sorted() {
            guard let operation = operations[name] else { continue }
            lines.append(
                "  \(name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(operation.requests) calls, \(operation.errors) errors; "
                    + Summary.latencyColumns(operation.latencyMicroseconds)
            )
        }
        if let delivery {
            lines.append(
                "  delivery   \(delivery.watchers) watchers, \(delivery.entries) entries, \(delivery.events) events, "
                    + "\(delivery.gaps) gaps; "
                    + Summary.latencyColumns(delivery.latencyMicroseconds)
                    + (delivery.failure.map { "; a watcher failed: \($0)" } ?? "")
            )
        }
        if let fanOuts {
            let each = fanOuts.timings.map { timing in
                "\(timing.recipients) answered in \(String(format: "%.1f", timing.answeredMilliseconds)) ms, in every feed "
                    + (timing.lastFeedMilliseconds.map { String(format: "%.1f ms", $0) } ?? "not seen")
            }
            lines.append(
                "  fan-outs   " + each.joined(separator: "; ") + (fanOuts.failure.map { "; failed: \($0)" } ?? ""))
        }
        let byCount = statuses.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        lines.append("  statuses   " + byCount.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        lines.append(
            "  client CPU \(Summary.seconds(clientCPUSeconds)) over \(Summary.seconds(wallSeconds)) wall "
                + "(\(Int((wallSeconds > 0 ? clientCPUSeconds / wallSeconds : 0) * 100)) % of one core)"
        )
        return lines.joined(separator: "\n")
    }

    static func latencyColumns(_ latency: Latency) -> String {
        "p50 \(milliseconds(latency.p50))  p90 \(milliseconds(latency.p90))  p99 \(milliseconds(latency.p99))  "
            + "p99.9 \(milliseconds(latency.p999))  max \(milliseconds(latency.max)) ms"
    }

    static func milliseconds(_ microseconds: UInt64) -> String {
        String(format: "%.3f", Double(microseconds) / 1000)
    }

    static func seconds(_ value: Double) -> String {
        String(format: value < 10 ? "%.2f s" : "%.1f s", value)
    }

    static func number(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
    }
}

extension Summary.Latency {
    fileprivate func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.member("max", Int64(clamping: max))
        writer.key("mean")
        Summary.writeNumber(mean, to: &writer)
        writer.member("p50", Int64(clamping: p50))
        writer.member("p90", Int64(clamping: p90))
        writer.member("p99", Int64(clamping: p99))
        writer.member("p999", Int64(clamping: p999))
        writer.endObject()
    }
}
