DROP TABLE syncs;
DROP TABLE idempotency_records;
DROP TABLE workouts;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
