/// The PostgreSQL store's schema, as versioned migrations recorded in
/// `schema_migrations`.
///
/// A migration that has shipped is never edited: a change is a new one
/// appended to ``migrations``. Each runs in its own transaction under an
/// advisory lock, so that instances starting together migrate once.
///
/// The tables mirror the SQLite store's (docs/ARCHITECTURE.md), with the
/// names PostgreSQL reserves avoided (`user_id`, `to_user`). Times are
/// `bigint` microseconds since 1970, as there.
enum PostgresSchema {
    /// The advisory lock key every instance takes while migrating ("notify" in ASCII).
    static let migrationLock: Int64 = 0x6E6F_7469_6679

    static let migrations: [(version: String, sql: [String])] = [
        (
            "v1-initial",
            [
                """
                CREATE TABLE users (
                    id bigint PRIMARY KEY,
                    name text
                )
                """,
                // A friendship is symmetric: stored once, with user_id < to_user.
                """
                CREATE TABLE connections (
                    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    kind text NOT NULL CHECK (kind IN ('friend', 'follow')),
                    to_user bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    PRIMARY KEY (user_id, kind, to_user)
                )
                """,
                "CREATE INDEX connections_to ON connections (to_user, kind, user_id)",
                """
                CREATE TABLE subscriptions (
                    id text PRIMARY KEY,
                    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    app text NOT NULL,
                    platform text NOT NULL,
                    device_id text,
                    expires_at bigint NOT NULL
                )
                """,
                "CREATE INDEX subscriptions_user ON subscriptions (user_id)",
                "CREATE INDEX subscriptions_expires_at ON subscriptions (expires_at)",
                "CREATE TABLE blocked (principal text PRIMARY KEY)",
                """
                CREATE TABLE tokens (
                    id text PRIMARY KEY,
                    hash bytea NOT NULL UNIQUE,
                    principal text NOT NULL,
                    roles text NOT NULL,
                    expires_at bigint NOT NULL,
                    revoked boolean NOT NULL DEFAULT false
                )
                """,
                """
                CREATE TABLE stream_tickets (
                    hash bytea PRIMARY KEY,
                    token text NOT NULL,
                    expires_at bigint NOT NULL
                )
                """,
                "CREATE INDEX stream_tickets_expires_at ON stream_tickets (expires_at)",
                // serial keeps feed rows small (8 bytes, not the id). app and
                // platforms are a SendNotification's target and platforms, for
                // a device endpoint's filtered read; content is the JSON of
                // PostgresContent; expires_at a SendNotification's expiration.
                """
                CREATE TABLE notifications (
                    serial bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    id text NOT NULL UNIQUE,
                    created_at bigint NOT NULL,
                    kind text NOT NULL,
                    content text NOT NULL,
                    expires_at bigint,
                    app text,
                    platforms text[]
                )
                """,
                // One gapless sequence per user; feed_heads holds its last value
                // (kept when the user is deleted) and the unseen counts per view.
                """
                CREATE TABLE feed (
                    user_id bigint NOT NULL,
                    seq bigint NOT NULL,
                    notification bigint NOT NULL,
                    read boolean NOT NULL DEFAULT false,
                    action_state text,
                    PRIMARY KEY (user_id, seq)
                )
                """,
                "CREATE INDEX feed_notification ON feed (notification)",
                """
                CREATE TABLE feed_heads (
                    user_id bigint PRIMARY KEY,
                    last_seq bigint NOT NULL,
                    swept_through bigint NOT NULL DEFAULT 0,
                    unseen_notify bigint NOT NULL DEFAULT 0,
                    unseen_graph bigint NOT NULL DEFAULT 0
                )
                """,
                // A key is inserted first (the unique constraint decides which
                // of two racing appends writes, across instances too), then
                // completed with what its append stored, in the same transaction.
                """
                CREATE TABLE idempotency (
                    scope text NOT NULL,
                    method text NOT NULL,
                    key text NOT NULL,
                    fingerprint bytea NOT NULL,
                    notification bigint,
                    recipients bigint,
                    first_user bigint,
                    first_seq bigint,
                    created_at bigint NOT NULL,
                    PRIMARY KEY (scope, method, key)
                )
                """,
                "CREATE INDEX idempotency_created_at ON idempotency (created_at)",
            ]
        ),
        // The state changes of feed entries (docs/PROTOCOL.md, "Feed state"),
        // each numbered from the same head as the notifications (a sequence
        // is in feed or here, never both); ids comma-separated.
        (
            "v2-feed-events",
            [
                """
                CREATE TABLE feed_events (
                    user_id bigint NOT NULL,
                    seq bigint NOT NULL,
                    created_at bigint NOT NULL,
                    kind text NOT NULL,
                    ids text NOT NULL,
                    read_up_to bigint,
                    view text,
                    action_state text,
                    removed_reason text,
                    PRIMARY KEY (user_id, seq)
                )
                """
            ]
        ),
        // The sweeper finds expired notifications by the first partial
        // index, those past the retention by the second, and whether a key
        // still names a notification by the third.
        (
            "v3-sweeper",
            [
                "CREATE INDEX notifications_expires_at ON notifications (expires_at) WHERE expires_at IS NOT NULL",
                "CREATE INDEX notifications_retained ON notifications (created_at) WHERE expires_at IS NULL",
                "CREATE INDEX idempotency_notification ON idempotency (notification)",
            ]
        ),
        // The background fan-out (PostgresNotificationStore+FanOut.swift):
        // a connections notification whose audience is larger than the
        // inline limit. The job reads the issuer's connections batch by batch
        // in user id order after cursor_user (the last user written); any
        // instance claims it for one batch with FOR UPDATE SKIP LOCKED.
        (
            "v4-fanout-jobs",
            [
                """
                CREATE TABLE fanout_jobs (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    notification bigint NOT NULL,
                    issuer bigint NOT NULL,
                    mode text NOT NULL CHECK (mode IN ('friendship', 'follow')),
                    graph boolean NOT NULL,
                    cursor_user bigint NOT NULL,
                    total bigint NOT NULL,
                    created_at bigint NOT NULL
                )
                """,
                "CREATE INDEX fanout_jobs_notification ON fanout_jobs (notification)",
            ]
        ),
        // Who may see an event (docs/PROTOCOL.md, "Feed state"): the keys of
        // the entries it names, `notify`, `graph` and `platform:app` for each
        // platform a SendNotification entry targets (``eventAudienceSQL``);
        // NULL, every reader (a read up to a sequence, or an event naming a
        // notification already gone). Kept when its entries go. Events stored
        // before get theirs from the notifications they name.
        (
            "v5-event-audience",
            [
                "ALTER TABLE feed_events ADD COLUMN audience text[]",
                """
                UPDATE feed_events e SET audience = \(eventAudienceSQL("string_to_array(e.ids, ',')"))
                WHERE e.read_up_to IS NULL AND e.ids <> ''
                    AND (SELECT count(*) FROM notifications n WHERE n.id = ANY(string_to_array(e.ids, ',')))
                        = cardinality(string_to_array(e.ids, ','))
                """,
            ]
        ),
        // Retention finds old events (the sweeper).
        ("v6-event-retention", ["CREATE INDEX feed_events_created_at ON feed_events (created_at)"]),
        // How many users each user's `connections` audience holds, by kind
        // ('friend': his friends; 'follow': his followers), kept by a trigger
        // in every transaction that adds or removes a connection (a deleted
        // user's by cascade too), so that a large audience's answer reads one
        // row rather than count the index in the writer's transaction. The
        // function keeps this schema's search path.
        (
            "v7-audience-counts",
            [
                """
                CREATE TABLE audience_counts (
                    user_id bigint NOT NULL,
                    kind text NOT NULL,
                    n bigint NOT NULL,
                    PRIMARY KEY (user_id, kind)
                )
                """,
                """
                INSERT INTO audience_counts (user_id, kind, n)
                SELECT member, kind, count(*) FROM (
                    SELECT to_user AS member, kind FROM connections WHERE user_id <> to_user
                    UNION ALL
                    SELECT user_id, kind FROM connections WHERE kind = 'friend' AND user_id <> to_user
                ) m GROUP BY member, kind
                """,
                """
                CREATE FUNCTION connection_counted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
                BEGIN
                    IF TG_OP = 'INSERT' THEN
                        IF NEW.user_id <> NEW.to_user THEN
                            INSERT INTO audience_counts (user_id, kind, n) VALUES (NEW.to_user, NEW.kind, 1)
                                ON CONFLICT (user_id, kind) DO UPDATE SET n = audience_counts.n + 1;
                            IF NEW.kind = 'friend' THEN
                                INSERT INTO audience_counts (user_id, kind, n) VALUES (NEW.user_id, 'friend', 1)
                                    ON CONFLICT (user_id, kind) DO UPDATE SET n = audience_counts.n + 1;
                            END IF;
                        END IF;
                    ELSIF OLD.user_id <> OLD.to_user THEN
                        UPDATE audience_counts SET n = n - 1 WHERE user_id = OLD.to_user AND kind = OLD.kind;
                        IF OLD.kind = 'friend' THEN
                            UPDATE audience_counts SET n = n - 1 WHERE user_id = OLD.user_id AND kind = 'friend';
                        END IF;
                    END IF;
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE TRIGGER connection_counted AFTER INSERT OR DELETE ON connections
                FOR EACH ROW EXECUTE FUNCTION connection_counted()
                """,
            ]
        ),
        // Fails the statement that calls it: an append batch's statement
        // commits by itself, so what it finds only an append alone can
        // settle must undo all of it (plain SQL has no way to raise).
        (
            "v8-refuse",
            [
                """
                CREATE FUNCTION notify_refuse(reason text) RETURNS bigint LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION USING ERRCODE = 'NT001', MESSAGE = reason;
                END
                $$
                """
            ]
        ),
    ]

    /// The audience of an event naming the notifications whose ids `ids`
    /// (a `text[]` expression) holds: the distinct keys of each, as
    /// ``PostgresNotificationStore/eventKeys(for:)`` asks for them.
    static func eventAudienceSQL(_ ids: String) -> String {
        """
        (SELECT array_agg(DISTINCT k ORDER BY k) FROM notifications n, LATERAL unnest(
            CASE WHEN n.kind = 'graph'
            THEN ARRAY['graph'] || COALESCE(
                (SELECT array_agg(p || ':' || n.app) FROM unnest(n.platforms) AS p WHERE n.app IS NOT NULL), '{}')
            ELSE ARRAY['notify'] END) AS k
         WHERE n.id = ANY(\(ids)))
        """
    }
}
