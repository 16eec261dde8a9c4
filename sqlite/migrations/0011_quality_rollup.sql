-- Call quality (issue 16): the daily rollup the web view and the analytics
-- API answer from (package internal/qualitysql, RollupColumns): for each
-- tenant, UTC day, dimension ('' for the day's total), value and media, the
-- counts of a QualityGroup. Sums s0..s5 and counts c0..c5 are those of
-- jitter_ms, round_trip_ms, packet_loss, degradation, concealed and
-- frame_rate.
--
-- An import only marks the days it writes streams for in quality_dirty (one
-- row a record, beside its streams); a delete of stream rows marks theirs by
-- the trigger. The rollup of a dirty day is computed again from its streams
-- when a query first needs it, in a write transaction of its own.
CREATE TABLE quality_dirty (
	tenant TEXT    NOT NULL,
	day    INTEGER NOT NULL,
	PRIMARY KEY (tenant, day)
) WITHOUT ROWID;

CREATE TABLE quality_rollup (
	tenant TEXT    NOT NULL,
	dim    TEXT    NOT NULL,
	day    INTEGER NOT NULL,
	value  TEXT    NOT NULL,
	media  TEXT    NOT NULL,
	streams INTEGER NOT NULL,
	good    INTEGER NOT NULL,
	poor    INTEGER NOT NULL,
	unclassified INTEGER NOT NULL,
	s0 REAL NOT NULL, s1 REAL NOT NULL, s2 REAL NOT NULL, s3 REAL NOT NULL, s4 REAL NOT NULL, s5 REAL NOT NULL,
	c0 INTEGER NOT NULL, c1 INTEGER NOT NULL, c2 INTEGER NOT NULL, c3 INTEGER NOT NULL, c4 INTEGER NOT NULL, c5 INTEGER NOT NULL,
	calls      INTEGER NOT NULL,
	good_calls INTEGER NOT NULL,
	poor_calls INTEGER NOT NULL,
	PRIMARY KEY (tenant, dim, day, value, media)
) WITHOUT ROWID;

CREATE TRIGGER quality_stream_rows_deleted AFTER DELETE ON quality_stream_rows BEGIN
	INSERT OR IGNORE INTO quality_dirty (tenant, day) VALUES (OLD.tenant, OLD.start_time / 86400000000000);
END;

-- The streams stored before: every day of them is dirty.
INSERT OR IGNORE INTO quality_dirty (tenant, day)
	SELECT DISTINCT tenant, start_time / 86400000000000 FROM quality_stream_rows;
