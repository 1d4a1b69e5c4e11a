-- The ceiling's users, in a throwaway database that already has the real schema
-- (migrations/postgres/*/up.sql). Run by scripts/bench:
--   psql "$CEILING_URL" -v nusers=256 -f scripts/pgbench/setup.sql
-- User n has the id 00000000-0000-4000-8000-<n, 12 digits>, so that the pgbench script can name
-- one from an integer.
INSERT INTO users (id, email, password_hash, created_at)
SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
       'ceiling-' || g || '@example.com',
       '$argon2id$v=19$m=19456,t=2,p=1$not-a-real-hash',
       now()
FROM generate_series(1, :nusers) AS g;
VACUUM ANALYZE;
