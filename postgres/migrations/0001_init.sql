-- The first schema of callvault's PostgreSQL store: the SQLite store's
-- schema in PostgreSQL's types.
--
-- It stays within what Postgres-wire distributed engines (CockroachDB,
-- YugabyteDB) accept: plain tables, primary keys, secondary and partial
-- indexes; no triggers, functions, sequences, extensions or jsonb.
--
-- Every key starts with the tenant, so every lookup and range scan is
-- confined to one tenant's part of an index (and, on a distributed engine,
-- to the ranges that hold it).
--
-- Text keys are COLLATE "C": they compare byte by byte, as Go strings and
-- SQLite's do, whatever the database's locale, so lists come in the same
-- order from every store; and a C comparison is a memcmp. (On CockroachDB,
-- whose strings always compare so, the migration runner drops the clause.)
--
-- Times are BIGINT unix nanoseconds in UTC: they sort and compare as
-- numbers and keep the 100 ns precision of Graph's DateTimeOffset values.
-- The zero time.Time, which is earlier than every other, is the smallest
-- BIGINT, so it sorts first and falls in a range as time.Time would; the
-- store refuses that one instant as a real time.
--
-- Bodies are BYTEA holding the canonical JSON byte for byte: the database
-- never parses them (jsonb would reorder keys and rewrite numbers).
--
-- Unlike the SQLite schema, the rows below a record have no foreign keys.
-- PutRecord is their only writer: it writes and deletes them in the
-- transaction that holds the record's row lock. PostgreSQL checks a foreign
-- key row by row, with a lookup and a lock on the parent row, and cascades
-- a delete row by row: measured on a 6,000-session record, the keys made an
-- insert 2.2 and a replacement 3 times slower (on a distributed engine each
-- check may be a read from another node).

CREATE TABLE call_records (
	tenant            TEXT COLLATE "C" NOT NULL,
	id                TEXT COLLATE "C" NOT NULL,
	version           BIGINT NOT NULL,
	start_time        BIGINT NOT NULL,
	end_time          BIGINT NOT NULL,
	body              BYTEA  NOT NULL,
	organizer         BYTEA,           -- organizer_v2; NULL when the record has none
	session_count     BIGINT NOT NULL,
	participant_count BIGINT NOT NULL,
	PRIMARY KEY (tenant, id)
);

-- The list order of ListRecords, (start_time, id), and its keyset. end_time
-- is in the index so that the retention filter skips expired records, and
-- CountRecords counts, without reading a table row.
CREATE INDEX call_records_by_start ON call_records (tenant, start_time, id, end_time);

-- seq is the 1-based position of the session in the imported record and
-- the keyset cursor of ListSessions.
CREATE TABLE sessions (
	tenant    TEXT COLLATE "C" NOT NULL,
	record_id TEXT COLLATE "C" NOT NULL,
	seq       BIGINT NOT NULL,
	id        TEXT COLLATE "C" NOT NULL,
	body      BYTEA  NOT NULL,
	PRIMARY KEY (tenant, record_id, seq)
);

-- GetSession finds a session by its id; seq orders the sessions of an id
-- that a record has twice.
CREATE INDEX sessions_by_id ON sessions (tenant, record_id, id, seq);

-- session_seq is the seq of the segment's session, seq the 1-based
-- position of the segment within it.
CREATE TABLE segments (
	tenant      TEXT COLLATE "C" NOT NULL,
	record_id   TEXT COLLATE "C" NOT NULL,
	session_seq BIGINT NOT NULL,
	seq         BIGINT NOT NULL,
	id          TEXT COLLATE "C" NOT NULL,
	body        BYTEA  NOT NULL,
	PRIMARY KEY (tenant, record_id, session_seq, seq)
);

-- participants_v2, in the order of the imported record.
--
-- record_start and record_end are copies of the record's start_time and
-- end_time on the first row of each participant id in a record, and NULL on
-- its later rows, so that the partial index participants_by_id holds each
-- participant's records once, in list order: a page of the records of one
-- participant (ListRecords with a ParticipantID) is then one range of it,
-- whatever its depth and however few of the tenant's records the
-- participant is in. PutRecord rewrites a record's participants whenever it
-- rewrites the record, so the copies cannot go stale.
CREATE TABLE participants (
	tenant       TEXT COLLATE "C" NOT NULL,
	record_id    TEXT COLLATE "C" NOT NULL,
	seq          BIGINT NOT NULL,
	id           TEXT COLLATE "C" NOT NULL,
	body         BYTEA  NOT NULL,
	record_start BIGINT,
	record_end   BIGINT,
	PRIMARY KEY (tenant, record_id, seq)
);

-- GetParticipant finds a participant by its id.
CREATE INDEX participants_in_record ON participants (tenant, record_id, id, seq);

CREATE INDEX participants_by_id ON participants (tenant, id, record_start, record_id, record_end)
	WHERE record_start IS NOT NULL;

-- Rows of the report functions (getPstnCalls, getSmsLog, …): kind is the
-- row type's short name, row_key is unique per tenant and kind, and
-- row_time is what the function's date range selects on.
CREATE TABLE report_rows (
	tenant   TEXT COLLATE "C" NOT NULL,
	kind     TEXT COLLATE "C" NOT NULL,
	row_key  TEXT COLLATE "C" NOT NULL,
	row_time BIGINT NOT NULL,
	body     BYTEA  NOT NULL,
	PRIMARY KEY (tenant, kind, row_key)
);

-- The order and the date range of ListReportRows.
CREATE INDEX report_rows_by_time ON report_rows (tenant, kind, row_time, row_key);

-- Keys every replica must share (the cursor key, the token signing key),
-- written once by whichever server needs one first.
CREATE TABLE secrets (
	name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	value      BYTEA  NOT NULL,
	created_at BIGINT NOT NULL -- unix nanoseconds
);
