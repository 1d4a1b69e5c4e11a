DROP TABLE ingest_tokens;
