-- The runner's calendar (docs/running-days.md): each account's IANA time zone, which dates the
-- workouts sent in UTC. Existing accounts get UTC, the zone their workouts were dated in.
ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

-- A user's live workouts by date range: the running-days numbers read a year (and the streak
-- dates around it) through this index, never a user's whole history.
CREATE INDEX workouts_user_date_idx ON workouts (user_id, start_date)
    WHERE deleted_at IS NULL;
