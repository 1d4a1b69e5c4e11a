DROP INDEX workouts_user_date_idx;
ALTER TABLE users DROP COLUMN time_zone;
