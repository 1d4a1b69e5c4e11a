-- The streaks count and read the dates of a runner's live workouts through this index. SQLite
-- looked each entry's row up in the table to test the index's own condition (`deleted_at IS
-- NULL`), so a ten-year streak cost thousands of table reads. With `deleted_at` in the index
-- (always NULL in it, one byte an entry), those reads are answered from the index alone
-- (docs/benchmarks.md, optimisation 21). PostgreSQL's index-only scans already skip the
-- table there, so it keeps its index.
DROP INDEX workouts_user_date_idx;
CREATE INDEX workouts_user_date_idx ON workouts (user_id, start_date, deleted_at)
    WHERE deleted_at IS NULL;
