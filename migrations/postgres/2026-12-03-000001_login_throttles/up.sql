-- Failed-login budgets (docs/security.md, "Login, enumeration and lockout"): one row per email
-- and client address, one per email across all addresses. The key is an HMAC the server
-- derives from them, so an email no account has is counted exactly like one that exists, and
-- neither an email nor an address is stored. Locks in force under the old per-account columns
-- (at most LOGIN_LOCKOUT_SECS long) end with this migration.
CREATE TABLE login_throttles (
    budget_key      TEXT PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until    TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL
);
-- The purge deletes budgets idle for longer than the lock window, oldest first.
CREATE INDEX login_throttles_updated_idx ON login_throttles (updated_at);
ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN locked_until;
