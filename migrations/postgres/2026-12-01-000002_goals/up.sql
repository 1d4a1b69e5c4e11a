-- Goals (docs/running-days.md): at most one target per user and year; a year without a row has
-- the server's default target. The primary key is the only index the reads need: every query
-- names the user, and most the year.
CREATE TABLE goals (
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    year            INTEGER NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    target_days     INTEGER NOT NULL CHECK (target_days BETWEEN 1 AND 366),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, year)
);
