-- The first schema of callvault's SQLite store.
--
-- Every key starts with the tenant, so every lookup and range scan is
-- confined to one tenant's part of the b-tree.
--
-- Times are INTEGER unix nanoseconds in UTC: they sort and compare as
-- numbers, keep the 100 ns precision of Graph's DateTimeOffset values, and
-- cover the years 1678 to 2262. NULL stands for a zero time.Time.
--
-- Bodies are BLOBs holding the canonical JSON byte for byte; SQLite never
-- looks inside them.
--
-- The tables are rowid tables, not WITHOUT ROWID: a WITHOUT ROWID row lives
-- in an index b-tree, whose cells spill to a whole overflow page each past
-- about 1 KB (4 KB pages), and bodies are 1 to 6 KB. Measured with such
-- bodies, WITHOUT ROWID made the file 12 to 54% bigger and both puts and
-- pages slower. The primary key's index serves the keyset range scan, and
-- the rowids it leads to are consecutive, because a record's rows are
-- inserted together in one transaction, so the rows of a page sit on
-- neighbouring pages.
--
-- The page size is not part of this file: Open sets it before this runs, on
-- a new file only (sqlite.go, pageSize). Databases created before that have
-- SQLite's 4 KiB pages; newer ones 16 KiB, on which most bodies fit in
-- their table leaf instead of spilling to overflow pages (measured: bulk
-- import a fifth to a quarter cheaper, reading a page of sessions with
-- segments 30 % cheaper). The choice of rowid tables holds on 16 KiB pages
-- too: an index b-tree cell still spills past about 4 KB there.

CREATE TABLE call_records (
	tenant        TEXT    NOT NULL,
	id            TEXT    NOT NULL,
	version       INTEGER NOT NULL,
	start_time    INTEGER,
	end_time      INTEGER,
	body          BLOB    NOT NULL,
	organizer     BLOB,              -- organizer_v2; NULL when the record has none
	session_count INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
);

-- seq is the 1-based position of the session in the imported record and
-- the keyset cursor of ListSessions.
CREATE TABLE sessions (
	tenant    TEXT    NOT NULL,
	record_id TEXT    NOT NULL,
	seq       INTEGER NOT NULL,
	id        TEXT    NOT NULL,
	body      BLOB    NOT NULL,
	PRIMARY KEY (tenant, record_id, seq),
	FOREIGN KEY (tenant, record_id) REFERENCES call_records (tenant, id) ON DELETE CASCADE
);

-- session_seq is the seq of the segment's session, seq the 1-based
-- position of the segment within it.
CREATE TABLE segments (
	tenant      TEXT    NOT NULL,
	record_id   TEXT    NOT NULL,
	session_seq INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	id          TEXT    NOT NULL,
	body        BLOB    NOT NULL,
	PRIMARY KEY (tenant, record_id, session_seq, seq),
	FOREIGN KEY (tenant, record_id, session_seq) REFERENCES sessions (tenant, record_id, seq) ON DELETE CASCADE
);

-- participants_v2, in the order of the imported record.
CREATE TABLE participants (
	tenant    TEXT    NOT NULL,
	record_id TEXT    NOT NULL,
	seq       INTEGER NOT NULL,
	id        TEXT    NOT NULL,
	body      BLOB    NOT NULL,
	PRIMARY KEY (tenant, record_id, seq),
	FOREIGN KEY (tenant, record_id) REFERENCES call_records (tenant, id) ON DELETE CASCADE
);
