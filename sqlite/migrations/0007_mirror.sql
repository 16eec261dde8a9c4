-- callvault mirror's progress: the record ids it has yet to fetch from a
-- source (a queue with leases, like the notification outbox), and named
-- checkpoints such as how far back the sweep is done. Times are unix
-- nanoseconds; due is when an item may next be claimed, moved to the end of
-- the lease by a claim.
CREATE TABLE mirror_queue (
	tenant     TEXT    NOT NULL,
	source     TEXT    NOT NULL,
	record_id  TEXT    NOT NULL,
	due        INTEGER NOT NULL,
	owner      TEXT,
	attempts   INTEGER NOT NULL DEFAULT 0,
	last_error TEXT,
	PRIMARY KEY (tenant, source, record_id)
);
CREATE INDEX mirror_queue_due ON mirror_queue (tenant, source, due);

CREATE TABLE mirror_state (
	tenant TEXT NOT NULL,
	source TEXT NOT NULL,
	name   TEXT NOT NULL,
	value  BLOB NOT NULL,
	PRIMARY KEY (tenant, source, name)
);
