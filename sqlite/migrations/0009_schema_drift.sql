-- Schema drift: names that lenient imports (the mirror's) kept although
-- callvault's schema does not declare them, so that serve writes the kept
-- values back (schema.WithDrift) and operators can list them (callvault
-- schema drift). Times are unix nanoseconds.
CREATE TABLE schema_drift (
	kind       TEXT    NOT NULL, -- property or member
	type       TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	count      INTEGER NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	tenant     TEXT    NOT NULL, -- of the last record seen with it
	record_id  TEXT    NOT NULL,
	PRIMARY KEY (kind, type, name)
);
