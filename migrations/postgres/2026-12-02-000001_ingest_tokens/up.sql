-- Ingest tokens (docs/integrations.md): long-lived secrets a runner makes for the Health Auto
-- Export app. Each opens the ingest endpoint and nothing else; only its SHA-256 is stored.
CREATE TABLE ingest_tokens (
    id              UUID PRIMARY KEY NOT NULL,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    token_hash      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ
);
-- Every ingest request looks its token up by hash.
CREATE UNIQUE INDEX ingest_tokens_hash_idx ON ingest_tokens (token_hash);
-- A runner's tokens, newest first (the list, the per-user cap, revocation by id and user).
CREATE INDEX ingest_tokens_user_idx ON ingest_tokens (user_id, created_at);
