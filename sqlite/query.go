package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"

	"github.com/callvault/callvault"
)

// SQL of the queries of records, sessions and participants by key, one
// statement each, prepared once at Open. Every page is one range of an index,
// starting at the keyset cursor, so its cost does not depend on its depth.
const (
	// A range of call_records_by_start. The retention filter on end_time is
	// answered by the index, before any table row is read.
	sqlSelectRecords = `SELECT id, version, start_time, end_time, CAST(body AS BLOB), CAST(organizer AS BLOB), session_count, participant_count
		FROM call_records
		WHERE tenant = ? AND (start_time, id) > (?, ?) AND start_time <= ? AND end_time BETWEEN ? AND ?
		ORDER BY start_time, id LIMIT ?`
	sqlCountRecords = `SELECT COUNT(*) FROM call_records
		WHERE tenant = ? AND start_time BETWEEN ? AND ? AND end_time BETWEEN ? AND ?`
	// A range of participants_by_id, which holds each record of a participant
	// once with its rk, then each record by its rowid; CROSS JOIN keeps the
	// loops in that order. The record's tenant and id are checked against
	// the index entry's as well, so that the page is the tenant's records
	// whatever rk says; the unary + keeps the planner from searching
	// (tenant, id) for them instead of the rowid.
	sqlSelectParticipantRecords = `SELECT c.id, c.version, c.start_time, c.end_time, CAST(c.body AS BLOB), CAST(c.organizer AS BLOB), c.session_count, c.participant_count
		FROM participants AS p CROSS JOIN call_records AS c
		WHERE p.tenant = ? AND p.id = ? AND p.record_start IS NOT NULL
			AND (p.record_start, p.record_id) > (?, ?) AND p.record_start <= ? AND p.record_end BETWEEN ? AND ?
			AND c.rk = p.rk AND +c.tenant = p.tenant AND +c.id = p.record_id
		ORDER BY p.record_start, p.record_id LIMIT ?`
	sqlCountParticipantRecords = `SELECT COUNT(*) FROM participants
		WHERE tenant = ? AND id = ? AND record_start IS NOT NULL
			AND record_start BETWEEN ? AND ? AND record_end BETWEEN ? AND ?`

	// The rows below a record are keyed by its rk: each query finds the
	// record by (tenant, id) first, which confines it to the tenant, then
	// the rows by rk; CROSS JOIN keeps the loops in that order. An id a
	// record has twice is found at its first position.
	sqlSelectSession = `SELECT s.seq, s.id, s.body
		FROM call_records AS c CROSS JOIN sessions AS s
		WHERE c.tenant = ? AND c.id = ? AND s.rk = c.rk AND s.id = ?
		ORDER BY s.seq LIMIT 1`
	sqlSelectSessionSegments = `SELECT g.id, CAST(g.body AS BLOB)
		FROM call_records AS c CROSS JOIN segments AS g
		WHERE c.tenant = ? AND c.id = ? AND g.rk = c.rk AND g.session_seq = ?
		ORDER BY g.seq`
	sqlSelectParticipants = `SELECT p.seq, p.id, CAST(p.body AS BLOB)
		FROM call_records AS c CROSS JOIN participants AS p
		WHERE c.tenant = ? AND c.id = ? AND p.rk = c.rk AND p.seq > ?
		ORDER BY p.seq LIMIT ?`
	sqlSelectParticipant = `SELECT p.seq, p.id, p.body
		FROM call_records AS c CROSS JOIN participants AS p
		WHERE c.tenant = ? AND c.id = ? AND p.rk = c.rk AND p.id = ?
		ORDER BY p.seq LIMIT 1`
)

// queryStatements are the prepared statements of query.go and report.go.
type queryStatements struct {
	selectRecords, countRecords, selectParticipantRecords, countParticipantRecords *sql.Stmt
	selectSession, selectSessionSegments, selectParticipants, selectParticipant    *sql.Stmt
	insertReportRow, updateReportRow, countReportRows, selectReportRows            *sql.Stmt
}

// specs lists the statements once, for prepare and close alike.
func (s *queryStatements) specs() []stmtSpec {
	return []stmtSpec{
		{&s.selectRecords, false, sqlSelectRecords},
		{&s.countRecords, false, sqlCountRecords},
		{&s.selectParticipantRecords, false, sqlSelectParticipantRecords},
		{&s.countParticipantRecords, false, sqlCountParticipantRecords},
		{&s.selectSession, false, sqlSelectSession},
		{&s.selectSessionSegments, false, sqlSelectSessionSegments},
		{&s.selectParticipants, false, sqlSelectParticipants},
		{&s.selectParticipant, false, sqlSelectParticipant},
		{&s.insertReportRow, true, sqlInsertReportRow},
		{&s.updateReportRow, true, sqlUpdateReportRow},
		{&s.countReportRows, false, sqlCountReportRows},
		{&s.selectReportRows, false, sqlSelectReportRows},
	}
}

func (s *queryStatements) prepare(ctx context.Context, write, read *sql.DB) error {
	return prepareAll(ctx, write, read, s.specs())
}

func (s *queryStatements) close() error { return closeAll(s.specs()) }

