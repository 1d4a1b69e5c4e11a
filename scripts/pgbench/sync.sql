-- One sync, as the server's transaction runs it (crates/sync-store/src/backend/ops/sync.rs),
-- executed directly by pgbench: the ceiling the endpoint is measured against.
--
--   pgbench -n -M prepared -c 16 -j 2 -T 20 -f scripts/pgbench/sync.sql \
--     -D nusers=256 -D nclients=16 -D batch_min=1 -D batch_max=3 "$CEILING_URL"
--
-- Statements, in the server's order: lock the user row (FOR UPDATE), look up the idempotency
-- key, look up the batch's client ids in one statement, upsert the batch in one multi-row
-- INSERT … ON CONFLICT (user_id, client_id) DO UPDATE, advance the user row (RETURNING its
-- sync count), insert the sync record, insert the idempotency record (ON CONFLICT DO UPDATE),
-- commit. The batch is n new workouts (n uniform in batch_min..batch_max); their client ids
-- follow the user's change_seq, so they are always new, as in mixes (a) and (b). The rows are
-- made by generate_series on the server instead of being sent as 19 bind parameters each: the
-- database does the same work, minus parsing the parameters.
--
-- Each pgbench client uses its own users (client_id + k * nclients), as the load generator's
-- connections do, so no two clients wait on one user's lock.
\set n random(:batch_min, :batch_max)
\set uid 1 + :client_id + :nclients * random(0, (:nusers / :nclients) - 1)
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT id AS u, change_seq AS seq
  FROM users
 WHERE id = ('00000000-0000-4000-8000-' || lpad(:uid::text, 12, '0'))::uuid
   FOR UPDATE \gset
SELECT fingerprint, response_body, created_at
  FROM idempotency_records
 WHERE user_id = :u::uuid AND key = 'key-' || :uid::int || '-' || :seq::bigint;
SELECT id, user_id, client_id, start_time, start_offset_minutes, start_date, end_time,
       duration_seconds, distance_meters, energy_burned_kcal, avg_heart_rate, max_heart_rate,
       avg_pace_seconds_per_km, source, client_version, revision, change_seq, deleted_at,
       created_at, updated_at
  FROM workouts
 WHERE user_id = :u::uuid
   AND client_id = ANY (ARRAY(SELECT 'c-' || (:seq::bigint + g) FROM generate_series(1, :n::int) AS g));
INSERT INTO workouts (id, user_id, client_id, start_time, start_offset_minutes, start_date,
                      end_time, duration_seconds, distance_meters, energy_burned_kcal,
                      avg_heart_rate, max_heart_rate, avg_pace_seconds_per_km, source,
                      client_version, revision, change_seq, deleted_at, created_at, updated_at)
SELECT gen_random_uuid(), :u::uuid, 'c-' || (:seq::bigint + g), t.ts, 0, t.ts::date, t.ts + interval '30 minutes',
       1800, 5000 + g, 350, 145, 170, 360, 'apple_watch', 0, 1, :seq::bigint + g, NULL, now(), now()
  FROM generate_series(1, :n::int) AS g,
       LATERAL (SELECT timestamptz '2015-01-01 06:00:00+00'
                       + ((:seq::bigint + g) * 7919 % 5000000) * interval '1 minute' AS ts) AS t
ON CONFLICT (user_id, client_id) DO UPDATE SET
       start_time = excluded.start_time, start_offset_minutes = excluded.start_offset_minutes,
       start_date = excluded.start_date, end_time = excluded.end_time,
       duration_seconds = excluded.duration_seconds, distance_meters = excluded.distance_meters,
       energy_burned_kcal = excluded.energy_burned_kcal, avg_heart_rate = excluded.avg_heart_rate,
       max_heart_rate = excluded.max_heart_rate,
       avg_pace_seconds_per_km = excluded.avg_pace_seconds_per_km, source = excluded.source,
       client_version = excluded.client_version, revision = excluded.revision,
       change_seq = excluded.change_seq, deleted_at = excluded.deleted_at,
       updated_at = excluded.updated_at;
UPDATE users
   SET sync_count = sync_count + 1, change_seq = :seq::bigint + :n::int, last_sync_at = now(),
       workout_count = workout_count + :n::int
 WHERE id = :u::uuid
RETURNING sync_count \gset
INSERT INTO syncs (id, user_id, seq, mode, idempotency_key, created, updated, unchanged,
                   deleted, conflicts, rejected, change_seq, client_sync_timestamp, created_at)
VALUES (gen_random_uuid(), :u::uuid, :sync_count::bigint, 'incremental', 'key-' || :uid::int || '-' || :seq::bigint,
        :n::int, 0, 0, 0, 0, 0, :seq::bigint + :n::int, now(), now());
INSERT INTO idempotency_records (user_id, key, fingerprint, response_body, sync_id, created_at)
VALUES (:u::uuid, 'key-' || :uid::int || '-' || :seq::bigint,
        '5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b5aa765d61d8327deb882cf99',
        -- A response body of the usual size; written with '=' for ':' (pgbench would read
        -- a colon followed by a name as a variable, even in a comment).
        replace('{"success"=true,"sync_id"="6f1c2a9e-3b7d-4c1e-9a57-0d8e2b4f6a13","server_timestamp"="2026-11-25T09=00=01Z","created"=' || :n::int || ',"updated"=0,"unchanged"=0,"deleted"=0,"conflicts"=[],"rejected"=[],"next_cursor"="eyJhZnRlcl9zZXEiOjEyMzQ1fQ"}', '=', chr(58)),
        gen_random_uuid(), now())
ON CONFLICT (user_id, key) DO UPDATE SET
       fingerprint = excluded.fingerprint, response_body = excluded.response_body,
       sync_id = excluded.sync_id, created_at = excluded.created_at;
END;
