-- Listing and looking up call records, sessions and participants, and the
-- rows of the report functions.
--
-- Times are no longer NULL: the zero time.Time, which is earlier than every
-- other, is the smallest INTEGER, -2^63, so that it sorts first and falls in
-- a range as time.Time would, and so that the keyset of ListRecords can be
-- the row value (start_time, id), which a NULL would never satisfy. The
-- store refuses that one instant (1677-09-21T00:12:43.145224192Z) as a real
-- time. The PostgreSQL store keeps times the same way.
UPDATE call_records SET start_time = -9223372036854775808 WHERE start_time IS NULL;
UPDATE call_records SET end_time = -9223372036854775808 WHERE end_time IS NULL;

-- How many participants_v2 a record has, for its header.
ALTER TABLE call_records ADD COLUMN participant_count INTEGER NOT NULL DEFAULT 0;
UPDATE call_records SET participant_count = (
	SELECT COUNT(*) FROM participants AS p
	WHERE p.tenant = call_records.tenant AND p.record_id = call_records.id);

-- The list order of ListRecords, (start_time, id), and its keyset. end_time
-- is in the index so that the retention filter skips expired records, and
-- CountRecords counts, without reading a table row.
CREATE INDEX call_records_by_start ON call_records (tenant, start_time, id, end_time);

-- GetSession and GetParticipant find a row by its id; seq orders the rows
-- of an id that a record has twice.
CREATE INDEX sessions_by_id ON sessions (tenant, record_id, id, seq);
CREATE INDEX participants_in_record ON participants (tenant, record_id, id, seq);

-- The records of one participant (ListRecords with a ParticipantID), in list
-- order: record_start and record_end are copies of the record's start_time
-- and end_time on the first row of each participant id in a record, and NULL
-- on its later rows, so that the partial index holds each participant's
-- records once. A page is then one range of this index, whatever its depth
-- and however few of the tenant's records the participant is in. PutRecord
-- rewrites a record's participants whenever it rewrites the record, so the
-- copies cannot go stale.
ALTER TABLE participants ADD COLUMN record_start INTEGER;
ALTER TABLE participants ADD COLUMN record_end INTEGER;
UPDATE participants SET (record_start, record_end) = (
	SELECT c.start_time, c.end_time FROM call_records AS c
	WHERE c.tenant = participants.tenant AND c.id = participants.record_id)
WHERE seq = (
	SELECT MIN(p.seq) FROM participants AS p
	WHERE p.tenant = participants.tenant AND p.record_id = participants.record_id AND p.id = participants.id);
CREATE INDEX participants_by_id ON participants (tenant, id, record_start, record_id, record_end)
	WHERE record_start IS NOT NULL;

-- Rows of the report functions (getPstnCalls, getSmsLog, …): kind is the row
-- type's short name, row_key unique per tenant and kind, row_time what the
-- function's date range selects on. The names are the PostgreSQL store's.
CREATE TABLE report_rows (
	tenant   TEXT    NOT NULL,
	kind     TEXT    NOT NULL,
	row_key  TEXT    NOT NULL,
	row_time INTEGER NOT NULL,
	body     BLOB    NOT NULL,
	PRIMARY KEY (tenant, kind, row_key)
);

-- The order and date range of ListReportRows; COUNT reads only this index.
CREATE INDEX report_rows_by_time ON report_rows (tenant, kind, row_time, row_key);
