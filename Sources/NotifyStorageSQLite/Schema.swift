import Foundation
import GRDB
import NotifyJSON
import NotifyStorage

/// The store's schema, as string-named migrations.
///
/// A migration that has shipped is never edited: a change is a new
/// migration appended to the list, so every existing file reaches the same
/// schema by running the ones it lacks.
///
/// Times are INTEGER microseconds since 1970 (the precision PostgreSQL keeps),
/// so SQL compares and purges them without parsing text.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-initial") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    id INTEGER PRIMARY KEY,
                    name TEXT
                );

                -- A friendship is symmetric: it is stored once, with user < "to".
                CREATE TABLE connections (
                    user INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL CHECK (kind IN ('friend', 'follow')),
                    "to" INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    PRIMARY KEY (user, kind, "to")
                ) WITHOUT ROWID;
                -- Followers of a user, and the second direction of friendships.
                CREATE INDEX connections_to ON connections ("to", kind, user);

                CREATE TABLE subscriptions (
                    id TEXT PRIMARY KEY NOT NULL,
                    user INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    app TEXT NOT NULL,
                    platform TEXT NOT NULL,
                    device_id TEXT,
                    expires_at INTEGER NOT NULL
                );
                CREATE INDEX subscriptions_user ON subscriptions (user);

                CREATE TABLE blocked (
                    principal TEXT PRIMARY KEY NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE tokens (
                    id TEXT PRIMARY KEY NOT NULL,
                    hash BLOB NOT NULL UNIQUE,
                    principal TEXT NOT NULL,
                    roles TEXT NOT NULL,
                    expires_at INTEGER NOT NULL,
                    revoked INTEGER NOT NULL DEFAULT 0
                );

                -- serial keeps feed rows small: 8 bytes instead of a 36-byte UUID each.
                CREATE TABLE notifications (
                    serial INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    created_at INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    content TEXT NOT NULL
                );

                -- One gapless sequence per user; feed_heads holds its last value.
                CREATE TABLE feed (
                    user INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    notification INTEGER NOT NULL,
                    PRIMARY KEY (user, seq)
                ) WITHOUT ROWID;

                CREATE TABLE feed_heads (
                    user INTEGER PRIMARY KEY,
                    last_seq INTEGER NOT NULL
                );

                CREATE TABLE idempotency (
                    scope TEXT NOT NULL,
                    method TEXT NOT NULL,
                    key TEXT NOT NULL,
                    fingerprint BLOB NOT NULL,
                    notification INTEGER NOT NULL,
                    recipients INTEGER NOT NULL,
                    first_user INTEGER,
                    first_seq INTEGER,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (scope, method, key)
                ) WITHOUT ROWID;
                CREATE INDEX idempotency_created_at ON idempotency (created_at);

                -- A large audience, snapshotted when its notification committed;
                -- the background fan-out deletes recipients as it writes their feeds.
                CREATE TABLE fanout_jobs (
                    id INTEGER PRIMARY KEY,
                    notification INTEGER NOT NULL,
                    total INTEGER NOT NULL,
                    created_at INTEGER NOT NULL
                );

                CREATE TABLE fanout_recipients (
                    job INTEGER NOT NULL REFERENCES fanout_jobs(id) ON DELETE CASCADE,
                    user INTEGER NOT NULL,
                    PRIMARY KEY (job, user)
                ) WITHOUT ROWID;
                """)
        }
        // A row written and deleted by the write probe while the disk is full
        // (StoreEngine.runWritabilityProbe): never read.
        migrator.registerMigration("v2-store-probe") { db in
            try db.execute(sql: "CREATE TABLE store_probe (id INTEGER PRIMARY KEY, filler BLOB NOT NULL)")
        }
        // Expiry and retention (docs/OPERATIONS.md, "The sweeper"):
        // - notifications.expires_at: a SendNotification's expirationDateTime
        //   (NULL for Notify's, which are kept for the retention instead),
        //   backfilled from the stored content; reads filter on it and the
        //   sweeper finds expired notifications by its partial index, and
        //   those past the retention by the other one;
        // - feed_notification: a notification's feed rows, for the sweeper;
        // - idempotency_notification: whether a key still names a
        //   notification (it is kept until the key is purged, so a replay answers);
        // - feed_heads.swept_through: the highest sequence of the user's feed
        //   removed by retention, so that a reader resuming before it is told.
        migrator.registerMigration("v3-expiry") { db in
            try db.execute(sql: """
                ALTER TABLE notifications ADD COLUMN expires_at INTEGER;
                UPDATE notifications SET expires_at = json_extract(content, '$.expiration')
                    WHERE kind = 'graph';
                CREATE INDEX notifications_expires_at ON notifications (expires_at)
                    WHERE expires_at IS NOT NULL;
                CREATE INDEX notifications_retained ON notifications (created_at)
                    WHERE expires_at IS NULL;
                CREATE INDEX feed_notification ON feed (notification);
                CREATE INDEX idempotency_notification ON idempotency (notification);
                ALTER TABLE feed_heads ADD COLUMN swept_through INTEGER NOT NULL DEFAULT 0;
                """)
        }
        // Device endpoints: the subscription sweep finds subscriptions past
        // their renewal grace period by their expiry.
        migrator.registerMigration("v4-subscriptions-expiry") { db in
            try db.execute(sql: "CREATE INDEX subscriptions_expires_at ON subscriptions (expires_at)")
        }
        // Single-use stream tickets (Directory.insertStreamTicket): a row is
        // deleted when redeemed, and expired ones when a new one is stored.
        migrator.registerMigration("v5-stream-tickets") { db in
            try db.execute(sql: """
                CREATE TABLE stream_tickets (
                    hash BLOB PRIMARY KEY NOT NULL,
                    token TEXT NOT NULL,
                    expires_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX stream_tickets_expires_at ON stream_tickets (expires_at);
                """)
        }
        // The state of feed entries (docs/PROTOCOL.md, "Feed state"):
        // - feed.read, feed.action_state: each entry's state (0 and NULL, the
        //   defaults, cost no bytes in a row); a deleted entry's row is gone;
        // - feed_heads.unseen_notify, unseen_graph: the unread entries of each
        //   view, moved in the transactions that append, read and remove
        //   entries, so a count reads one row; existing entries are unread;
        // - feed_events: the state changes, each numbered from the same head
        //   as the notifications (a sequence is in feed or here, never both).
        // Changes by id find an entry by v3's feed_notification index.
        migrator.registerMigration("v6-feed-state") { db in
            try db.execute(sql: """
                ALTER TABLE feed ADD COLUMN read INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE feed ADD COLUMN action_state TEXT;
                ALTER TABLE feed_heads ADD COLUMN unseen_notify INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE feed_heads ADD COLUMN unseen_graph INTEGER NOT NULL DEFAULT 0;
                UPDATE feed_heads SET
                    unseen_notify = (SELECT COUNT(*) FROM feed f JOIN notifications n ON n.serial = f.notification
                        WHERE f.user = feed_heads.user AND n.kind = 'custom'),
                    unseen_graph = (SELECT COUNT(*) FROM feed f JOIN notifications n ON n.serial = f.notification
                        WHERE f.user = feed_heads.user AND n.kind = 'graph');
                CREATE TABLE feed_events (
                    user INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    ids TEXT NOT NULL,
                    read_up_to INTEGER,
                    view TEXT,
                    action_state TEXT,
                    removed_reason TEXT,
                    PRIMARY KEY (user, seq)
                ) WITHOUT ROWID;
                """)
        }
        // Notification content in typed columns (ContentColumns) instead of
        // one JSON text: `notifications` is rebuilt, every row moved member by
        // member with json_extract in this migration's transaction, and the
        // move is checked before the old table goes: the same rows, every
        // required member present. A SendNotification's expiration is
        // expires_at (v3 backfilled it). Nothing else names the table by
        // constraint. Of its indexes only notifications_expires_at is made
        // again (SendNotification's rows only): v3's notifications_retained,
        // which every Notify append wrote, goes, since the retention walks
        // notifications in serial order (StoreEngine+Sweep).
        migrator.registerMigration("v7-typed-content") { db in
            try db.execute(sql: """
                CREATE TABLE notifications_typed (
                    serial INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    created_at INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    expires_at INTEGER,
                    -- Notify's content (kind 'custom').
                    type TEXT,
                    issuer INTEGER,
                    title TEXT,
                    description TEXT,
                    embed_type TEXT,
                    embed_id TEXT,
                    embed_url TEXT,
                    embed_metadata TEXT,
                    -- SendNotification's (kind 'graph'): platforms comma-separated, in order.
                    target_host_name TEXT,
                    app_notification_id TEXT,
                    group_name TEXT,
                    raw_content TEXT,
                    visual_title TEXT,
                    visual_body TEXT,
                    platforms TEXT,
                    priority TEXT,
                    display_ttl INTEGER,
                    fallback_policy TEXT
                );
                INSERT INTO notifications_typed
                SELECT serial, id, created_at, kind,
                    CASE kind WHEN 'graph' THEN COALESCE(expires_at, json_extract(content, '$.expiration')) END,
                    json_extract(content, '$.type'),
                    json_extract(content, '$.issuer'),
                    json_extract(content, '$.title'),
                    json_extract(content, '$.description'),
                    json_extract(content, '$.embed.embedType'),
                    json_extract(content, '$.embed.embedID'),
                    json_extract(content, '$.embed.url'),
                    json_extract(content, '$.embed.metadataJSON'),
                    json_extract(content, '$.targetHostName'),
                    json_extract(content, '$.appNotificationID'),
                    json_extract(content, '$.groupName'),
                    json_extract(content, '$.rawContent'),
                    CASE WHEN json_extract(content, '$.hasVisualContent')
                        THEN COALESCE(json_extract(content, '$.visualTitle'), '') END,
                    json_extract(content, '$.visualBody'),
                    -- The stored array is compact and no platform's name holds
                    -- a quote, bracket or comma: ["ios","windows"] -> ios,windows.
                    replace(replace(replace(json_extract(content, '$.platforms'), '[', ''), ']', ''), '"', ''),
                    json_extract(content, '$.priority'),
                    json_extract(content, '$.displayTimeToLive'),
                    json_extract(content, '$.fallbackPolicyJSON')
                FROM notifications;
                """)
            try moveEscapedNULs(db)
            let moved = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM notifications_typed") ?? -1
            let stored = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM notifications") ?? -2
            let incomplete = try Int.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM notifications_typed WHERE
                        (kind = 'custom' AND (type IS NULL OR typeof(issuer) <> 'integer'
                            OR (embed_type IS NULL) <> (embed_id IS NULL)))
                        OR (kind = 'graph' AND (typeof(expires_at) <> 'integer' OR platforms IS NULL
                            OR priority IS NULL OR typeof(display_ttl) <> 'integer'))
                        OR kind NOT IN ('custom', 'graph')
                    """) ?? -1
            guard moved == stored, incomplete == 0 else {
                throw StorageError(
                    code: .corrupt, message: "stored notifications could not be moved to typed columns",
                    cause: "\(stored) rows, \(moved) moved, \(incomplete) incomplete")
            }
            try db.execute(sql: """
                DROP TABLE notifications;
                ALTER TABLE notifications_typed RENAME TO notifications;
                CREATE INDEX notifications_expires_at ON notifications (expires_at)
                    WHERE expires_at IS NOT NULL;
                """)
        }
        // Feed events for device endpoints, and state changes without feed
        // scans (docs/PROTOCOL.md, "Feed state"):
        // - feed_events.audience: who may see an event (EventAudience), so a
        //   read by an endpoint or a view filters events in SQL; events
        //   already stored get theirs from the notifications they name
        //   (NULL, every reader, when those are gone);
        // - feed_heads.last_event: the user's last event's sequence, read
        //   with swept_through, so a page after it reads no events;
        // - feed_events_created_at: retention finds old events;
        // - feed_heads.read_floor_notify, read_floor_graph: every entry of
        //   that kind up to it is read, so a MarkRead up to a sequence visits
        //   only the rows after it (an index of unread rows would cost every
        //   append: +14 % server CPU per Notify, docs/PERFORMANCE.md);
        // - notifications_group: DeleteGroup finds a group's notifications
        //   (SendNotification's rows only: a Notify append writes nothing to it).
        migrator.registerMigration("v8-feed-events") { db in
            try db.execute(sql: """
                ALTER TABLE feed_events ADD COLUMN audience TEXT;
                ALTER TABLE feed_heads ADD COLUMN last_event INTEGER NOT NULL DEFAULT 0;
                UPDATE feed_heads SET last_event =
                    COALESCE((SELECT MAX(e.seq) FROM feed_events e WHERE e.user = feed_heads.user), 0);
                CREATE INDEX feed_events_created_at ON feed_events (created_at);
                ALTER TABLE feed_heads ADD COLUMN read_floor_notify INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE feed_heads ADD COLUMN read_floor_graph INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX notifications_group ON notifications (group_name)
                    WHERE kind = 'graph';
                """)
            try EventAudience.backfill(db)
        }
        // A fan-out job reads its audience from `connections` as it goes, by
        // user id after its cursor, instead of a snapshot of every id copied
        // inside the append (which held the writer for the whole audience).
        // Jobs already in `fanout_recipients` keep their snapshot (issuer
        // NULL) and are finished from it; the table stays for them.
        migrator.registerMigration("v9-fanout-cursor") { db in
            try db.execute(sql: """
                ALTER TABLE fanout_jobs ADD COLUMN issuer INTEGER;
                ALTER TABLE fanout_jobs ADD COLUMN mode TEXT;
                ALTER TABLE fanout_jobs ADD COLUMN cursor INTEGER;
                """)
        }
        // How many users each user's `connections` audience holds, by kind
        // ('friend': his friends; 'follow': his followers), kept by triggers
        // in every transaction that adds or removes a connection (a deleted
        // user's by cascade too). A large audience's answer counts it at the
        // call: a count over the index held the writer about 8 ms per
        // 100,000 followers, and every append queued behind it.
        migrator.registerMigration("v10-audience-counts") { db in
            try db.execute(sql: """
                CREATE TABLE audience_counts (
                    user INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    n INTEGER NOT NULL,
                    PRIMARY KEY (user, kind)
                ) WITHOUT ROWID;
                INSERT INTO audience_counts (user, kind, n)
                SELECT member, kind, COUNT(*) FROM (
                    SELECT "to" AS member, kind FROM connections WHERE user <> "to"
                    UNION ALL
                    SELECT user, kind FROM connections WHERE kind = 'friend' AND user <> "to"
                ) GROUP BY member, kind;
                CREATE TRIGGER connection_counted AFTER INSERT ON connections WHEN NEW.user <> NEW."to" BEGIN
                    INSERT INTO audience_counts (user, kind, n) VALUES (NEW."to", NEW.kind, 1)
                        ON CONFLICT (user, kind) DO UPDATE SET n = n + 1;
                    INSERT INTO audience_counts (user, kind, n) SELECT NEW.user, 'friend', 1 WHERE NEW.kind = 'friend'
                        ON CONFLICT (user, kind) DO UPDATE SET n = n + 1;
                END;
                CREATE TRIGGER connection_uncounted AFTER DELETE ON connections WHEN OLD.user <> OLD."to" BEGIN
                    UPDATE audience_counts SET n = n - 1 WHERE user = OLD."to" AND kind = OLD.kind;
                    UPDATE audience_counts SET n = n - 1 WHERE user = OLD.user AND kind = 'friend' AND OLD.kind = 'friend';
                END;
                """)
        }
        // The directory changes each process makes, for the other processes
        // on the file to read (StoreEngine+DirectoryChanges.swift).
        migrator.registerMigration("v11-directory-changes") { db in
            try db.execute(sql: """
                CREATE TABLE directory_changes (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    origin TEXT NOT NULL,
                    change TEXT NOT NULL
                );
                """)
        }
        return migrator
    }

    /// v7's text members again, from NotifyJSON's reader, for the rows whose
    /// JSON holds an escaped NUL: `json_extract` ends a text there. Neither
    /// the RPC nor the gateway accepts a NUL, so these are rare (the test
    /// writes some); a text holding the six characters `\u0000` matches too,
    /// and is moved the same, exactly.
    /// Bound as bytes and cast, since GRDB binds a `String` up to its first NUL.
    private static func moveEscapedNULs(_ db: Database) throws {
        let rows = try Row.fetchAll(
            db, sql: #"SELECT serial, content FROM notifications WHERE instr(content, '\u0000') > 0"#)
        for row in rows {
            guard case .object(let object)? = JSONValue.parse(text: row[1]) else {
                throw StorageError(code: .corrupt, message: "a stored notification is unreadable")
            }
            var embed: [String: JSONValue] = [:]
            if case .object(let nested)? = object["embed"] { embed = nested }
            // An empty Data would bind NULL: "" is bound as text.
            func bytes(_ value: String) -> DatabaseValue {
                value.isEmpty ? "".databaseValue : Data(value.utf8).databaseValue
            }
            func text(_ members: [String: JSONValue], _ key: String) -> DatabaseValue {
                guard case .string(let value)? = members[key] else { return .null }
                return bytes(value)
            }
            let visualTitle: DatabaseValue = if case .string(let title)? = object["visualTitle"] { bytes(title) } else { bytes("") }
            try db.execute(
                sql: """
                    UPDATE notifications_typed SET
                        type = CAST(? AS TEXT), title = CAST(? AS TEXT), description = CAST(? AS TEXT),
                        embed_type = CAST(? AS TEXT), embed_id = CAST(? AS TEXT), embed_url = CAST(? AS TEXT),
                        embed_metadata = CAST(? AS TEXT), target_host_name = CAST(? AS TEXT),
                        app_notification_id = CAST(? AS TEXT), group_name = CAST(? AS TEXT),
                        raw_content = CAST(? AS TEXT),
                        visual_title = CASE WHEN visual_title IS NULL THEN NULL ELSE CAST(? AS TEXT) END,
                        visual_body = CAST(? AS TEXT), fallback_policy = CAST(? AS TEXT)
                    WHERE serial = ?
                    """,
                arguments: [
                    text(object, "type"), text(object, "title"), text(object, "description"),
                    text(embed, "embedType"), text(embed, "embedID"), text(embed, "url"), text(embed, "metadataJSON"),
                    text(object, "targetHostName"), text(object, "appNotificationID"), text(object, "groupName"),
                    text(object, "rawContent"), visualTitle, text(object, "visualBody"), text(object, "fallbackPolicyJSON"),
                    row[0] as Int64,
                ])
        }
    }
}
