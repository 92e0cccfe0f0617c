import Foundation

/// The bounds validation enforces.
///
/// Neither contract documents sizes, so these are ours. They exist so that
/// every stored field has a maximum (storage, frames and feeds stay bounded)
/// and so callers can learn the limits from one place. Text lengths count
/// Unicode scalars, as SelfCommunity's Python server counts characters;
/// serialized JSON and raw content are counted in UTF-8 bytes, since they are
/// opaque blobs to us.
public enum Limits {
    // MARK: Notify (SelfCommunity)

    /// `type`: a short discriminator such as "wishlist_add"; SelfCommunity
    /// stores it in a 100-character column.
    public static let typeMaxLength = 100
    /// `title`: one line of text.
    public static let titleMaxLength = 255
    /// `description`: a paragraph or two.
    public static let descriptionMaxLength = 4_096
    /// `embed.embed_type`: an identifier.
    public static let embedTypeMaxLength = 255
    /// `embed.embed_id`: an identifier.
    public static let embedIDMaxLength = 255
    /// `embed.url`: the common practical limit for URLs in browsers and proxies.
    public static let urlMaxLength = 2_048
    /// `embed.metadata`, serialized, in UTF-8 bytes.
    public static let metadataMaxBytes = 16 * 1_024
    /// `embed.embed_type` values SelfCommunity uses for its own embeds; a
    /// custom notification that claimed one would be rendered as that kind of
    /// object by clients. Compared case-insensitively.
    public static let reservedEmbedTypes: Set<String> = ["sc_link", "sc_shared_object", "sc_shared_event"]

    // MARK: SendNotification (Graph)

    /// `payload.rawContent`, in UTF-8 bytes: Graph delivers it to the app
    /// as-is, so it is bounded like any opaque body.
    public static let rawContentMaxBytes = 64 * 1_024
    /// `payload.visualContent.title`.
    public static let visualTitleMaxLength = 255
    /// `payload.visualContent.body`.
    public static let visualBodyMaxLength = 4_096
    /// `targetHostName`: a DNS name is at most 253 characters.
    public static let targetHostNameMaxLength = 253
    /// `appNotificationId`.
    public static let appNotificationIDMaxLength = 255
    /// `groupName`.
    public static let groupNameMaxLength = 255
    /// `fallbackPolicy`, serialized, in UTF-8 bytes.
    public static let fallbackPolicyMaxBytes = 16 * 1_024
    /// Entries in `targetPolicy.platformTypes`, before duplicates collapse:
    /// there are only four platforms, so more than this is a broken client.
    public static let platformTypesMaxCount = 16
    /// The latest `expirationDateTime` accepted, from now: Graph keeps a
    /// notification at most 30 days.
    public static let expirationMax: Int64 = 30 * 24 * 60 * 60
    /// The expiration when `expirationDateTime` is absent: Graph's default.
    public static let expirationDefault: Int64 = 7 * 24 * 60 * 60
    /// The largest `displayTimeToLive`, in seconds: a notification cannot be
    /// shown for longer than it can live.
    public static let displayTimeToLiveMax: Int64 = 30 * 24 * 60 * 60
    /// `displayTimeToLive` when absent: 0 means "the platform's default".
    public static let displayTimeToLiveDefault: Int64 = 0

    // MARK: Timestamps

    /// Fraction digits accepted in `expirationDateTime`: Graph writes 7
    /// (.NET's 100-nanosecond ticks). Those past the third are dropped: times
    /// are kept at whole milliseconds (``Timestamp``).
    public static let fractionDigitsMax = 7
}
