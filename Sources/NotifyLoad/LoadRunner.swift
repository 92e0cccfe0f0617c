import Foundation
import NIOCore
import NIOPosix
import NotifyDomain
import Synchronization

/// Counters the progress line reads while a run goes on.
final class LiveCounters: Sendable {
    let completed = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    /// Closed loop with a count: measured calls handed out so far.
    let tickets = Atomic<Int>(0)

    /// Counts one finished call.
    func count(_ outcome: Outcome) {
        completed.add(1, ordering: .relaxed)
        if !outcome.isSuccess { errors.add(1, ordering: .relaxed) }
    }
}

/// One connection's open-loop calls in flight.
final class OutstandingCalls: Sendable {
    let count = Atomic<Int>(0)
}

/// One connection's recorder, written by the calls in flight on it.
final class SharedRecorder: Sendable {
    let recorder = Mutex(LatencyRecorder())

    func record(_ operation: LoadOperation, microseconds: UInt64, outcome: Outcome) {
        recorder.withLock { $0.record(operation, microseconds: microseconds, outcome: outcome) }
    }
}

/// Set when the run's task is cancelled: the loops start no further call.
final class StopFlag: Sendable {
    let flag = Atomic<Bool>(false)
}

/// The closed-loop lanes, or open-loop schedulers, still running; the last to
/// stop calls `whenNone`.
final class LaneCount: Sendable {
    private let live: Atomic<Int>
    private let whenNone: @Sendable () -> Void

    init(_ count: Int, whenNone: @escaping @Sendable () -> Void) {
        live = Atomic(count)
        self.whenNone = whenNone
        if count == 0 { whenNone() }
    }

    func laneStopped() {
        if live.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { whenNone() }
    }
}

/// One closed-loop caller: each answer's completion starts its next call.
///
/// A class, so that each call's completion captures one reference: as a
/// struct its eight fields were copied into every completion, with a retain
/// and a release each, on the cores the generator shares with the server.
final class ClosedLoopLane: Sendable {
    let connection: any LoadConnection
    let recorder: SharedRecorder
    let counters: LiveCounters
    let lanes: LaneCount
    let stopped: StopFlag
    let configuration: LoadConfiguration
    let clock: ContinuousClock
    let measureStart: ContinuousClock.Instant

    init(
        connection: any LoadConnection, recorder: SharedRecorder, counters: LiveCounters, lanes: LaneCount,
        stopped: StopFlag, configuration: LoadConfiguration, clock: ContinuousClock, measureStart: ContinuousClock.Instant
    ) {
        self.connection = connection
        self.recorder = recorder
        self.counters = counters
        self.lanes = lanes
        self.stopped = stopped
        self.configuration = configuration
        self.clock = clock
        self.measureStart = measureStart
    }

    /// Starts the call at `pick` in the mix, unless the run is over.
    func issue(pick: Int) {
        let sent = clock.now
        if stopped.flag.load(ordering: .relaxed) { return lanes.laneStopped() }
        let measured = sent >= measureStart
        switch configuration.stop {
        case .duration(let seconds):
            if sent >= measureStart + .seconds(seconds) { return lanes.laneStopped() }
        case .count(let count):
            if measured, counters.tickets.add(1, ordering: .relaxed).newValue > count { return lanes.laneStopped() }
        }
        let operation = configuration.mix.operation(at: pick)
        connection.start(operation) { [self] outcome in
            let latency = clock.now - sent
            counters.count(outcome)
            if measured { recorder.record(operation, microseconds: latency.microseconds, outcome: outcome) }
            guard outcome.isSuccess else {
                // A failure may come back before `start` returns (no
                // connection): the next call is scheduled on the connection's
                // loop so that the lane never recurses, after a pause when
                // the server cannot be reached, so that a dead server is
                // counted, not spun on. Not in a task: while the machine is
                // loaded, the cooperative pool can start one seconds late.
                let next = pick + 1
                if outcome.isConnectionFailure {
                    connection.eventLoop.scheduleTask(in: TimeAmount(connectFailurePause)) { self.issue(pick: next) }
                } else {
                    connection.eventLoop.execute { self.issue(pick: next) }
                }
                return
            }
            issue(pick: pick + 1)
        }
    }
}

