import NotifyCore
import NotifyWire
import Synchronization

/// Answers finished off a connection's event loop, waiting for that loop.
///
/// The store's writer completes a whole batch of calls at once. Handing each
/// answer to the loop with its own `execute` cost a lock on the loop's task
/// queue and often an eventfd wake-up per call; here the first answer of a
/// batch schedules one drain and the others join it.
final class AnswerInbox: Sendable {
    enum Answer: Sendable {
        /// A response already built (by a call's task).
        case ready(ResponseFrame)
        /// A staged call's answer, built on the loop when it is drained.
        case build(ServerContext, CallCompletion.Answer)
    }

    private let answers = Mutex<[Answer]>([])

    /// Adds `answer`.
    /// - Returns: true when the inbox was empty: the caller schedules a drain.
    func push(_ answer: Answer) -> Bool {
        answers.withLock { answers in
            answers.append(answer)
            return answers.count == 1
        }
    }

    /// Everything waiting, oldest first.
    func take() -> [Answer] {
        answers.withLock { answers in
            var taken: [Answer] = []
            swap(&taken, &answers)
            return taken
        }
    }
}
