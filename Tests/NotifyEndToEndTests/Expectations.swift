import NotifyCore
import NotifyDomain
import NotifyMessages
import Testing

/// Expects `body` to fail with an ``RPCError`` of `code` and `reason`, and
/// returns the error for further checks (field violations, metadata).
@discardableResult
func expectFailure<T>(
    _ code: StatusCode, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async -> RPCError? {
    do {
        let value = try await body()
        Issue.record("expected \(code.name) \(reason), the call succeeded with \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as RPCError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.reason?.rawValue == reason, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected an RPCError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A Notify request that passes validation: `recipients` is "user" or "connections".
func notifyRequest(
    issuer: Int64, recipients: String? = "user", type: String = "wishlist", title: String? = "An item was added"
) -> NotifyRequest {
    NotifyRequest(
        recipientsType: recipients, type: type, title: title.map { .value($0) } ?? .null, description: .null,
        user: issuer
    )
}

/// The custom content of a feed entry, or nil for a Graph notification.
func customContent(_ notification: NotifyDomain.Notification) -> CustomNotification? {
    if case .custom(let custom) = notification.content { return custom }
    return nil
}

/// The Graph content of a feed entry, or nil for a custom notification.
func graphContent(_ notification: NotifyDomain.Notification) -> GraphNotification? {
    if case .graph(let graph) = notification.content { return graph }
    return nil
}
