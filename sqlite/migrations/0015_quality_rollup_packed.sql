-- Call quality (issue 16): the daily rollup keyed by (tenant, dim, day,
-- media, value), its counts packed into one column (qualitysql.PackCounts),
-- so that a period is read a day and a media at a time, each one range of
-- the key, and added up in Go: SQLite's GROUP BY and nineteen SUMs a row
-- cost three times more than reading one column. The rollup is derived
-- from the stream rows, so it is not copied: every day of them is marked
-- dirty and computed again (by serve in the background, or by migrate).
DROP TABLE quality_rollup;

CREATE TABLE quality_rollup (
	tenant TEXT    NOT NULL,
	dim    TEXT    NOT NULL,
	day    INTEGER NOT NULL,
	media  TEXT    NOT NULL,
	value  TEXT    NOT NULL,
	counts BLOB    NOT NULL,
	PRIMARY KEY (tenant, dim, day, media, value)
) WITHOUT ROWID;

INSERT OR IGNORE INTO quality_dirty (tenant, day)
	SELECT DISTINCT tenant, start_time / 86400000000000 FROM quality_stream_rows;
