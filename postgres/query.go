package postgres

import (
	"context"

	"github.com/callvault/callvault"
	"github.com/jackc/pgx/v5"
)

// SQL of the readers. Each read is one statement, so it sees one snapshot
// of the database: a page is never half one version of a record and half
// the next. Where a read needs to know that the record exists as well as
// its rows, a first branch of a UNION ALL yields a marker row for the
// record, ordered before the rows.
const (
	sqlSelectHeader = `SELECT version, start_time, end_time, body, organizer, session_count, participant_count
		FROM call_records WHERE tenant = $1 AND id = $2`

	// A range of call_records_by_start, from the keyset cursor (or the start
	// of the time range: ids are never empty, so (lo, '') is before every
	// record at lo). The retention filter on end_time is answered by the
	// index, before any table row is read.
	sqlSelectRecords = `SELECT id, version, start_time, end_time, body, organizer, session_count, participant_count
		FROM call_records
		WHERE tenant = $1 AND (start_time, id) > ($2, $3) AND start_time <= $4 AND end_time BETWEEN $5 AND $6
		ORDER BY start_time, id LIMIT $7`
	sqlCountRecords = `SELECT count(*) FROM call_records
		WHERE tenant = $1 AND start_time BETWEEN $2 AND $3 AND end_time BETWEEN $4 AND $5`
	// A range of the partial index participants_by_id, which holds each
	// record of a participant once, then each record by its primary key.
	sqlSelectParticipantRecords = `SELECT c.id, c.version, c.start_time, c.end_time, c.body, c.organizer, c.session_count, c.participant_count
		FROM participants AS p JOIN call_records AS c ON c.tenant = p.tenant AND c.id = p.record_id
		WHERE p.tenant = $1 AND p.id = $2 AND p.record_start IS NOT NULL
			AND (p.record_start, p.record_id) > ($3, $4) AND p.record_start <= $5 AND p.record_end BETWEEN $6 AND $7
		ORDER BY p.record_start, p.record_id LIMIT $8`
	sqlCountParticipantRecords = `SELECT count(*) FROM participants
		WHERE tenant = $1 AND id = $2 AND record_start IS NOT NULL
			AND record_start BETWEEN $3 AND $4 AND record_end BETWEEN $5 AND $6`

	// The record's marker (0, 0), then each session (seq, 0) followed by its
	// segments (session_seq, seq ≥ 1), each with its body and render scripts.
	// The sessions are a keyset range on the primary key, so a page costs the
	// same at any depth; the segments of the page, whose sessions have
	// consecutive seqs, are one range of theirs.
	sqlSelectSessions = `SELECT 0::BIGINT, stamp, ''::TEXT, ''::BYTEA, NULL::BYTEA
		FROM call_records WHERE tenant = $1 AND id = $2
		UNION ALL
		(SELECT seq, 0, id, body, render FROM sessions
			WHERE tenant = $1 AND record_id = $2 AND seq > $3
			ORDER BY seq LIMIT $4)
		ORDER BY 1, 2`
	sqlSelectSessionsAndSegments = `SELECT 0::BIGINT, stamp, ''::TEXT, ''::BYTEA, NULL::BYTEA
		FROM call_records WHERE tenant = $1 AND id = $2
		UNION ALL
		(SELECT seq, 0, id, body, render FROM sessions
			WHERE tenant = $1 AND record_id = $2 AND seq > $3
			ORDER BY seq LIMIT $4)
		UNION ALL
		SELECT session_seq, seq, id, body, render FROM segments
			WHERE tenant = $1 AND record_id = $2 AND session_seq > $3 AND session_seq <= $5
		ORDER BY 1, 2`

	// The same shape for one session, found by id: the first of that id.
	// Only pages are rendered by their scripts (graph's appendSessions), so
	// this read leaves them in the table.
	sqlSelectSession = `WITH s AS (
			SELECT seq, id, body FROM sessions
			WHERE tenant = $1 AND record_id = $2 AND id = $3
			ORDER BY seq LIMIT 1
		)
		SELECT 0::BIGINT, 0::BIGINT, ''::TEXT, ''::BYTEA, NULL::BYTEA
		FROM call_records WHERE tenant = $1 AND id = $2
		UNION ALL
		SELECT seq, 0, id, body, NULL FROM s
		UNION ALL
		SELECT g.session_seq, g.seq, g.id, g.body, NULL FROM segments AS g JOIN s ON g.session_seq = s.seq
			WHERE g.tenant = $1 AND g.record_id = $2 AND $4
		ORDER BY 1, 2`

	// The record's marker (seq 0), then a keyset range of participants.
	sqlSelectParticipants = `SELECT 0::BIGINT, ''::TEXT, ''::BYTEA
		FROM call_records WHERE tenant = $1 AND id = $2
		UNION ALL
		(SELECT seq, id, body FROM participants
			WHERE tenant = $1 AND record_id = $2 AND seq > $3
			ORDER BY seq LIMIT $4)
		ORDER BY 1`
	sqlSelectParticipant = `SELECT 0::BIGINT, ''::TEXT, ''::BYTEA
		FROM call_records WHERE tenant = $1 AND id = $2
		UNION ALL
		(SELECT seq, id, body FROM participants
			WHERE tenant = $1 AND record_id = $2 AND id = $3
			ORDER BY seq LIMIT 1)
		ORDER BY 1`
)

