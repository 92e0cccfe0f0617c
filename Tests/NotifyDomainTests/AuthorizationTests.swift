import Foundation
import NotifyDomain
import Testing

/// The subscription every subscription action targets: user 5 on app "a.example".
private let subscription = Subscription(
    id: "uns-1", user: 5, app: "a.example", platform: .ios, deviceID: nil,
    expiresAt: Timestamp(secondsSince1970: 1_800_000_000))

/// One column per action; every row below lists its outcome for each, in this order.
private let actions: [Action] = [
    .notify,
    .sendNotification(to: subscription),
    .readFeed(user: 5),
    .manageUsers,
    .manageBlockList,
    .manageTokens,
    .createSubscription(user: 5, app: "a.example"),
    .manageSubscription(subscription),
]

private enum Outcome: Hashable, Sendable, CustomStringConvertible {
    case allow
    case deny(AuthorizationError.Reason)

    var description: String {
        switch self {
        case .allow: "allow"
        case .deny(let reason): "deny \(reason.rawValue)"
        }
    }
}

private let Y = Outcome.allow
private let A = Outcome.deny(.adminRoleRequired)
private let U = Outcome.deny(.notAuthorizedForUser)
private let P = Outcome.deny(.notAuthorizedForApp)
private let O = Outcome.deny(.notSubscriptionOwner)

private func caller(_ principal: Principal, _ roles: Set<Role>) -> Caller {
    Caller(principal: principal, roles: roles, tokenID: "t")
}

/// The matrix: caller × action. Columns as in `actions`:
/// notify, send, readFeed(5), users, blocks, tokens, createSubscription(5, a), manageSubscription.
private let matrix: [(name: String, caller: Caller, outcomes: [Outcome])] = [
    ("admin user", caller(.user(1), [.admin]), [Y, Y, Y, Y, Y, Y, Y, Y]),
    ("admin app", caller(.app("ops.example"), [.admin]), [Y, Y, Y, Y, Y, Y, Y, Y]),
    ("admin who is also the user", caller(.user(5), [.admin, .user]), [Y, Y, Y, Y, Y, Y, Y, Y]),
    ("owning app", caller(.app("a.example"), [.app]), [A, Y, U, A, A, A, Y, Y]),
    ("other app", caller(.app("b.example"), [.app]), [A, O, U, A, A, A, P, O]),
    ("owning app without roles", caller(.app("a.example"), []), [A, O, U, A, A, A, P, O]),
    ("owning app with the user role", caller(.app("a.example"), [.user]), [A, O, U, A, A, A, P, O]),
    ("subscribed user", caller(.user(5), [.user]), [A, Y, Y, A, A, A, Y, Y]),
    ("subscribed user with user and app roles", caller(.user(5), [.user, .app]), [A, Y, Y, A, A, A, Y, Y]),
    ("other user", caller(.user(6), [.user]), [A, O, U, A, A, A, U, O]),
    ("subscribed user without roles", caller(.user(5), []), [A, O, U, A, A, A, U, O]),
    ("subscribed user with the app role", caller(.user(5), [.app]), [A, O, U, A, A, A, U, O]),
]

private struct MatrixCase: Sendable, CustomTestStringConvertible {
    var name: String
    var caller: Caller
    var action: Action
    var expected: Outcome

    var testDescription: String { "\(name), \(action) → \(expected)" }
}

private let cases: [MatrixCase] = matrix.flatMap { row in
    zip(actions, row.outcomes).map { MatrixCase(name: row.name, caller: row.caller, action: $0, expected: $1) }
}

private func outcome(_ caller: Caller, _ action: Action) -> Outcome {
    do {
        try Authorization.authorize(caller, for: action)
        return .allow
    } catch {
        return .deny(error.reason)
    }
}

@Suite("Authorization")
struct AuthorizationTests {
    @Test("The matrix is complete: every row has one outcome per action")
    func matrixShape() {
        for row in matrix {
            #expect(row.outcomes.count == actions.count, "\(row.name)")
        }
        #expect(cases.count == matrix.count * actions.count)
    }

    @Test("Role × action × target", arguments: cases)
    fileprivate func decides(_ testCase: MatrixCase) {
        #expect(outcome(testCase.caller, testCase.action) == testCase.expected)
    }

    @Test("An app may create a subscription for any user; a user for any app")
    func createSubscriptionTargets() {
        #expect(outcome(caller(.app("a.example"), [.app]), .createSubscription(user: 99, app: "a.example")) == Y)
        #expect(outcome(caller(.user(5), [.user]), .createSubscription(user: 5, app: "z.example")) == Y)
        #expect(outcome(caller(.app("a.example"), [.app]), .createSubscription(user: 5, app: "A.EXAMPLE")) == P)
        #expect(outcome(caller(.user(5), [.user]), .createSubscription(user: 6, app: "a.example")) == U)
    }

    @Test("A user reads only his own feed")
    func readFeedTargets() {
        #expect(outcome(caller(.user(5), [.user]), .readFeed(user: 5)) == Y)
        #expect(outcome(caller(.user(5), [.user]), .readFeed(user: 6)) == U)
    }

    @Test("Subscription ownership compares the app name exactly")
    func subscriptionAppName() {
        #expect(outcome(caller(.app("A.example"), [.app]), .sendNotification(to: subscription)) == O)
        #expect(outcome(caller(.app("a.example."), [.app]), .manageSubscription(subscription)) == O)
    }

    @Test("Refusals carry a message")
    func messages() throws {
        let error = try #require(throws: AuthorizationError.self) {
            try Authorization.authorize(caller(.app("b.example"), [.app]), for: .notify)
        }
        #expect(error.reason == .adminRoleRequired)
        #expect(error.message == "Notify requires the admin role.")
    }

    @Test(
        "Reasons have stable raw values",
        arguments: [
            (AuthorizationError.Reason.adminRoleRequired, "ADMIN_ROLE_REQUIRED"),
            (.notAuthorizedForUser, "NOT_AUTHORIZED_FOR_USER"),
            (.notAuthorizedForApp, "NOT_AUTHORIZED_FOR_APP"),
            (.notSubscriptionOwner, "NOT_SUBSCRIPTION_OWNER"),
        ])
    func reasonRawValues(reason: AuthorizationError.Reason, rawValue: String) {
        #expect(reason.rawValue == rawValue)
        #expect(reason.description == rawValue)
    }
}
