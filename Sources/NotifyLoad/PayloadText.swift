import NotifyDomain

/// Text that fills a request's user content to a chosen size.
///
/// `--payload-bytes` counts the bytes of the fields a caller writes:
/// Notify's title then description, SendNotification's visual title, then
/// body, then raw content, each up to its validation limit
/// (``NotifyDomain/Limits``). The text is ASCII, so bytes and characters agree.
/// The title always has at least one character: Graph requires one.
struct PayloadText: Hashable, Sendable {
    var title: String
    /// Notify's description or Graph's visual body; nil when the size is used up.
    var body: String?
    /// Graph's raw content; nil when the size is used up (always nil for Notify).
    var rawContent: String?

    /// The bytes the fields hold together.
    var byteCount: Int { title.utf8.count + (body?.utf8.count ?? 0) + (rawContent?.utf8.count ?? 0) }

    /// The largest `--payload-bytes` an operation's limits allow.
    static func maximumBytes(for operation: LoadOperation) -> Int {
        switch operation {
        case .notifyUser, .notifyConnections: Limits.titleMaxLength + Limits.descriptionMaxLength
        case .send: Limits.visualTitleMaxLength + Limits.visualBodyMaxLength + Limits.rawContentMaxBytes
        case .health, .markRead, .unseenCount: Int.max
        }
    }

    /// Splits `bytes` over the operation's fields in order.
    init(bytes: Int, for operation: LoadOperation) {
        var left = max(bytes, 1)
        let titleLimit = operation == .send ? Limits.visualTitleMaxLength : Limits.titleMaxLength
        let titleLength = min(left, titleLimit)
        title = PayloadText.filler(titleLength)
        left -= titleLength
        let bodyLength = min(left, operation == .send ? Limits.visualBodyMaxLength : Limits.descriptionMaxLength)
        body = bodyLength > 0 ? PayloadText.filler(bodyLength) : nil
        left -= bodyLength
        let rawLength = operation == .send ? min(left, Limits.rawContentMaxBytes) : 0
        rawContent = rawLength > 0 ? PayloadText.filler(rawLength) : nil
    }

    /// Readable filler, so a payload seen in a feed says where it came from.
    static func filler(_ length: Int) -> String {
        let pattern = Array("notify-load ".utf8)
        return String(decoding: (0..<length).map { pattern[$0 % pattern.count] }, as: UTF8.self)
    }
}
