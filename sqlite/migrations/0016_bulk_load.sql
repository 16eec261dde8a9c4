-- Indexes a bulk load has dropped until its end (sqlite/bulk.go), each with
-- the CREATE statement that made it, as sqlite_schema held it: the end of
-- the load builds them again from here, and so does the next Open after a
-- process that stopped before the end.
CREATE TABLE put_off_indexes (
	name TEXT PRIMARY KEY,
	sql  TEXT NOT NULL
);
