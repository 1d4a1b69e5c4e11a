ALTER TABLE users DROP COLUMN history_floor;
ALTER TABLE users DROP COLUMN history_version;