// ListRecords returns one page of a tenant's records in list order.
func (db *DB) ListRecords(ctx context.Context, q callvault.RecordQuery) (_ *callvault.RecordPage, err error) {
	args, none, err := q.ListArgs()
	if err != nil {
		return nil, err
	} else if none {
		return &callvault.RecordPage{}, nil
	}
	defer wrap(&err, "sqlite: list records")

	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	stmt := db.queries.selectRecords
	if q.ParticipantID != "" {
		stmt = db.queries.selectParticipantRecords
	}
	rows, err := tx.StmtContext(ctx, stmt).QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	page := &callvault.RecordPage{Records: make([]callvault.RecordHeader, 0, min(q.Limit, 255)+1)}
	var body, organizer sql.RawBytes // of the whole loop, as they escape (see keep)
	for rows.Next() {
		var h callvault.RecordHeader
		var start, end sql.NullInt64
		if err := rows.Scan(&h.ID, &h.Version, &start, &end, &body, &organizer, &h.Sessions, &h.Participants); err != nil {
			return nil, err
		}
		h.Body, h.Organizer = keep(body), keep(organizer)
		h.StartDateTime, h.EndDateTime = fromUnixNano(start), fromUnixNano(end)
		page.Records = append(page.Records, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	page.Cut(q.Limit)
	return page, nil
}

// CountRecords returns how many records the query matches, whatever its
// cursor and page size.
func (db *DB) CountRecords(ctx context.Context, q callvault.RecordQuery) (n int64, err error) {
	args, none, err := q.CountArgs()
	if err != nil || none {
		return 0, err
	}
	defer wrap(&err, "sqlite: count records")

	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()

	stmt := db.queries.countRecords
	if q.ParticipantID != "" {
		stmt = db.queries.countParticipantRecords
	}
	err = tx.StmtContext(ctx, stmt).QueryRowContext(ctx, args...).Scan(&n)
	return n, err
}

// GetSession returns one session of a record, and its segments when asked.
// The session and its segments are read in one transaction.
func (db *DB) GetSession(ctx context.Context, tenant, recordID, sessionID string, segments bool) (_ *callvault.SessionRow, err error) {
	if err := callvault.ValidateSessionKey(tenant, recordID, sessionID); err != nil {
		return nil, err
	}
	defer wrap(&err, "sqlite: get session %s of record %s", sessionID, recordID)

	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var row callvault.SessionRow
	err = tx.StmtContext(ctx, db.queries.selectSession).QueryRowContext(ctx, tenant, recordID, sessionID).Scan(&row.Seq, &row.ID, &row.Body)
	if errors.Is(err, sql.ErrNoRows) {
		// A session row means its record is there; only its absence asks.
		if err := checkRecord(ctx, tx, &db.stmts, tenant, recordID); err != nil {
			return nil, err
		}
		return nil, callvault.Errorf(callvault.ENOTFOUND, "Session %s of call record %s was not found.", sessionID, recordID)
	} else if err != nil {
		return nil, err
	}
	if !segments {
		return &row, nil
	}

	rows, err := tx.StmtContext(ctx, db.queries.selectSessionSegments).QueryContext(ctx, tenant, recordID, row.Seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var body sql.RawBytes // of the whole loop, as it escapes (see keep)
	for rows.Next() {
		var seg callvault.Segment
		if err := rows.Scan(&seg.ID, &body); err != nil {
			return nil, err
		}
		seg.Body = keep(body)
		row.Segments = append(row.Segments, seg)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return &row, nil
}

// ListParticipants returns one page of a record's participants_v2.
func (db *DB) ListParticipants(ctx context.Context, q callvault.ParticipantQuery) (_ *callvault.ParticipantPage, err error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	defer wrap(&err, "sqlite: list participants of record %s", q.RecordID)

	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	fetch := pageFetch(q.Limit)
	rows, err := tx.StmtContext(ctx, db.queries.selectParticipants).QueryContext(ctx, q.Tenant, q.RecordID, q.After, fetch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	page := &callvault.ParticipantPage{Participants: make([]callvault.ParticipantRow, 0, min(fetch, 256))}
	var body sql.RawBytes // of the whole loop, as it escapes (see keep)
	for rows.Next() {
		var row callvault.ParticipantRow
		if err := rows.Scan(&row.Seq, &row.ID, &body); err != nil {
			return nil, err
		}
		row.Body = keep(body)
		page.Participants = append(page.Participants, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(page.Participants) == 0 {
		// An empty page is the end of a record's participants, or no record.
		if err := checkRecord(ctx, tx, &db.stmts, q.Tenant, q.RecordID); err != nil {
			return nil, err
		}
	}
	page.Cut(q.Limit)
	return page, nil
}

// GetParticipant returns one participant of a record.
func (db *DB) GetParticipant(ctx context.Context, tenant, recordID, participantID string) (_ *callvault.ParticipantRow, err error) {
	if err := callvault.ValidateParticipantKey(tenant, recordID, participantID); err != nil {
		return nil, err
	}
	defer wrap(&err, "sqlite: get participant %s of record %s", participantID, recordID)

	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var row callvault.ParticipantRow
	err = tx.StmtContext(ctx, db.queries.selectParticipant).QueryRowContext(ctx, tenant, recordID, participantID).Scan(&row.Seq, &row.ID, &row.Body)
	if errors.Is(err, sql.ErrNoRows) {
		if err := checkRecord(ctx, tx, &db.stmts, tenant, recordID); err != nil {
			return nil, err
		}
		return nil, callvault.Errorf(callvault.ENOTFOUND, "Participant %s of call record %s was not found.", participantID, recordID)
	} else if err != nil {
		return nil, err
	}
	return &row, nil
}

// pageFetch is how many rows to read for a page of limit: one more, to learn
// whether the page is the last.
func pageFetch(limit int) int64 {
	fetch := int64(limit)
	if fetch < math.MaxInt64 {
		fetch++
	}
	return fetch
}
