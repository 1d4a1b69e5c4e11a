DROP INDEX workouts_user_date_idx;
CREATE INDEX workouts_user_date_idx ON workouts (user_id, start_date)
    WHERE deleted_at IS NULL;
