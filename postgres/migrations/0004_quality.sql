-- Call quality (issue 16): the tables of the SQLite store's migration
-- 0006, in PostgreSQL's types: each media stream of a record classified as
-- CQD does, with the metrics and dimensions the analytics read; the
-- records classified; the tenants' building and endpoint files. The rows
-- below a record are keyed by (tenant, record_id), as in 0001.
CREATE TABLE quality_records (
	tenant    TEXT COLLATE "C" NOT NULL,
	record_id TEXT COLLATE "C" NOT NULL,
	version   BIGINT NOT NULL,
	PRIMARY KEY (tenant, record_id)
);

CREATE TABLE quality_streams (
	tenant TEXT COLLATE "C" NOT NULL,
	record_id TEXT COLLATE "C" NOT NULL,
	session_seq BIGINT NOT NULL,
	segment_seq BIGINT NOT NULL,
	seq BIGINT NOT NULL,
	start_time BIGINT NOT NULL,
	media TEXT COLLATE "C" NOT NULL,
	label TEXT COLLATE "C" NOT NULL,
	direction TEXT COLLATE "C" NOT NULL,
	first_is_caller BIGINT NOT NULL,
	class TEXT COLLATE "C" NOT NULL,
	poor_due BIGINT NOT NULL,
	jitter_ms DOUBLE PRECISION,
	round_trip_ms DOUBLE PRECISION,
	packet_loss DOUBLE PRECISION,
	degradation DOUBLE PRECISION,
	concealed DOUBLE PRECISION,
	frame_loss DOUBLE PRECISION,
	frame_rate DOUBLE PRECISION,
	post_fecplr DOUBLE PRECISION,
	call_type TEXT COLLATE "C" NOT NULL,
	pstn BIGINT NOT NULL,
	conference BIGINT NOT NULL,
	first_kind TEXT COLLATE "C" NOT NULL,
	first_name TEXT COLLATE "C" NOT NULL,
	first_role TEXT COLLATE "C" NOT NULL,
	first_platform TEXT COLLATE "C" NOT NULL,
	first_family TEXT COLLATE "C" NOT NULL,
	first_user_agent TEXT COLLATE "C" NOT NULL,
	first_app_version TEXT COLLATE "C" NOT NULL,
	first_user_id TEXT COLLATE "C" NOT NULL,
	first_user_name TEXT COLLATE "C" NOT NULL,
	first_connection TEXT COLLATE "C" NOT NULL,
	first_wifi_band TEXT COLLATE "C" NOT NULL,
	first_transport TEXT COLLATE "C" NOT NULL,
	first_subnet TEXT COLLATE "C" NOT NULL,
	first_ip TEXT COLLATE "C" NOT NULL,
	second_kind TEXT COLLATE "C" NOT NULL,
	second_name TEXT COLLATE "C" NOT NULL,
	second_role TEXT COLLATE "C" NOT NULL,
	second_platform TEXT COLLATE "C" NOT NULL,
	second_family TEXT COLLATE "C" NOT NULL,
	second_user_agent TEXT COLLATE "C" NOT NULL,
	second_app_version TEXT COLLATE "C" NOT NULL,
	second_user_id TEXT COLLATE "C" NOT NULL,
	second_user_name TEXT COLLATE "C" NOT NULL,
	second_connection TEXT COLLATE "C" NOT NULL,
	second_wifi_band TEXT COLLATE "C" NOT NULL,
	second_transport TEXT COLLATE "C" NOT NULL,
	second_subnet TEXT COLLATE "C" NOT NULL,
	second_ip TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, record_id, session_seq, segment_seq, seq)
);
CREATE INDEX quality_streams_by_start ON quality_streams (tenant, start_time);

CREATE TABLE tenant_files (
	tenant  TEXT COLLATE "C" NOT NULL,
	kind    TEXT COLLATE "C" NOT NULL,
	updated BIGINT NOT NULL,
	body    BYTEA  NOT NULL,
	PRIMARY KEY (tenant, kind)
);
