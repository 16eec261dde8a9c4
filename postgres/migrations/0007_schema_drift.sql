-- Schema drift, the SQLite store's migration 0009 in PostgreSQL's types:
-- names that lenient imports (the mirror's) kept although callvault's
-- schema does not declare them. Times are unix nanoseconds.
CREATE TABLE schema_drift (
	kind       TEXT COLLATE "C" NOT NULL,
	type       TEXT COLLATE "C" NOT NULL,
	name       TEXT COLLATE "C" NOT NULL,
	count      BIGINT NOT NULL,
	first_seen BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	tenant     TEXT NOT NULL,
	record_id  TEXT NOT NULL,
	PRIMARY KEY (kind, type, name)
);
