# The runners of the stats mixes, shared by scripts/bench and scripts/bench-ab (sourced, not
# run): the first $CONNS registered users of "$work/users.json", given $HISTORY_DAYS days of
# daily runs up to yesterday. The schema must be the server's that wrote these columns.

runners() { # the first $CONNS registered users, who get ten years of daily runs: runners.json
  python3 - "$work/users.json" "$work/runners.json" "$CONNS" <<'PY'
import json, sys
users = json.load(open(sys.argv[1]))[: int(sys.argv[3])]
json.dump(users, open(sys.argv[2], "w"))
print(",".join("'%s'" % u["user_id"] for u in users))
PY
}

load_history_pg() { # database_url quoted_ids: a run a day for HISTORY_DAYS days up to yesterday
  psql "$1" -qX -v ON_ERROR_STOP=1 -v days="$HISTORY_DAYS" <<SQL
INSERT INTO workouts (id, user_id, client_id, start_time, start_offset_minutes, start_date, end_time,
                      duration_seconds, distance_meters, energy_burned_kcal, avg_heart_rate,
                      max_heart_rate, avg_pace_seconds_per_km, source, client_version, revision,
                      change_seq, deleted_at, created_at, updated_at)
SELECT gen_random_uuid(), u.id, 'history-' || d, t.ts, 0, t.ts::date, t.ts + interval '40 minutes',
       2400, 6000 + (d % 7) * 1000, 500, 150, 175, 2400000.0 / (6000 + (d % 7) * 1000), 'apple_watch',
       0, 1, u.change_seq + d, NULL, now(), now()
  FROM users AS u, generate_series(1, :days) AS d,
       LATERAL (SELECT ((current_date - d) + time '06:30') AT TIME ZONE 'UTC' AS ts) AS t
 WHERE u.id IN ($2);
-- As a sync of these runs would (crates/sync-store/src/history.rs): the days before the month up
-- to the newest run are settled, and the version moves on.
UPDATE users SET change_seq = change_seq + :days, workout_count = workout_count + :days,
       history_version = history_version + 1,
       history_floor = greatest(history_floor, current_date - 1 - 31)
 WHERE id IN ($2);
VACUUM ANALYZE;
SQL
}

load_history_sqlite() { # file quoted_ids
  sqlite3 "$1" >/dev/null <<SQL
.timeout 60000
BEGIN IMMEDIATE;
INSERT INTO workouts (id, user_id, client_id, start_time, start_offset_minutes, start_date, end_time,
                      duration_seconds, distance_meters, energy_burned_kcal, avg_heart_rate,
                      max_heart_rate, avg_pace_seconds_per_km, source, client_version, revision,
                      change_seq, deleted_at, created_at, updated_at)
SELECT lower(printf('%s-%s-4%s-8%s-%s', hex(randomblob(4)), hex(randomblob(2)),
             substr(hex(randomblob(2)), 2), substr(hex(randomblob(2)), 2), hex(randomblob(6)))),
       u.id, 'history-' || d.n, d.ms, 0, date(d.ms / 1000, 'unixepoch'), d.ms + 2400000,
       2400, 6000.0 + (d.n % 7) * 1000, 500.0, 150, 175, 2400000.0 / (6000 + (d.n % 7) * 1000),
       'apple_watch', 0, 1, u.change_seq + d.n, NULL, d.ms, d.ms
  FROM users AS u,
       (SELECT value AS n, (unixepoch(date('now', '-' || value || ' days')) + 23400) * 1000 AS ms
          FROM generate_series(1, $HISTORY_DAYS)) AS d
 WHERE u.id IN ($2);
UPDATE users SET change_seq = change_seq + $HISTORY_DAYS, workout_count = workout_count + $HISTORY_DAYS,
       history_version = history_version + 1,
       history_floor = max(coalesce(history_floor, ''), date('now', '-32 days'))
 WHERE id IN ($2);
COMMIT;
ANALYZE;
SQL
}
