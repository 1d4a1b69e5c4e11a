#!/usr/bin/env bash
# Query plans of the read side on a user with 100,000 workouts (docs/query-plans.md).
#
# Creates a throwaway PostgreSQL database next to $PGURL, applies migrations/postgres/*/up.sql,
# generates one heavy user (100,000 workouts over ~10 years, 2% of them tombstones, 5,000
# syncs) and 2,000 other users (2 workouts and 2 syncs each), runs VACUUM ANALYZE, and prints
# EXPLAIN (ANALYZE, BUFFERS) of the statements the store issues, text for text as Diesel
# sends them (prepared, with $n parameters: see crates/sync-store/src/backend/ops/*.rs). Each
# statement is explained twice: with the custom plan PostgreSQL makes for the first executions
# of a prepared statement, and with the generic plan it may switch to after five (Diesel keeps
# its prepared statements per connection, so the generic plan is the steady state).
# The database is dropped at the end, also on failure.
#
#   PGURL=postgres://postgres@127.0.0.1:5432/postgres scripts/explain-plans.sh
#
# PGURL must name a database the role can connect to and have CREATEDB. KEEP_DB=1 keeps the
# generated database (its URL is printed last) for further experiments.

set -euo pipefail

PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432/postgres}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DB="rd_explain_$(date +%s)_$$"

# The same URL with the database name replaced (query parameters kept).
base="${PGURL%%\?*}"
query=""
if [[ "$PGURL" == *\?* ]]; then
    query="?${PGURL#*\?}"
fi
DBURL="${base%/*}/${DB}${query}"

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -P pager=off)

"${PSQL[@]}" -d "$PGURL" -c "CREATE DATABASE ${DB}"
cleanup() {
    if [[ "${KEEP_DB:-0}" == 1 ]]; then
        echo "== kept: ${DBURL}" >&2
        return
    fi
    "${PSQL[@]}" -d "$PGURL" -c "DROP DATABASE IF EXISTS ${DB}" >/dev/null || true
}
trap cleanup EXIT

