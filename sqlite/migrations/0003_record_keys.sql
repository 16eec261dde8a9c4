-- Every call record gets an increasing INTEGER key, rk, and the rows below
-- a record (sessions, segments, participants) are keyed by it instead of by
-- (tenant, record_id).
--
-- Record ids are random GUIDs: keyed by (tenant, record_id), each new
-- record's rows landed at a random leaf of about eight indexes, and once
-- those outgrew the page cache every record read several leaves back from
-- the disk and wrote them whole to the WAL (measured on bulk imports: the
-- store's cost a session doubled from a small database to 778,000
-- sessions). rk is the rowid of call_records, which SQLite numbers one past
-- the largest, so a new record's rows are appended to the end of each child
-- index, whose last leaves stay in the cache. Only call_records' own
-- indexes (tenant, id) and (tenant, start_time, id, end_time), and
-- participants_by_id, are still written at random places.
--
-- rk never leaves the store and is never taken from a caller: every read
-- finds the record by (tenant, id) first, in the same statement or
-- transaction, so the tenant wall is the one of call_records. A record that
-- PutRecord rewrites keeps its rk (its rows below are deleted and written
-- again).
--
-- The child rows no longer repeat the tenant and record id, but for
-- participants: participants_by_id, which serves ListRecords of one
-- participant across a tenant's records, is keyed by them.
--
-- The old tables are renamed, copied into the new ones in rk order and
-- dropped, children first (with foreign keys on, dropping a parent first
-- would delete its children row by row).

DROP INDEX call_records_by_start;
DROP INDEX sessions_by_id;
DROP INDEX participants_in_record;
DROP INDEX participants_by_id;

ALTER TABLE call_records RENAME TO old_call_records;
ALTER TABLE sessions RENAME TO old_sessions;
ALTER TABLE segments RENAME TO old_segments;
ALTER TABLE participants RENAME TO old_participants;

CREATE TABLE call_records (
	rk                INTEGER PRIMARY KEY, -- the rowid
	tenant            TEXT    NOT NULL,
	id                TEXT    NOT NULL,
	version           INTEGER NOT NULL,
	start_time        INTEGER,
	end_time          INTEGER,
	body              BLOB    NOT NULL,
	organizer         BLOB,
	session_count     INTEGER NOT NULL,
	participant_count INTEGER NOT NULL DEFAULT 0,
	UNIQUE (tenant, id)
);

CREATE TABLE sessions (
	rk   INTEGER NOT NULL,
	seq  INTEGER NOT NULL,
	id   TEXT    NOT NULL,
	body BLOB    NOT NULL,
	PRIMARY KEY (rk, seq),
	FOREIGN KEY (rk) REFERENCES call_records (rk) ON DELETE CASCADE
);

CREATE TABLE segments (
	rk          INTEGER NOT NULL,
	session_seq INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	id          TEXT    NOT NULL,
	body        BLOB    NOT NULL,
	PRIMARY KEY (rk, session_seq, seq),
	FOREIGN KEY (rk, session_seq) REFERENCES sessions (rk, seq) ON DELETE CASCADE
);

-- tenant and record_id are those of the record, for participants_by_id.
CREATE TABLE participants (
	rk           INTEGER NOT NULL,
	seq          INTEGER NOT NULL,
	id           TEXT    NOT NULL,
	body         BLOB    NOT NULL,
	tenant       TEXT    NOT NULL,
	record_id    TEXT    NOT NULL,
	record_start INTEGER,
	record_end   INTEGER,
	PRIMARY KEY (rk, seq),
	FOREIGN KEY (rk) REFERENCES call_records (rk) ON DELETE CASCADE
);

INSERT INTO call_records (tenant, id, version, start_time, end_time, body, organizer, session_count, participant_count)
	SELECT tenant, id, version, start_time, end_time, body, organizer, session_count, participant_count
	FROM old_call_records ORDER BY rowid;
-- CROSS JOIN: the records in rk order, then the rows of each by their old
-- primary key, so that every insert below is an append.
INSERT INTO sessions (rk, seq, id, body)
	SELECT c.rk, s.seq, s.id, s.body
	FROM call_records AS c CROSS JOIN old_sessions AS s
	WHERE s.tenant = c.tenant AND s.record_id = c.id
	ORDER BY c.rk, s.seq;
INSERT INTO segments (rk, session_seq, seq, id, body)
	SELECT c.rk, g.session_seq, g.seq, g.id, g.body
	FROM call_records AS c CROSS JOIN old_segments AS g
	WHERE g.tenant = c.tenant AND g.record_id = c.id
	ORDER BY c.rk, g.session_seq, g.seq;
INSERT INTO participants (rk, seq, id, body, tenant, record_id, record_start, record_end)
	SELECT c.rk, p.seq, p.id, p.body, p.tenant, p.record_id, p.record_start, p.record_end
	FROM call_records AS c CROSS JOIN old_participants AS p
	WHERE p.tenant = c.tenant AND p.record_id = c.id
	ORDER BY c.rk, p.seq;

DROP TABLE old_segments;
DROP TABLE old_sessions;
DROP TABLE old_participants;
DROP TABLE old_call_records;

-- The statistics ANALYZE (or PRAGMA optimize) gathered on the old tables
-- stayed with their names, which are now the new tables'; they describe
-- other columns. ANALYZE of sqlite_schema creates sqlite_stat1 if it is
-- not there and analyses nothing else.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE tbl IN ('call_records', 'sessions', 'segments', 'participants');

-- As in 0002_queries.sql, with the child indexes keyed by rk.
CREATE INDEX call_records_by_start ON call_records (tenant, start_time, id, end_time);
CREATE INDEX sessions_by_id ON sessions (rk, id, seq);
CREATE INDEX participants_in_record ON participants (rk, id, seq);
-- rk last: the page of records is found through the records' rowids, with
-- no second search by (tenant, id).
CREATE INDEX participants_by_id ON participants (tenant, id, record_start, record_id, record_end, rk)
	WHERE record_start IS NOT NULL;
