-- Call quality (issue 16): the stream rows narrowed for import. Binding
-- 38 text parameters a stream (each one a C allocation in the driver) and
-- writing the wide row took a quarter of a bulk import's CPU. The text
-- columns are now one JSON array, dims, bound once, in quality_stream_rows,
-- and the view quality_streams reads them back under their names, so that
-- queries do not change. (VIRTUAL generated columns would have read the
-- same, but SQLite computes them at every insert, which cost more than the
-- binds it saved.) The numeric columns stay as they were.
--
-- dims holds, in this order (sqlite.qualityDims writes it): record_id,
-- media, label, direction, class, call_type, first_kind, first_name,
-- first_role, first_platform, first_family, first_user_agent,
-- first_app_version, first_user_id, first_user_name, first_connection,
-- first_wifi_band, first_transport, first_subnet, first_ip, second_kind,
-- second_name, second_role, second_platform, second_family,
-- second_user_agent, second_app_version, second_user_id, second_user_name,
-- second_connection, second_wifi_band, second_transport, second_subnet,
-- second_ip.
CREATE TABLE quality_stream_rows (
	rk     INTEGER NOT NULL REFERENCES call_records (rk) ON DELETE CASCADE,
	tenant TEXT    NOT NULL,
	session_seq INTEGER NOT NULL,
	segment_seq INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	start_time INTEGER NOT NULL,
	first_is_caller INTEGER NOT NULL,
	poor_due INTEGER NOT NULL,
	jitter_ms REAL,
	round_trip_ms REAL,
	packet_loss REAL,
	degradation REAL,
	concealed REAL,
	frame_loss REAL,
	frame_rate REAL,
	post_fecplr REAL,
	pstn INTEGER NOT NULL,
	conference INTEGER NOT NULL,
	dims TEXT NOT NULL,
	PRIMARY KEY (rk, session_seq, segment_seq, seq)
);
INSERT INTO quality_stream_rows (rk, tenant, session_seq, segment_seq, seq, start_time, first_is_caller, poor_due, jitter_ms, round_trip_ms, packet_loss, degradation, concealed, frame_loss, frame_rate, post_fecplr, pstn, conference, dims)
	SELECT rk, tenant, session_seq, segment_seq, seq, start_time, first_is_caller, poor_due, jitter_ms, round_trip_ms, packet_loss, degradation, concealed, frame_loss, frame_rate, post_fecplr, pstn, conference,
		json_array(record_id, media, label, direction, class, call_type, first_kind, first_name, first_role, first_platform, first_family, first_user_agent, first_app_version, first_user_id, first_user_name, first_connection, first_wifi_band, first_transport, first_subnet, first_ip, second_kind, second_name, second_role, second_platform, second_family, second_user_agent, second_app_version, second_user_id, second_user_name, second_connection, second_wifi_band, second_transport, second_subnet, second_ip)
	FROM quality_streams;
DROP TABLE quality_streams;
CREATE INDEX quality_streams_by_start ON quality_stream_rows (tenant, start_time);
CREATE VIEW quality_streams AS SELECT rk, tenant, session_seq, segment_seq, seq, start_time,
	first_is_caller, poor_due, jitter_ms, round_trip_ms, packet_loss, degradation, concealed, frame_loss, frame_rate, post_fecplr,
	pstn, conference,
	dims ->> 0 AS record_id,
	dims ->> 1 AS media,
	dims ->> 2 AS label,
	dims ->> 3 AS direction,
	dims ->> 4 AS class,
	dims ->> 5 AS call_type,
	dims ->> 6 AS first_kind,
	dims ->> 7 AS first_name,
	dims ->> 8 AS first_role,
	dims ->> 9 AS first_platform,
	dims ->> 10 AS first_family,
	dims ->> 11 AS first_user_agent,
	dims ->> 12 AS first_app_version,
	dims ->> 13 AS first_user_id,
	dims ->> 14 AS first_user_name,
	dims ->> 15 AS first_connection,
	dims ->> 16 AS first_wifi_band,
	dims ->> 17 AS first_transport,
	dims ->> 18 AS first_subnet,
	dims ->> 19 AS first_ip,
	dims ->> 20 AS second_kind,
	dims ->> 21 AS second_name,
	dims ->> 22 AS second_role,
	dims ->> 23 AS second_platform,
	dims ->> 24 AS second_family,
	dims ->> 25 AS second_user_agent,
	dims ->> 26 AS second_app_version,
	dims ->> 27 AS second_user_id,
	dims ->> 28 AS second_user_name,
	dims ->> 29 AS second_connection,
	dims ->> 30 AS second_wifi_band,
	dims ->> 31 AS second_transport,
	dims ->> 32 AS second_subnet,
	dims ->> 33 AS second_ip
	FROM quality_stream_rows;
