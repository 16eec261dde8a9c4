-- Change notifications (POST /subscriptions): the subscriptions, the
-- transactional outbox the records' transactions write to, and the log of
-- deliveries the diagnostics endpoint shows.
--
-- A subscription's body is its JSON (callvault.Subscription); the columns
-- beside it are what queries select on. Times are unix nanoseconds.
CREATE TABLE subscriptions (
	tenant         TEXT    NOT NULL,
	id             TEXT    NOT NULL,
	created        INTEGER NOT NULL,           -- list order
	expires        INTEGER NOT NULL,
	changes        INTEGER NOT NULL,           -- callvault.ChangeTypes
	next_lifecycle INTEGER NOT NULL DEFAULT 0, -- 0: no lifecycle notification due
	body           BLOB    NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX subscriptions_lifecycle ON subscriptions (next_lifecycle) WHERE next_lifecycle > 0;

-- One row per change of a record that some subscription of its tenant asks
-- for, written in the record's transaction: whatever the number of
-- subscriptions, a write pays for one small row. The dispatcher fans each
-- out to the subscriptions that existed at its commit (notification_outbox)
-- when it claims, and deletes it in the same transaction.
CREATE TABLE notification_changes (
	seq       INTEGER PRIMARY KEY,
	tenant    TEXT    NOT NULL,
	record_id TEXT    NOT NULL,
	change    INTEGER NOT NULL,
	created   INTEGER NOT NULL
);

-- One row per notification to deliver: a change and a subscription. due is
-- when it may next be claimed: a claim moves it
-- to the end of the claimer's lease, so the one index serves both "what is
-- due" and "whose lease ran out".
CREATE TABLE notification_outbox (
	seq             INTEGER PRIMARY KEY,
	tenant          TEXT    NOT NULL,
	subscription_id TEXT    NOT NULL,
	record_id       TEXT    NOT NULL,
	change          INTEGER NOT NULL,
	created         INTEGER NOT NULL,
	due             INTEGER NOT NULL,
	owner           TEXT,
	attempts        INTEGER NOT NULL DEFAULT 0,
	deferred        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notification_outbox_due ON notification_outbox (due, seq);

CREATE TABLE delivery_attempts (
	seq             INTEGER PRIMARY KEY,
	tenant          TEXT    NOT NULL,
	subscription_id TEXT    NOT NULL,
	time            INTEGER NOT NULL,
	body            BLOB    NOT NULL -- JSON of callvault.DeliveryAttempt
);
CREATE INDEX delivery_attempts_tenant ON delivery_attempts (tenant, subscription_id, seq);
CREATE INDEX delivery_attempts_time ON delivery_attempts (time);
