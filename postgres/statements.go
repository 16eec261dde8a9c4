package postgres

// statements are the SQL of the record tables that differs between the
// plain schema and the partitioned one (partition.go).
type statements struct {
	selectRecords, countRecords                        string
	selectParticipantRecords, countParticipantRecords  string
	selectSessions, selectSessionsAndSegments          string
	selectSession                                      string
	selectParticipants, selectParticipant              string
	insertSessions, insertSegments, insertParticipants string
}

// plainSQL is the SQL of the unpartitioned tables.
var plainSQL = statements{
	selectRecords:             sqlSelectRecords,
	countRecords:              sqlCountRecords,
	selectParticipantRecords:  sqlSelectParticipantRecords,
	countParticipantRecords:   sqlCountParticipantRecords,
	selectSessions:            sqlSelectSessions,
	selectSessionsAndSegments: sqlSelectSessionsAndSegments,
	selectSession:             sqlSelectSession,
	selectParticipants:        sqlSelectParticipants,
	selectParticipant:         sqlSelectParticipant,
	insertSessions:            sqlInsertSessions,
	insertSegments:            sqlInsertSegments,
	insertParticipants:        sqlInsertParticipants,
}

// partitionedSQL is the same on the partitioned tables: each names the
// partition key, so that PostgreSQL reads only the partitions it needs. The
// rows of one record are found through its header's start_time (the CTE h,
// an InitPlan whose value prunes the partitions at execution), so that they
// are a single-partition read; the record's header itself is found by
// (tenant, id) in every partition's primary key. The row inserts take the
// record's start_time as their last argument.
var partitionedSQL = statements{
	// start_time >= $2 repeats what the keyset says, in a form that prunes.
	selectRecords: `SELECT id, version, start_time, end_time, body, organizer, session_count, participant_count
		FROM call_records
		WHERE tenant = $1 AND (start_time, id) > ($2, $3) AND start_time >= $2 AND start_time <= $4 AND end_time BETWEEN $5 AND $6
		ORDER BY start_time, id LIMIT $7`,
	countRecords: sqlCountRecords,
	selectParticipantRecords: `SELECT c.id, c.version, c.start_time, c.end_time, c.body, c.organizer, c.session_count, c.participant_count
		FROM participants AS p JOIN call_records AS c ON c.tenant = p.tenant AND c.id = p.record_id AND c.start_time = p.record_time
		WHERE p.tenant = $1 AND p.id = $2 AND p.record_start IS NOT NULL
			AND (p.record_start, p.record_id) > ($3, $4) AND p.record_start <= $5 AND p.record_end BETWEEN $6 AND $7
			AND p.record_time >= $3 AND p.record_time <= $5
		ORDER BY p.record_start, p.record_id LIMIT $8`,
	countParticipantRecords: `SELECT count(*) FROM participants
		WHERE tenant = $1 AND id = $2 AND record_start IS NOT NULL
			AND record_start BETWEEN $3 AND $4 AND record_end BETWEEN $5 AND $6 AND record_time BETWEEN $3 AND $4`,

	selectSessions: `WITH h AS (SELECT start_time, stamp FROM call_records WHERE tenant = $1 AND id = $2)
		SELECT 0::BIGINT, stamp, ''::TEXT, ''::BYTEA, NULL::BYTEA FROM h
		UNION ALL
		(SELECT seq, 0, id, body, render FROM sessions
			WHERE tenant = $1 AND record_id = $2 AND record_time = (SELECT start_time FROM h) AND seq > $3
			ORDER BY seq LIMIT $4)
		ORDER BY 1, 2`,
	selectSessionsAndSegments: `WITH h AS (SELECT start_time, stamp FROM call_records WHERE tenant = $1 AND id = $2)
		SELECT 0::BIGINT, stamp, ''::TEXT, ''::BYTEA, NULL::BYTEA FROM h
		UNION ALL
		(SELECT seq, 0, id, body, render FROM sessions
			WHERE tenant = $1 AND record_id = $2 AND record_time = (SELECT start_time FROM h) AND seq > $3
			ORDER BY seq LIMIT $4)
		UNION ALL
		SELECT session_seq, seq, id, body, render FROM segments
			WHERE tenant = $1 AND record_id = $2 AND record_time = (SELECT start_time FROM h)
				AND session_seq > $3 AND session_seq <= $5
		ORDER BY 1, 2`,
	selectSession: `WITH h AS (SELECT start_time FROM call_records WHERE tenant = $1 AND id = $2),
		s AS (
			SELECT seq, id, body FROM sessions
			WHERE tenant = $1 AND record_id = $2 AND record_time = (SELECT start_time FROM h) AND id = $3
			ORDER BY seq LIMIT 1
		)
		SELECT 0::BIGINT, 0::BIGINT, ''::TEXT, ''::BYTEA, NULL::BYTEA FROM h
		UNION ALL
		SELECT seq, 0, id, body, NULL FROM s
		UNION ALL
		SELECT g.session_seq, g.seq, g.id, g.body, NULL FROM segments AS g JOIN s ON g.session_seq = s.seq
			WHERE g.tenant = $1 AND g.record_id = $2 AND g.record_time = (SELECT start_time FROM h) AND $4
		ORDER BY 1, 2`,
	selectParticipants: `WITH h AS (SELECT start_time FROM call_records WHERE tenant = $1 AND id = $2)
		SELECT 0::BIGINT, ''::TEXT, ''::BYTEA FROM h
		UNION ALL
		(SELECT seq, id, body FROM participants
			WHERE tenant = $1 AND record_id = $2 AND record_time = (SELECT start_time FROM h) AND seq > $3
			ORDER BY seq LIMIT $4)
		ORDER BY 1`,
	selectParticipant: `WITH h AS (SELECT start_time FROM call_records WHERE tenant = $1 AND id = $2)
		SELECT 0::BIGINT, ''::TEXT, ''::BYTEA FROM h
		UNION ALL
		(SELECT seq, id, body FROM participants
			WHERE tenant = $1 AND record_id = $2 AND record_time = (SELECT start_time FROM h) AND id = $3
			ORDER BY seq LIMIT 1)
		ORDER BY 1`,

	insertSessions: `INSERT INTO sessions (tenant, record_id, record_time, seq, id, body, render)
		SELECT $1::TEXT, $2::TEXT, $7::BIGINT, u.seq, u.id, u.body, u.render
		FROM unnest($3::BIGINT[], $4::TEXT[], $5::BYTEA[], $6::BYTEA[]) AS u (seq, id, body, render)`,
	insertSegments: `INSERT INTO segments (tenant, record_id, record_time, session_seq, seq, id, body, render)
		SELECT $1::TEXT, $2::TEXT, $8::BIGINT, u.session_seq, u.seq, u.id, u.body, u.render
		FROM unnest($3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::BYTEA[], $7::BYTEA[]) AS u (session_seq, seq, id, body, render)`,
	insertParticipants: `INSERT INTO participants (tenant, record_id, record_time, seq, id, body, record_start, record_end)
		SELECT $1::TEXT, $2::TEXT, $8::BIGINT, u.seq, u.id, u.body, u.record_start, u.record_end
		FROM unnest($3::BIGINT[], $4::TEXT[], $5::BYTEA[], $6::BIGINT[], $7::BIGINT[]) AS u (seq, id, body, record_start, record_end)`,
}