// GetSession returns one session of a record, with its segments when asked.
func (db *DB) GetSession(ctx context.Context, tenant, recordID, sessionID string, segments bool) (_ *callvault.SessionRow, err error) {
	if err := callvault.ValidateSessionKey(tenant, recordID, sessionID); err != nil {
		return nil, err
	} else if !storable(tenant) || !storable(recordID) {
		return nil, notFound(recordID)
	} else if !storable(sessionID) {
		return nil, sessionNotFound(recordID, sessionID)
	}
	defer wrap(&err, "postgres: get session %s of record %s", sessionID, recordID)

	sc := getSessionScan(nil)
	defer putSessionScan(sc)
	var found bool
	err = db.read(ctx, tenant, func(r reader) error {
		sc.reset(nil)
		rows, err := r.Query(ctx, db.sql().selectSession, tenant, recordID, sessionID, segments)
		if err != nil {
			return err
		}
		found, _, err = sc.scan(rows, 1)
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, notFound(recordID)
	}
	sessions := sc.sessions()
	if len(sessions) == 0 {
		return nil, sessionNotFound(recordID, sessionID)
	}
	return &sessions[0], nil
}

// ListParticipants returns one page of a record's participants_v2.
func (db *DB) ListParticipants(ctx context.Context, q callvault.ParticipantQuery) (_ *callvault.ParticipantPage, err error) {
	if err := q.Validate(); err != nil {
		return nil, err
	} else if !storable(q.Tenant) || !storable(q.RecordID) {
		return nil, notFound(q.RecordID)
	}
	defer wrap(&err, "postgres: list participants of record %s", q.RecordID)

	fetch := addCapped(int64(q.Limit), 1)
	page := &callvault.ParticipantPage{Participants: make([]callvault.ParticipantRow, 0, min(fetch, 256))}
	var found bool
	err = db.read(ctx, q.Tenant, func(r reader) error {
		page.Participants = page.Participants[:0]
		rows, err := r.Query(ctx, db.sql().selectParticipants, q.Tenant, q.RecordID, q.After, fetch)
		if err != nil {
			return err
		}
		found, err = scanParticipants(rows, &page.Participants)
		return err
	})
	if err != nil {
		return nil, err
	} else if !found {
		return nil, notFound(q.RecordID)
	}
	page.Cut(q.Limit)
	return page, nil
}

// GetParticipant returns one participant of a record.
func (db *DB) GetParticipant(ctx context.Context, tenant, recordID, participantID string) (_ *callvault.ParticipantRow, err error) {
	if err := callvault.ValidateParticipantKey(tenant, recordID, participantID); err != nil {
		return nil, err
	} else if !storable(tenant) || !storable(recordID) {
		return nil, notFound(recordID)
	} else if !storable(participantID) {
		return nil, participantNotFound(recordID, participantID)
	}
	defer wrap(&err, "postgres: get participant %s of record %s", participantID, recordID)

	var participants []callvault.ParticipantRow
	var found bool
	err = db.read(ctx, tenant, func(r reader) error {
		participants = participants[:0]
		rows, err := r.Query(ctx, db.sql().selectParticipant, tenant, recordID, participantID)
		if err != nil {
			return err
		}
		found, err = scanParticipants(rows, &participants)
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, notFound(recordID)
	case len(participants) == 0:
		return nil, participantNotFound(recordID, participantID)
	}
	return &participants[0], nil
}

// scanParticipants reads rows of the shape of sqlSelectParticipants into
// participants, and reports whether the record's marker row was among them.
func scanParticipants(rows pgx.Rows, participants *[]callvault.ParticipantRow) (found bool, err error) {
	defer rows.Close()
	for rows.Next() {
		var p callvault.ParticipantRow
		if err := rows.Scan(&p.Seq, &p.ID, &p.Body); err != nil {
			return false, err
		}
		if p.Seq == 0 {
			found = true
			continue
		}
		*participants = append(*participants, p)
	}
	return found, rows.Err()
}

// ListRecords returns one page of a tenant's records in list order.
func (db *DB) ListRecords(ctx context.Context, q callvault.RecordQuery) (_ *callvault.RecordPage, err error) {
	args, none, err := q.ListArgs()
	if err != nil {
		return nil, err
	} else if none || !storable(q.Tenant) || !storable(q.ParticipantID) {
		return &callvault.RecordPage{}, nil
	}
	defer wrap(&err, "postgres: list records")

	query := db.sql().selectRecords
	if q.ParticipantID != "" {
		query = db.sql().selectParticipantRecords
	}
	page := &callvault.RecordPage{Records: make([]callvault.RecordHeader, 0, min(q.Limit, 255)+1)}
	err = db.read(ctx, q.Tenant, func(rd reader) error {
		page.Records = page.Records[:0]
		rows, err := rd.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h callvault.RecordHeader
			var start, end int64
			if err := rows.Scan(&h.ID, &h.Version, &start, &end, &h.Body, &h.Organizer, &h.Sessions, &h.Participants); err != nil {
				return err
			}
			h.StartDateTime, h.EndDateTime = callvault.KeyTime(start), callvault.KeyTime(end)
			page.Records = append(page.Records, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	page.Cut(q.Limit)
	return page, nil
}

// CountRecords returns how many records the query matches, whatever its
// cursor and page size.
func (db *DB) CountRecords(ctx context.Context, q callvault.RecordQuery) (n int64, err error) {
	args, none, err := q.CountArgs()
	if err != nil || none || !storable(q.Tenant) || !storable(q.ParticipantID) {
		return 0, err
	}
	defer wrap(&err, "postgres: count records")

	query := db.sql().countRecords
	if q.ParticipantID != "" {
		query = db.sql().countParticipantRecords
	}
	err = db.read(ctx, q.Tenant, func(rd reader) error {
		return rd.QueryRow(ctx, query, args...).Scan(&n)
	})
	return n, err
}

func sessionNotFound(recordID, sessionID string) error {
	return callvault.Errorf(callvault.ENOTFOUND, "Session %s of call record %s was not found.", sessionID, recordID)
}

func participantNotFound(recordID, participantID string) error {
	return callvault.Errorf(callvault.ENOTFOUND, "Participant %s of call record %s was not found.", participantID, recordID)
}
