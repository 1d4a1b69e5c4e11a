-- Native types: uuid ids, timestamptz times. See docs/architecture.md.
CREATE TABLE users (
    id              UUID PRIMARY KEY NOT NULL,
    email           TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    -- The user's change-feed position: the change_seq of their latest workout change.
    change_seq      BIGINT NOT NULL DEFAULT 0,
    -- Live (not deleted) workouts, kept by every write so status never counts rows.
    workout_count   BIGINT NOT NULL DEFAULT 0,
    -- Syncs applied, numbering the sync history in commit order.
    sync_count      BIGINT NOT NULL DEFAULT 0,
    last_sync_at    TIMESTAMPTZ,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL
);

-- One login = one session = one refresh-token family.
CREATE TABLE sessions (
    id              UUID PRIMARY KEY NOT NULL,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_agent      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);

-- Refresh tokens are stored only as SHA-256 hashes; a used one is kept to detect reuse.
CREATE TABLE refresh_tokens (
    token_hash      TEXT PRIMARY KEY NOT NULL,
    session_id      UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE workouts (
    id                      UUID PRIMARY KEY NOT NULL,
    user_id                 UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id               TEXT NOT NULL,
    start_time              TIMESTAMPTZ NOT NULL,
    start_offset_minutes    INTEGER NOT NULL,
    -- The calendar day of start_time in the offset the client sent (served as `date`).
    start_date              DATE NOT NULL,
    end_time                TIMESTAMPTZ NOT NULL,
    duration_seconds        BIGINT NOT NULL,
    distance_meters         DOUBLE PRECISION NOT NULL,
    energy_burned_kcal      DOUBLE PRECISION,
    avg_heart_rate          INTEGER,
    max_heart_rate          INTEGER,
    avg_pace_seconds_per_km DOUBLE PRECISION,
    source                  TEXT NOT NULL,
    client_version          BIGINT NOT NULL,
    revision                BIGINT NOT NULL,
    change_seq              BIGINT NOT NULL,
    deleted_at              TIMESTAMPTZ,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL
);
-- The batch lookup and the upsert's conflict target.
CREATE UNIQUE INDEX workouts_user_client_idx ON workouts (user_id, client_id);
-- The change feed: gap-free per user, read in order.
CREATE UNIQUE INDEX workouts_user_seq_idx ON workouts (user_id, change_seq);
-- The newest-first list of live workouts (keyset pagination).
CREATE INDEX workouts_user_start_idx ON workouts (user_id, start_time DESC, id DESC)
    WHERE deleted_at IS NULL;

CREATE TABLE idempotency_records (
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    response_body   TEXT NOT NULL,
    sync_id         UUID NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_records_created_idx ON idempotency_records (created_at);

CREATE TABLE syncs (
    id                      UUID PRIMARY KEY NOT NULL,
    user_id                 UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The user's sync number (users.sync_count when it was applied): history order.
    seq                     BIGINT NOT NULL,
    mode                    TEXT NOT NULL,
    idempotency_key         TEXT,
    created                 INTEGER NOT NULL,
    updated                 INTEGER NOT NULL,
    unchanged               INTEGER NOT NULL,
    deleted                 INTEGER NOT NULL,
    conflicts               INTEGER NOT NULL,
    rejected                INTEGER NOT NULL,
    change_seq              BIGINT NOT NULL,
    client_sync_timestamp   TIMESTAMPTZ,
    created_at              TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX syncs_user_seq_idx ON syncs (user_id, seq DESC);