// Writes of the partitioned tables. A record's id is unique in the tenant
// although the primary key holds its start_time too: writers of one record
// serialise on a transaction lock of its key, then find it in whichever
// partition holds it.
const (
	sqlLockRecordKey = `SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))`
	sqlSelectStoredP = `SELECT version, start_time FROM call_records WHERE tenant = $1 AND id = $2`
	sqlInsertRecordP = `INSERT INTO call_records (tenant, id, version, start_time, end_time, body, organizer, session_count, participant_count, stamp)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	// An UPDATE of start_time moves the row to its new partition.
	sqlUpdateRecordP = `UPDATE call_records
		SET version = $3, start_time = $4, end_time = $5, body = $6, organizer = $7, session_count = $8, participant_count = $9,
			stamp = $10
		WHERE tenant = $1 AND id = $2 AND start_time = $11`
	sqlDeleteSegmentsP     = `DELETE FROM segments WHERE tenant = $1 AND record_id = $2 AND record_time = $3`
	sqlDeleteSessionsP     = `DELETE FROM sessions WHERE tenant = $1 AND record_id = $2 AND record_time = $3`
	sqlDeleteParticipantsP = `DELETE FROM participants WHERE tenant = $1 AND record_id = $2 AND record_time = $3`
)

// sql returns the statements of the database's schema.
func (db *DB) sql() *statements {
	if db.parts.on {
		return &partitionedSQL
	}
	return &plainSQL
}
