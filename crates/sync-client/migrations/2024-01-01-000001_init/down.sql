DROP TABLE pending_batches;
DROP TABLE kv;
DROP TABLE workouts;
