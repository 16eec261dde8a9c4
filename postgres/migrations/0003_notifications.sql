-- Change notifications (POST /subscriptions): the subscriptions, the
-- transactional outbox the records' transactions write to, and the log of
-- deliveries the diagnostics endpoint shows. The tables of the SQLite store
-- (its migration 0005), in PostgreSQL's types.
--
-- No sequences (see 0001): a change's seq is a random 63-bit number chosen
-- by the writer with its low byte zero, and the seqs of the notifications it
-- fans out to are that plus their number among the subscriptions notified
-- (at most 100).
CREATE TABLE subscriptions (
	tenant         TEXT COLLATE "C" NOT NULL,
	id             TEXT COLLATE "C" NOT NULL,
	created        BIGINT NOT NULL,
	expires        BIGINT NOT NULL,
	changes        BIGINT NOT NULL,
	next_lifecycle BIGINT NOT NULL DEFAULT 0,
	body           BYTEA  NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX subscriptions_lifecycle ON subscriptions (next_lifecycle) WHERE next_lifecycle > 0;

-- One row per change of a record that some subscription of its tenant asks
-- for, written in the record's transaction: whatever the number of
-- subscriptions, a write pays for one small row. A dispatcher fans each out
-- to the subscriptions that existed at its commit (notification_outbox) when
-- it claims, deleting it in the same statement (FOR UPDATE SKIP LOCKED: one
-- replica expands each change).
CREATE TABLE notification_changes (
	seq       BIGINT PRIMARY KEY,
	tenant    TEXT COLLATE "C" NOT NULL,
	record_id TEXT COLLATE "C" NOT NULL,
	change    BIGINT NOT NULL,
	created   BIGINT NOT NULL
);

-- due is when a row may next be claimed: a claim moves it to the end of the
-- claimer's lease, so one index serves "what is due" and "whose lease ran
-- out"; FOR UPDATE SKIP LOCKED keeps two replicas from claiming one row.
CREATE TABLE notification_outbox (
	seq             BIGINT PRIMARY KEY,
	tenant          TEXT COLLATE "C" NOT NULL,
	subscription_id TEXT COLLATE "C" NOT NULL,
	record_id       TEXT COLLATE "C" NOT NULL,
	change          BIGINT NOT NULL,
	created         BIGINT NOT NULL,
	due             BIGINT NOT NULL,
	owner           TEXT,
	attempts        BIGINT NOT NULL DEFAULT 0,
	deferred        BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX notification_outbox_due ON notification_outbox (due, seq);

CREATE TABLE delivery_attempts (
	seq             BIGINT PRIMARY KEY,
	tenant          TEXT COLLATE "C" NOT NULL,
	subscription_id TEXT COLLATE "C" NOT NULL,
	time            BIGINT NOT NULL,
	body            BYTEA  NOT NULL
);
CREATE INDEX delivery_attempts_tenant ON delivery_attempts (tenant, time);
CREATE INDEX delivery_attempts_time ON delivery_attempts (time);
