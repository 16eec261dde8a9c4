-- callvault mirror's progress, the SQLite store's migration 0007 in
-- PostgreSQL's types: the record ids it has yet to fetch from a source (a queue with leases, like the notification outbox), and named
-- checkpoints such as how far back the sweep is done. Times are unix
-- nanoseconds; due is when an item may next be claimed, moved to the end of
-- the lease by a claim.
CREATE TABLE mirror_queue (
	tenant     TEXT COLLATE "C" NOT NULL,
	source     TEXT COLLATE "C" NOT NULL,
	record_id  TEXT COLLATE "C" NOT NULL,
	due        BIGINT NOT NULL,
	owner      TEXT,
	attempts   BIGINT NOT NULL DEFAULT 0,
	last_error TEXT,
	PRIMARY KEY (tenant, source, record_id)
);
CREATE INDEX mirror_queue_due ON mirror_queue (tenant, source, due);

CREATE TABLE mirror_state (
	tenant TEXT COLLATE "C" NOT NULL,
	source TEXT COLLATE "C" NOT NULL,
	name   TEXT COLLATE "C" NOT NULL,
	value  BYTEA NOT NULL,
	PRIMARY KEY (tenant, source, name)
);