/// One event loop's share of an open-loop run: the calls due on the
/// connections that loop serves, sent from a timer on that loop.
///
/// A scheduler task sending every call through `execute` woke an event loop
/// for each call (an eventfd write and a context switch): most of the
/// generator's 25 µs per call at 25,000 calls/s, on the cores it shares with
/// the server it measures. Here a call is started on its connection's own
/// loop and its answer comes back there.
final class OpenLoopScheduler {
    /// What every loop's scheduler shares.
    struct Plan: Sendable {
        let connections: [any LoadConnection]
        let recorders: [SharedRecorder]
        /// Each connection's calls in flight.
        let running: [OutstandingCalls]
        let counters: LiveCounters
        let clock: ContinuousClock
        let start: ContinuousClock.Instant
        let schedule: RateSchedule
        let mix: Mix
        let outstanding: Int
        /// The first call not sent at all.
        let end: Int
        let stopped: StopFlag
    }

    /// How long a scheduler waits at least between two rounds.
    ///
    /// Waking once per call (25,000 timers a second at half of Notify's rate)
    /// cost the generator most of a core. A round sends every call already
    /// due; a call's latency still runs from its own due time, so the up to
    /// half a millisecond it waits for its round is charged to it, not hidden.
    static let quantum = Duration.microseconds(500)

    private let plan: Plan
    /// Which connections (by index) this loop serves.
    private let lanes: [Bool]
    private let loop: any EventLoop
    private let finished: @Sendable () -> Void
    /// The next call of the schedule to look at.
    private var call = 0

    init(plan: Plan, lanes: [Bool], loop: any EventLoop, finished: @escaping @Sendable () -> Void) {
        self.plan = plan
        self.lanes = lanes
        self.loop = loop
        self.finished = finished
    }

    /// Sends this loop's calls that are due, then sets the timer for the next one.
    ///
    /// A connection at its `outstanding` bound holds back every later call
    /// until a later round: the time they wait is charged to them.
    func round() {
        let plan = plan
        let now = plan.clock.now
        while call < plan.end, !plan.stopped.flag.load(ordering: .relaxed) {
            let lane = plan.schedule.connection(forCall: call)
            guard lanes[lane] else {
                call += 1
                continue
            }
            let due = plan.start + .seconds(plan.schedule.offset(ofCall: call))
            let counter = plan.running[lane]
            guard due <= now, counter.count.load(ordering: .relaxed) < plan.outstanding else { break }
            let (recorder, counters, clock) = (plan.recorders[lane], plan.counters, plan.clock)
            let operation = plan.mix.operation(at: call)
            let measured = plan.schedule.isMeasured(call)
            counter.count.add(1, ordering: .relaxed)
            plan.connections[lane].start(operation) { outcome in
                let latency = clock.now - due
                counter.count.subtract(1, ordering: .relaxed)
                counters.count(outcome)
                if measured { recorder.record(operation, microseconds: latency.microseconds, outcome: outcome) }
            }
            call += 1
        }
        let this = NIOLoopBound(self, eventLoop: loop)
        guard call >= plan.end || plan.stopped.flag.load(ordering: .relaxed) else {
            let next = plan.start + .seconds(plan.schedule.offset(ofCall: call))
            let wait = max(next - now, Self.quantum)
            loop.scheduleTask(in: .nanoseconds(Int64(wait.seconds * 1e9))) { this.value.round() }
            return
        }
        drain()
    }

    /// Waits for the last answers on this loop's connections; each ends by
    /// its timeout at the latest.
    private func drain() {
        guard lanes.indices.contains(where: { lanes[$0] && plan.running[$0].count.load(ordering: .relaxed) > 0 }) else {
            return finished()
        }
        let this = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: .milliseconds(1)) { this.value.drain() }
    }
}

