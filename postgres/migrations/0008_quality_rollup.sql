-- Call quality (issue 16): the daily rollup the analytics answer from, as
-- in SQLite (sqlite/migrations/0011 and 0012; package internal/qualitysql):
-- for each tenant, UTC day, dimension ('' for the day's total), value and
-- media, the counts of a QualityGroup.
--
-- An import marks the days of the streams it writes in quality_dirty, an
-- upsert that takes the row's lock, so that a refresh (which deletes the
-- mark first, then reads the day's streams) and an import of the same day
-- are ordered. Deleting a record's stream rows marks their days in the
-- same statement (postgres/quality.go): no trigger, which CockroachDB and
-- YugabyteDB would not run.
CREATE TABLE quality_dirty (
	tenant TEXT   NOT NULL,
	day    BIGINT NOT NULL,
	marks  BIGINT NOT NULL DEFAULT 1,
	PRIMARY KEY (tenant, day)
);

CREATE TABLE quality_rollup (
	tenant TEXT   NOT NULL,
	dim    TEXT   NOT NULL,
	day    BIGINT NOT NULL,
	value  TEXT   NOT NULL,
	media  TEXT   NOT NULL,
	streams BIGINT NOT NULL,
	good    BIGINT NOT NULL,
	poor    BIGINT NOT NULL,
	unclassified BIGINT NOT NULL,
	s0 DOUBLE PRECISION NOT NULL, s1 DOUBLE PRECISION NOT NULL, s2 DOUBLE PRECISION NOT NULL,
	s3 DOUBLE PRECISION NOT NULL, s4 DOUBLE PRECISION NOT NULL, s5 DOUBLE PRECISION NOT NULL,
	c0 BIGINT NOT NULL, c1 BIGINT NOT NULL, c2 BIGINT NOT NULL, c3 BIGINT NOT NULL, c4 BIGINT NOT NULL, c5 BIGINT NOT NULL,
	calls      BIGINT NOT NULL,
	good_calls BIGINT NOT NULL,
	poor_calls BIGINT NOT NULL,
	PRIMARY KEY (tenant, dim, day, value, media)
);

CREATE TABLE quality_rollup_generation (
	tenant TEXT   PRIMARY KEY,
	gen    BIGINT NOT NULL
);

INSERT INTO quality_dirty (tenant, day)
	SELECT DISTINCT tenant, start_time / 86400000000000 FROM quality_streams
	ON CONFLICT DO NOTHING;
