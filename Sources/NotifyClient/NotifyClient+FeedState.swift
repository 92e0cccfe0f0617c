public import NotifyCore
public import NotifyDomain
public import NotifyMessages

/// Typed calls for the feed's state (docs/PROTOCOL.md, "Feed state"). Each
/// change answers the sequence of the event it appended (0 when it changed
/// nothing) and the unseen count after it; metadata must carry
/// "authorization".
extension NotifyClient {
    /// `/notify.v1.FeedService/MarkRead`: `ids`, or with `upToSequence`
    /// every notification of `source` up to it (exactly one of the two).
    public func markRead(
        _ request: MarkReadRequest, metadata: Metadata, timeout: Duration? = nil
    ) async throws(RPCError) -> FeedChangeResponse {
        try await call(NotifyMethods.markRead, request, metadata: metadata, timeout: timeout)
    }

    /// `/notify.v1.FeedService/UnseenCount`.
    public func unseenCount(
        user: Int64, source: String? = nil, metadata: Metadata, timeout: Duration? = nil
    ) async throws(RPCError) -> UInt64 {
        try await call(
            NotifyMethods.unseenCount, UnseenCountRequest(user: user, source: source), metadata: metadata, timeout: timeout
        ).count
    }

    /// `/notify.v1.FeedService/SetActionState`.
    public func setActionState(
        user: Int64, id: String, _ state: String, metadata: Metadata, timeout: Duration? = nil
    ) async throws(RPCError) -> FeedChangeResponse {
        try await call(
            NotifyMethods.setActionState, SetActionStateRequest(user: user, id: id, actionState: state),
            metadata: metadata, timeout: timeout)
    }

    /// `/notify.v1.FeedService/Delete`.
    public func deleteEntries(
        user: Int64, ids: [String], metadata: Metadata, timeout: Duration? = nil
    ) async throws(RPCError) -> FeedChangeResponse {
        try await call(NotifyMethods.deleteEntries, DeleteEntriesRequest(user: user, ids: ids), metadata: metadata, timeout: timeout)
    }

    /// `/notify.v1.FeedService/DeleteGroup`.
    public func deleteGroup(
        user: Int64, groupName: String, metadata: Metadata, timeout: Duration? = nil
    ) async throws(RPCError) -> FeedChangeResponse {
        try await call(
            NotifyMethods.deleteGroup, DeleteGroupRequest(user: user, groupName: groupName), metadata: metadata,
            timeout: timeout)
    }

    /// `/notify.v1.FeedService/Get`: one entry with its state.
    public func getEntry(
        user: Int64, id: String, metadata: Metadata, timeout: Duration? = nil
    ) async throws(RPCError) -> Notification {
        try await call(NotifyMethods.getEntry, GetEntryRequest(user: user, id: id), metadata: metadata, timeout: timeout)
            .notification
    }
}
