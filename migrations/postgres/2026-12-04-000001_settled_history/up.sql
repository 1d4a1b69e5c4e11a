-- The settled part of a runner's history (docs/running-days.md, "The settled history"): the
-- days before `history_floor` are settled, and `history_version` counts the changes that
-- touched one of them. A server keeps the running days it read of settled days under the
-- version it read them at, so the streaks of a long history are read once, not on every
-- request (docs/benchmarks.md, optimisation 23). Every change of a user's workouts writes
-- both columns under the user's lock. NULL: nothing is settled yet.
ALTER TABLE users ADD COLUMN history_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN history_floor DATE;
