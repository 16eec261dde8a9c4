-- Call quality (issue 16): each media stream of a record classified as the
-- Call Quality Dashboard (CQD) does, with the metrics and dimensions the
-- analytics read, so that no query parses a body. package quality computes
-- the rows at import; the record's transaction writes them
-- (callvault.QualityStore). quality_records lists the records classified,
-- so that `callvault migrate` can classify those stored before.
--
-- The columns are callvault.QualityColumns. Times are unix nanoseconds.
CREATE TABLE quality_records (
	rk      INTEGER PRIMARY KEY REFERENCES call_records (rk) ON DELETE CASCADE,
	version INTEGER NOT NULL
);

CREATE TABLE quality_streams (
	rk     INTEGER NOT NULL REFERENCES call_records (rk) ON DELETE CASCADE,
	tenant TEXT    NOT NULL,
	record_id TEXT NOT NULL,
	session_seq INTEGER NOT NULL,
	segment_seq INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	start_time INTEGER NOT NULL,
	media TEXT NOT NULL,
	label TEXT NOT NULL,
	direction TEXT NOT NULL,
	first_is_caller INTEGER NOT NULL,
	class TEXT NOT NULL,
	poor_due INTEGER NOT NULL,
	jitter_ms REAL,
	round_trip_ms REAL,
	packet_loss REAL,
	degradation REAL,
	concealed REAL,
	frame_loss REAL,
	frame_rate REAL,
	post_fecplr REAL,
	call_type TEXT NOT NULL,
	pstn INTEGER NOT NULL,
	conference INTEGER NOT NULL,
	first_kind TEXT NOT NULL,
	first_name TEXT NOT NULL,
	first_role TEXT NOT NULL,
	first_platform TEXT NOT NULL,
	first_family TEXT NOT NULL,
	first_user_agent TEXT NOT NULL,
	first_app_version TEXT NOT NULL,
	first_user_id TEXT NOT NULL,
	first_user_name TEXT NOT NULL,
	first_connection TEXT NOT NULL,
	first_wifi_band TEXT NOT NULL,
	first_transport TEXT NOT NULL,
	first_subnet TEXT NOT NULL,
	first_ip TEXT NOT NULL,
	second_kind TEXT NOT NULL,
	second_name TEXT NOT NULL,
	second_role TEXT NOT NULL,
	second_platform TEXT NOT NULL,
	second_family TEXT NOT NULL,
	second_user_agent TEXT NOT NULL,
	second_app_version TEXT NOT NULL,
	second_user_id TEXT NOT NULL,
	second_user_name TEXT NOT NULL,
	second_connection TEXT NOT NULL,
	second_wifi_band TEXT NOT NULL,
	second_transport TEXT NOT NULL,
	second_subnet TEXT NOT NULL,
	second_ip TEXT NOT NULL,
	PRIMARY KEY (rk, session_seq, segment_seq, seq)
);
-- The analytics read a tenant's streams of a time range.
CREATE INDEX quality_streams_by_start ON quality_streams (tenant, start_time);

-- The tenant's active building and endpoint files, in CQD's format, as
-- uploaded (callvault.FileBuildings, FileEndpoints).
CREATE TABLE tenant_files (
	tenant  TEXT    NOT NULL,
	kind    TEXT    NOT NULL,
	updated INTEGER NOT NULL,
	body    BLOB    NOT NULL,
	PRIMARY KEY (tenant, kind)
);
