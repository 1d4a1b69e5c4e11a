-- The alternative to aggregating the running-days numbers on read (docs/benchmarks.md, "Running
-- days: aggregate on read, or per-day totals in the sync?"): the statement a sync would add to
-- keep per-day totals, appended to sync.sql's transaction before its END by scripts/bench-day-totals.
-- The table is made by the same script; it is not part of the schema.
INSERT INTO day_totals (user_id, day, workouts, meters, seconds)
SELECT :u::uuid, t.ts::date, count(*), sum(5000 + g), sum(1800)
  FROM generate_series(1, :n::int) AS g,
       LATERAL (SELECT timestamptz '2015-01-01 06:00:00+00'
                       + ((:seq::bigint + g) * 7919 % 5000000) * interval '1 minute' AS ts) AS t
 GROUP BY t.ts::date
ON CONFLICT (user_id, day) DO UPDATE SET
       workouts = day_totals.workouts + excluded.workouts,
       meters = day_totals.meters + excluded.meters,
       seconds = day_totals.seconds + excluded.seconds;
