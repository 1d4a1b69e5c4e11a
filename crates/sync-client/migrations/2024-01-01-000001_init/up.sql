-- The sync client's local cache: the runner's workouts, the session, and the batches sent
-- but not yet confirmed by the server.

CREATE TABLE workouts (
    -- The client id: stable across re-imports, unique per account on the server.
    id TEXT PRIMARY KEY NOT NULL,
    -- The workout data, as the server will normalise it.
    start_time TEXT NOT NULL,
    start_offset_minutes INTEGER NOT NULL DEFAULT 0,
    end_time TEXT NOT NULL,
    duration_seconds BIGINT NOT NULL,
    distance_meters DOUBLE NOT NULL,
    energy_burned_kcal DOUBLE,
    avg_heart_rate INTEGER,
    max_heart_rate INTEGER,
    avg_pace_seconds_per_km DOUBLE,
    source TEXT NOT NULL,
    -- A hash of the workout as its source (an import) last gave it, so that re-importing an
    -- unchanged export changes nothing even after the server's copy replaced the local one.
    origin_hash TEXT,
    -- The server's id and revision, once known.
    server_id TEXT,
    revision BIGINT,
    -- A tombstone: deleted here (waiting to be sent while needs_sync) or on the server.
    deleted BOOLEAN NOT NULL DEFAULT 0,
    -- Saved locally and not yet confirmed by the server.
    needs_sync BOOLEAN NOT NULL DEFAULT 1,
    -- When the server last confirmed this workout.
    synced_at TEXT,
    -- Bumped on every local change; a batch remembers the version it carried.
    local_version BIGINT NOT NULL DEFAULT 1,
    -- The unconfirmed batch (its idempotency key) this workout was sent in, and the version sent.
    batch_key TEXT,
    batch_version BIGINT,
    -- Why the server rejected the last version sent (JSON of field errors), if it did.
    rejected TEXT,
    updated_at TEXT NOT NULL
);

CREATE INDEX workouts_needs_sync ON workouts (needs_sync, id);
CREATE INDEX workouts_batch_key ON workouts (batch_key);

-- The session (tokens, account), the change-feed cursor and the last successful sync.
CREATE TABLE kv (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- A logical batch, persisted with its idempotency key before it is sent, kept until the server
-- confirms it: a retry after a crash or a lost response sends the same body with the same key.
CREATE TABLE pending_batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    mode TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