echo "== schema: migrations/postgres/*/up.sql"
for migration in "$ROOT"/migrations/postgres/*/up.sql; do
    echo "   $(basename "$(dirname "$migration")")"
    "${PSQL[@]}" -d "$DBURL" -f "$migration"
done

echo "== data"
"${PSQL[@]}" -d "$DBURL" <<'SQL'
SET TIME ZONE 'UTC';
-- The heavy user and 2,000 others.
INSERT INTO users (id, email, password_hash, change_seq, workout_count, last_sync_at, created_at)
SELECT CASE WHEN u = 0 THEN '00000000-0000-4000-8000-000000000000'::uuid ELSE gen_random_uuid() END,
       'runner' || u || '@example.com', 'x', 0, 0, now(), now() - interval '11 years'
FROM generate_series(0, 2000) AS u;

-- 100,000 workouts for the heavy user, one every 55 minutes from 2015 on (about ten and a half
-- years), sent in three different offsets; every 50th is a tombstone. change_seq 1..100000.
INSERT INTO workouts (id, user_id, client_id, start_time, start_offset_minutes, start_date,
                      end_time, duration_seconds, distance_meters, energy_burned_kcal,
                      avg_heart_rate, max_heart_rate, avg_pace_seconds_per_km, source,
                      client_version, revision, change_seq, deleted_at, created_at, updated_at)
SELECT gen_random_uuid(), '00000000-0000-4000-8000-000000000000', 'hk-' || g, t, o,
       (t + make_interval(mins => o))::date, t + interval '35 minutes', 2100, 5000, 350,
       145, 170, 420, 'apple_watch', 0, 1, g,
       CASE WHEN g % 50 = 0 THEN t + interval '1 day' END, t, t
FROM generate_series(1, 100000) AS g,
     LATERAL (SELECT timestamptz '2015-01-01 06:00:00+00' + g * interval '55 minutes' AS t,
                     (ARRAY[-300, 0, 60])[1 + g % 3] AS o) AS x;

-- 2 workouts for each other user (4,000).
INSERT INTO workouts (id, user_id, client_id, start_time, start_offset_minutes, start_date,
                      end_time, duration_seconds, distance_meters, energy_burned_kcal,
                      avg_heart_rate, max_heart_rate, avg_pace_seconds_per_km, source,
                      client_version, revision, change_seq, deleted_at, created_at, updated_at)
SELECT gen_random_uuid(), u.id, 'hk-' || g, t, 0, t::date, t + interval '35 minutes', 2100,
       5000, 350, 145, 170, 420, 'apple_watch', 0, 1, g, NULL, t, t
FROM users AS u, generate_series(1, 2) AS g,
     LATERAL (SELECT timestamptz '2024-01-01 06:00:00+00' + g * interval '25 days' AS t) AS x
WHERE u.id <> '00000000-0000-4000-8000-000000000000';

UPDATE users AS u
SET change_seq = s.max_seq, workout_count = s.live
FROM (SELECT user_id, max(change_seq) AS max_seq, count(*) FILTER (WHERE deleted_at IS NULL) AS live
      FROM workouts GROUP BY user_id) AS s
WHERE s.user_id = u.id;

-- Sync history: 5,000 syncs for the heavy user, 2 for each other user.
INSERT INTO syncs (id, user_id, seq, mode, idempotency_key, created, updated, unchanged, deleted,
                   conflicts, rejected, change_seq, client_sync_timestamp, created_at)
SELECT gen_random_uuid(), u.id, g, CASE WHEN g % 10 = 0 THEN 'full' ELSE 'incremental' END,
       'sync-' || g, 20, 0, 0, 0, 0, 0, g * 20, NULL,
       timestamptz '2015-01-01 06:00:00+00' + g * interval '18 hours'
FROM users AS u,
     LATERAL generate_series(1, CASE WHEN u.id = '00000000-0000-4000-8000-000000000000'
                                     THEN 5000 ELSE 2 END) AS g;

VACUUM (ANALYZE) users;
VACUUM (ANALYZE) workouts;
VACUUM (ANALYZE) syncs;

SELECT u.email, u.workout_count AS live, u.change_seq,
       (SELECT count(*) FROM workouts w WHERE w.user_id = u.id) AS rows,
       (SELECT count(*) FROM syncs s WHERE s.user_id = u.id) AS syncs
FROM users AS u WHERE u.id = '00000000-0000-4000-8000-000000000000';
SELECT count(*) AS all_workouts, count(DISTINCT user_id) AS users FROM workouts;
SQL

echo "== plans"
PREPARE=$(cat <<'SQL'
SET TIME ZONE 'UTC';
\pset format unaligned
\pset tuples_only on

-- Parameter values taken from the data: the heavy user, a keyset cursor half-way down and one
-- near the end of their history, a sync id, a workout id, 1,000 client ids (one full batch).
\set uid '''00000000-0000-4000-8000-000000000000'''
SELECT start_time AS mid_t, id AS mid_id FROM workouts
WHERE user_id = :uid AND deleted_at IS NULL
ORDER BY start_time DESC, id DESC OFFSET 50000 LIMIT 1 \gset
SELECT start_time AS deep_t, id AS deep_id FROM workouts
WHERE user_id = :uid AND deleted_at IS NULL
ORDER BY start_time DESC, id DESC OFFSET 97000 LIMIT 1 \gset
SELECT id AS sync_id FROM syncs WHERE user_id = :uid ORDER BY created_at LIMIT 1 OFFSET 2500 \gset
SELECT id AS workout_id FROM workouts WHERE user_id = :uid AND change_seq = 50001 \gset
SELECT array_agg('hk-' || g)::text AS batch_ids FROM generate_series(60001, 61000) AS g \gset
SELECT array_agg('hk-' || g)::text AS small_batch_ids FROM generate_series(70001, 70100) AS g \gset

-- The statements, as the store sends them (Diesel's text; the select list is WorkoutRow's).
PREPARE list_first(uuid, bigint) AS
SELECT "workouts"."id", "workouts"."user_id", "workouts"."client_id", "workouts"."start_time", "workouts"."start_offset_minutes", "workouts"."start_date", "workouts"."end_time", "workouts"."duration_seconds", "workouts"."distance_meters", "workouts"."energy_burned_kcal", "workouts"."avg_heart_rate", "workouts"."max_heart_rate", "workouts"."avg_pace_seconds_per_km", "workouts"."source", "workouts"."client_version", "workouts"."revision", "workouts"."change_seq", "workouts"."deleted_at", "workouts"."created_at", "workouts"."updated_at" FROM "workouts" WHERE (("workouts"."user_id" = $1) AND ("workouts"."deleted_at" IS NULL)) ORDER BY "workouts"."start_time" DESC, "workouts"."id" DESC LIMIT $2;

-- The keyset page: the plain `start_time <= cursor` bound is what the index range-scans on.
PREPARE list_keyset(uuid, timestamptz, timestamptz, uuid, bigint, timestamptz) AS
SELECT "workouts"."id", "workouts"."user_id", "workouts"."client_id", "workouts"."start_time", "workouts"."start_offset_minutes", "workouts"."start_date", "workouts"."end_time", "workouts"."duration_seconds", "workouts"."distance_meters", "workouts"."energy_burned_kcal", "workouts"."avg_heart_rate", "workouts"."max_heart_rate", "workouts"."avg_pace_seconds_per_km", "workouts"."source", "workouts"."client_version", "workouts"."revision", "workouts"."change_seq", "workouts"."deleted_at", "workouts"."created_at", "workouts"."updated_at" FROM "workouts" WHERE ((("workouts"."user_id" = $1) AND ("workouts"."deleted_at" IS NULL)) AND ("workouts"."start_time" <= $6) AND (("workouts"."start_time" < $2) OR (("workouts"."start_time" = $3) AND ("workouts"."id" < $4)))) ORDER BY "workouts"."start_time" DESC, "workouts"."id" DESC LIMIT $5;

PREPARE list_year(uuid, timestamptz, timestamptz, date, date, bigint) AS
SELECT "workouts"."id", "workouts"."user_id", "workouts"."client_id", "workouts"."start_time", "workouts"."start_offset_minutes", "workouts"."start_date", "workouts"."end_time", "workouts"."duration_seconds", "workouts"."distance_meters", "workouts"."energy_burned_kcal", "workouts"."avg_heart_rate", "workouts"."max_heart_rate", "workouts"."avg_pace_seconds_per_km", "workouts"."source", "workouts"."client_version", "workouts"."revision", "workouts"."change_seq", "workouts"."deleted_at", "workouts"."created_at", "workouts"."updated_at" FROM "workouts" WHERE (((((("workouts"."user_id" = $1) AND ("workouts"."deleted_at" IS NULL)) AND ("workouts"."start_time" >= $2)) AND ("workouts"."start_time" < $3)) AND ("workouts"."start_date" >= $4)) AND ("workouts"."start_date" < $5)) ORDER BY "workouts"."start_time" DESC, "workouts"."id" DESC LIMIT $6;

PREPARE list_year_keyset(uuid, timestamptz, timestamptz, date, date, timestamptz, timestamptz, uuid, bigint) AS
SELECT "workouts"."id", "workouts"."user_id", "workouts"."client_id", "workouts"."start_time", "workouts"."start_offset_minutes", "workouts"."start_date", "workouts"."end_time", "workouts"."duration_seconds", "workouts"."distance_meters", "workouts"."energy_burned_kcal", "workouts"."avg_heart_rate", "workouts"."max_heart_rate", "workouts"."avg_pace_seconds_per_km", "workouts"."source", "workouts"."client_version", "workouts"."revision", "workouts"."change_seq", "workouts"."deleted_at", "workouts"."created_at", "workouts"."updated_at" FROM "workouts" WHERE (((((((("workouts"."user_id" = $1) AND ("workouts"."deleted_at" IS NULL)) AND ("workouts"."start_time" >= $2)) AND ("workouts"."start_time" < $3)) AND ("workouts"."start_date" >= $4)) AND ("workouts"."start_date" < $5)) AND ("workouts"."start_time" <= $6) AND (("workouts"."start_time" < $6) OR (("workouts"."start_time" = $7) AND ("workouts"."id" < $8))))) ORDER BY "workouts"."start_time" DESC, "workouts"."id" DESC LIMIT $9;

PREPARE changes(uuid, bigint, bigint) AS
SELECT "workouts"."id", "workouts"."user_id", "workouts"."client_id", "workouts"."start_time", "workouts"."start_offset_minutes", "workouts"."start_date", "workouts"."end_time", "workouts"."duration_seconds", "workouts"."distance_meters", "workouts"."energy_burned_kcal", "workouts"."avg_heart_rate", "workouts"."max_heart_rate", "workouts"."avg_pace_seconds_per_km", "workouts"."source", "workouts"."client_version", "workouts"."revision", "workouts"."change_seq", "workouts"."deleted_at", "workouts"."created_at", "workouts"."updated_at" FROM "workouts" WHERE (("workouts"."user_id" = $1) AND ("workouts"."change_seq" > $2)) ORDER BY "workouts"."change_seq" ASC LIMIT $3;

PREPARE batch_lookup(uuid, text[]) AS
SELECT "workouts"."id", "workouts"."user_id", "workouts"."client_id", "workouts"."start_time", "workouts"."start_offset_minutes", "workouts"."start_date", "workouts"."end_time", "workouts"."duration_seconds", "workouts"."distance_meters", "workouts"."energy_burned_kcal", "workouts"."avg_heart_rate", "workouts"."max_heart_rate", "workouts"."avg_pace_seconds_per_km", "workouts"."source", "workouts"."client_version", "workouts"."revision", "workouts"."change_seq", "workouts"."deleted_at", "workouts"."created_at", "workouts"."updated_at" FROM "workouts" WHERE (("workouts"."user_id" = $1) AND ("workouts"."client_id" = ANY($2)));

PREPARE get_one(uuid, uuid, bigint) AS
SELECT "workouts"."id", "workouts"."user_id", "workouts"."client_id", "workouts"."start_time", "workouts"."start_offset_minutes", "workouts"."start_date", "workouts"."end_time", "workouts"."duration_seconds", "workouts"."distance_meters", "workouts"."energy_burned_kcal", "workouts"."avg_heart_rate", "workouts"."max_heart_rate", "workouts"."avg_pace_seconds_per_km", "workouts"."source", "workouts"."client_version", "workouts"."revision", "workouts"."change_seq", "workouts"."deleted_at", "workouts"."created_at", "workouts"."updated_at" FROM "workouts" WHERE ((("workouts"."id" = $1) AND ("workouts"."user_id" = $2)) AND ("workouts"."deleted_at" IS NULL)) LIMIT $3;

PREPARE sync_history(uuid, bigint) AS
SELECT "syncs"."id", "syncs"."user_id", "syncs"."seq", "syncs"."mode", "syncs"."idempotency_key", "syncs"."created", "syncs"."updated", "syncs"."unchanged", "syncs"."deleted", "syncs"."conflicts", "syncs"."rejected", "syncs"."change_seq", "syncs"."client_sync_timestamp", "syncs"."created_at" FROM "syncs" WHERE ("syncs"."user_id" = $1) ORDER BY "syncs"."seq" DESC LIMIT $2;

PREPARE sync_record(uuid, uuid, bigint) AS
SELECT "syncs"."id", "syncs"."user_id", "syncs"."seq", "syncs"."mode", "syncs"."idempotency_key", "syncs"."created", "syncs"."updated", "syncs"."unchanged", "syncs"."deleted", "syncs"."conflicts", "syncs"."rejected", "syncs"."change_seq", "syncs"."client_sync_timestamp", "syncs"."created_at" FROM "syncs" WHERE (("syncs"."id" = $1) AND ("syncs"."user_id" = $2)) LIMIT $3;

PREPARE status_user(uuid, bigint) AS
SELECT "users"."change_seq", "users"."workout_count", "users"."last_sync_at" FROM "users" WHERE ("users"."id" = $1) LIMIT $2;

PREPARE status_oldest(uuid, bigint) AS
SELECT "workouts"."start_time" FROM "workouts" WHERE (("workouts"."user_id" = $1) AND ("workouts"."deleted_at" IS NULL)) ORDER BY "workouts"."start_time" ASC LIMIT $2;

PREPARE status_newest(uuid, bigint) AS
SELECT "workouts"."start_time" FROM "workouts" WHERE (("workouts"."user_id" = $1) AND ("workouts"."deleted_at" IS NULL)) ORDER BY "workouts"."start_time" DESC LIMIT $2;

-- The running-days reads (crates/sync-store/src/backend/queries/running.rs): the state (the
-- user's row and the year's goal), one span's five columns, and a span's dates only.
PREPARE running_state(uuid, integer, bigint) AS
SELECT "users"."time_zone", "users"."change_seq", "goals"."target_days", "goals"."created_at", "goals"."updated_at" FROM ("users" LEFT OUTER JOIN "goals" ON (("goals"."user_id" = "users"."id") AND ("goals"."year" = $2))) WHERE ("users"."id" = $1) LIMIT $3;

PREPARE run_facts(uuid, date, date) AS
SELECT "workouts"."id", "workouts"."start_time", "workouts"."start_date", "workouts"."distance_meters", "workouts"."duration_seconds" FROM "workouts" WHERE ((("workouts"."user_id" = $1) AND ("workouts"."deleted_at" IS NULL)) AND ("workouts"."start_date" BETWEEN $2 AND $3));

PREPARE running_days(uuid, date, date) AS
SELECT DISTINCT "workouts"."start_date" FROM "workouts" WHERE ((("workouts"."user_id" = $1) AND ("workouts"."deleted_at" IS NULL)) AND ("workouts"."start_date" BETWEEN $2 AND $3));

-- Year 2020 bounds as the store computes them: [2020-01-01 - 14 h, 2021-01-01 + 14 h) on
-- start_time, then [2020-01-01, 2021-01-01) on start_date.
\set y_lo '''2019-12-31 00:00:00+00'''
\set y_hi '''2021-01-02 00:00:00+00'''
SELECT start_time AS ymid_t, id AS ymid_id FROM workouts
WHERE user_id = :uid AND deleted_at IS NULL AND start_date >= '2020-01-01' AND start_date < '2021-01-01'
ORDER BY start_time DESC, id DESC OFFSET 4000 LIMIT 1 \gset

SQL
)

# One statement's plan: the heading `--- $1`, then EXPLAIN (ANALYZE, BUFFERS) EXECUTE $2.
explain() {
    printf '\\echo\n\\echo %s\nEXPLAIN (ANALYZE, BUFFERS) EXECUTE %s;\n' "'--- $1'" "$2"
}

# EXPLAIN (ANALYZE, BUFFERS) of every statement, under one plan-cache mode.
explains() {
    local mode="$1"
    cat <<SQL
SET plan_cache_mode = force_${mode}_plan;
\\echo
\\echo '######## ${mode} plans'
SQL
    explain 'list, first page: GET /workouts (limit 50)' "list_first(:uid, 51)"
    explain 'list, keyset page half-way down (cursor at the 50,000th live workout)' \
        "list_keyset(:uid, :'mid_t', :'mid_t', :'mid_id', 51, :'mid_t')"
    explain 'list, keyset page near the end (cursor at the 97,000th live workout)' \
        "list_keyset(:uid, :'deep_t', :'deep_t', :'deep_id', 51, :'deep_t')"
    explain 'list, year=2020, first page' \
        "list_year(:uid, :y_lo, :y_hi, '2020-01-01', '2021-01-01', 51)"
    explain 'list, year=2020, keyset page (cursor at the 4,000th workout of 2020)' \
        "list_year_keyset(:uid, :y_lo, :y_hi, '2020-01-01', '2021-01-01', :'ymid_t', :'ymid_t', :'ymid_id', 51)"
    explain 'change feed from the start: GET /workouts/changes (limit 200)' \
        "changes(:uid, 0, 201)"
    explain 'change feed, a device almost caught up (change_seq > 99,900)' \
        "changes(:uid, 99900, 201)"
    explain 'sync: batch lookup of 1,000 client ids' "batch_lookup(:uid, :'batch_ids')"
    explain 'sync: batch lookup of 100 client ids' "batch_lookup(:uid, :'small_batch_ids')"
    explain 'GET /workouts/{id}' "get_one(:'workout_id', :uid, 1)"
    explain 'sync history: GET /syncs (limit 20)' "sync_history(:uid, 20)"
    explain 'GET /syncs/{sync_id}' "sync_record(:'sync_id', :uid, 1)"
    explain 'GET /sync/status: the user row' "status_user(:uid, 1)"
    explain 'GET /sync/status: oldest_workout' "status_oldest(:uid, 1)"
    explain 'GET /sync/status: newest_workout' "status_newest(:uid, 1)"
    explain 'running days: the state (user row, goal of 2020)' "running_state(:uid, 2020, 1)"
    explain 'running days: the workouts of 2020 (five columns)' \
        "run_facts(:uid, '2020-01-01', '2020-12-31')"
    explain 'running days: the dates of a 366-day span (a streak)' \
        "running_days(:uid, '2019-01-01', '2019-12-31')"
}

{
    printf '%s\n' "$PREPARE"
    explains custom
    explains generic
} | "${PSQL[@]}" -d "$DBURL"