/// Runs one configuration against a server and summarizes what it saw.
struct LoadRunner: Sendable {
    let configuration: LoadConfiguration
    let group: any EventLoopGroup

    init(configuration: LoadConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
    }

    /// Connects, warms up, measures, and closes every connection.
    ///
    /// - Parameter progress: called about once a second with the counters
    ///   and the seconds since the start (for the live line on a terminal).
    /// - Throws: ``LoadConfigurationError`` when the configuration is invalid
    ///   or the server cannot be reached before the run starts.
    func run(progress: (@Sendable (LiveCounters, Double) -> Void)? = nil) async throws(LoadConfigurationError) -> Summary {
        try configuration.validate()
        let connections = try makeConnections()
        do {
            for connection in connections { try await connection.prepare() }
        } catch {
            for connection in connections { await connection.close() }
            throw error
        }

        let watchers = FeedWatchers(configuration: configuration)
        let fanOuts = FanOuts(configuration: configuration)
        let clock = ContinuousClock()
        let counters = LiveCounters()
        let cpuAtStart = LoadRunner.processCPUSeconds()
        let start = clock.now
        let measureStart = start + .seconds(configuration.warmup)
        let countingFrom = Timestamp.now().adding(microseconds: Int64(configuration.warmup * 1_000_000))
        let recorders = connections.map { _ in SharedRecorder() }

        await withTaskGroup(of: Void.self) { tasks in
            if let watchers {
                tasks.addTask { await watchers.watch(countingFrom: countingFrom) }
            }
            if let fanOuts {
                tasks.addTask { await fanOuts.watchLastRecipient() }
                tasks.addTask { await fanOuts.send(from: measureStart) }
            }
            if let progress {
                tasks.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        if Task.isCancelled { break }
                        progress(counters, (clock.now - start).seconds)
                    }
                }
            }
            switch configuration.model {
            case .closed(let inFlight):
                await closedLoop(
                    connections, inFlight: inFlight, recorders: recorders, counters: counters, clock: clock,
                    measureStart: measureStart
                )
            case .open(let rate, let outstanding):
                let schedule = RateSchedule(rate: rate, connections: connections.count, warmup: configuration.warmup)
                await openLoop(
                    connections, schedule: schedule, outstanding: outstanding, recorders: recorders,
                    counters: counters, clock: clock, start: start
                )
            }
            // The last calls' entries are still on their way to the watchers.
            await watchers?.waitUntilQuiet(for: .milliseconds(500), atMost: .seconds(5))
            await fanOuts?.waitForArrivals(atMost: .seconds(30))
            tasks.cancelAll()
        }
        await watchers?.checkGaps()
        let end = clock.now
        let cpu = LoadRunner.processCPUSeconds() - cpuAtStart
        for connection in connections { await connection.close() }
        await watchers?.close()
        await fanOuts?.close()

        var merged = LatencyRecorder()
        for recorder in recorders { merged.merge(recorder.recorder.withLock { $0 }) }
        let measured: Double =
            switch (configuration.model, configuration.stop) {
            case (_, .duration(let seconds)): seconds
            case (_, .count): max((end - measureStart).seconds, 0)
            }
        return Summary(
            configuration: configuration, recorder: merged, measuredSeconds: measured, clientCPUSeconds: cpu,
            wallSeconds: (end - start).seconds, watched: watchers?.result, fanOuts: fanOuts?.result
        )
    }

    private func makeConnections() throws(LoadConfigurationError) -> [any LoadConnection] {
        switch configuration.target {
        case .rpc:
            let workload = RPCWorkload(configuration: configuration)
            return (0..<configuration.connections).map { index -> any LoadConnection in
                // With --users, each connection starts at a user of its own:
                // all starting at the first would call each user from every
                // connection at the same moment, then not again for a whole
                // round, which no real traffic does.
                let firstTurn = index * configuration.users / configuration.connections
                switch configuration.rpcClient {
                case .notifyClient:
                    return RPCLoadConnection(configuration: configuration, workload: workload, firstTurn: firstTurn, group: group)
                case .raw:
                    return RawFrameConnection(configuration: configuration, workload: workload, firstTurn: firstTurn, group: group)
                }
            }
        case .http:
            let workload = try HTTPWorkload(configuration: configuration)
            var connections: [any LoadConnection] = []
            for _ in 0..<configuration.connections {
                connections.append(try HTTPLoadConnection(configuration: configuration, workload: workload, group: group))
            }
            return connections
        }
    }

    /// Runs `inFlight` lanes on every connection until the run's duration or
    /// count is reached (or the task is cancelled), and returns when the last
    /// lane has had its last answer.
    ///
    /// Each lane is one caller that waits for each answer before its next
    /// call: the answer's completion, on the connection's event loop, records
    /// it and starts the next call. A task per lane awaiting each answer made
    /// every call two thread hops and context switches, a third of the HTTP
    /// generator's CPU on the cores it shares with the server it measures.
    private func closedLoop(
        _ connections: [any LoadConnection], inFlight: Int, recorders: [SharedRecorder], counters: LiveCounters,
        clock: ContinuousClock, measureStart: ContinuousClock.Instant
    ) async {
        let stopped = StopFlag()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                let lanes = LaneCount(connections.count * inFlight, whenNone: { finished.resume() })
                for (index, connection) in connections.enumerated() {
                    for lane in 0..<inFlight {
                        let worker = ClosedLoopLane(
                            connection: connection, recorder: recorders[index], counters: counters, lanes: lanes,
                            stopped: stopped, configuration: configuration, clock: clock, measureStart: measureStart
                        )
                        worker.issue(pick: index * inFlight + lane)
                    }
                }
            }
        } onCancel: {
            stopped.flag.store(true, ordering: .relaxed)
        }
    }

    /// Sends the open-loop schedule over all connections, each call at its due time.
    ///
    /// Each event loop runs the schedule for the connections it serves, from
    /// a timer of its own (``OpenLoopScheduler``), and returns when every
    /// call has been answered or has timed out.
    private func openLoop(
        _ connections: [any LoadConnection], schedule: RateSchedule, outstanding: Int, recorders: [SharedRecorder],
        counters: LiveCounters, clock: ContinuousClock, start: ContinuousClock.Instant
    ) async {
        var loops: [ObjectIdentifier: (any EventLoop, [Bool])] = [:]
        for (lane, connection) in connections.enumerated() {
            let loop = connection.eventLoop
            loops[ObjectIdentifier(loop), default: (loop, Array(repeating: false, count: connections.count))].1[lane] = true
        }
        let plan = OpenLoopScheduler.Plan(
            connections: connections, recorders: recorders, running: connections.map { _ in OutstandingCalls() },
            counters: counters, clock: clock, start: start, schedule: schedule, mix: configuration.mix,
            outstanding: outstanding, end: schedule.endCall(for: configuration.stop), stopped: StopFlag()
        )
        await withTaskCancellationHandler {
            await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                let remaining = LaneCount(loops.count, whenNone: { finished.resume() })
                for (loop, lanes) in loops.values {
                    loop.execute {
                        OpenLoopScheduler(plan: plan, lanes: lanes, loop: loop, finished: remaining.laneStopped).round()
                    }
                }
            }
        } onCancel: {
            plan.stopped.flag.store(true, ordering: .relaxed)
        }
    }

    /// User plus system CPU of this process so far.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        #if canImport(Glibc)
        let status = getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        let status = getrusage(RUSAGE_SELF, &usage)
        #endif
        guard status == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    var microseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000 + UInt64(attoseconds / 1_000_000_000_000)
    }
}
