package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/callvault/callvault"
)

// SQL of the store, one statement each, prepared once at Open.
const (
	// Writer. A record is found by (tenant, id), and its rows below by its
	// rk (migrations/0003_record_keys.sql).
	sqlSelectVersion = `SELECT rk, version FROM call_records WHERE tenant = ? AND id = ?`
	// rk is left to SQLite: one past the largest, so that the record's rows
	// are appended to the child indexes.
	sqlInsertRecord = `INSERT INTO call_records (tenant, id, version, start_time, end_time, body, organizer, session_count, participant_count, stamp)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlUpdateRecord = `UPDATE call_records
		SET version = ?, start_time = ?, end_time = ?, body = ?, organizer = ?, session_count = ?, participant_count = ?, stamp = ?
		WHERE rk = ?`

	// Children go before their parents so that no ON DELETE CASCADE has
	// anything left to do.
	sqlDeleteSegments     = `DELETE FROM segments WHERE rk = ?`
	sqlDeleteSessions     = `DELETE FROM sessions WHERE rk = ?`
	sqlDeleteParticipants = `DELETE FROM participants WHERE rk = ?`
	sqlInsertSession      = `INSERT INTO sessions (rk, seq, id, body, render) VALUES (?, ?, ?, ?, ?)`
	sqlInsertSegment      = `INSERT INTO segments (rk, session_seq, seq, id, body, render) VALUES (?, ?, ?, ?, ?, ?)`
	// record_start and record_end are NULL on the later rows of an id the
	// record has twice (see migrations/0002_queries.sql).
	sqlInsertParticipant = `INSERT INTO participants (rk, seq, id, body, tenant, record_id, record_start, record_end)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

	// Readers.
	sqlSelectHeader = `SELECT version, start_time, end_time, body, organizer, session_count, participant_count
		FROM call_records WHERE tenant = ? AND id = ?`
	sqlRecordExists = `SELECT 1 FROM call_records WHERE tenant = ? AND id = ?`
	sqlRecordStamp  = `SELECT stamp FROM call_records WHERE tenant = ? AND id = ?`
	// The record by (tenant, id), which confines the read to the tenant,
	// then a keyset range of the sessions' primary key (rk, seq): the cost of
	// a page does not depend on how deep it is. CROSS JOIN keeps the loops in
	// that order; the record is one row, so the range is in seq order.
	// ListSessions runs these on its raw connections (rawread.go), which read
	// the bytes of a TEXT or BLOB body alike.
	sqlSelectSessions = `SELECT s.seq, s.id, s.body, s.render
		FROM call_records AS c CROSS JOIN sessions AS s
		WHERE c.tenant = ? AND c.id = ? AND s.rk = c.rk AND s.seq > ?
		ORDER BY s.seq LIMIT ?`
	// The segments of a page of sessions, whose seqs are consecutive, in one
	// range of the primary key.
	sqlSelectSegments = `SELECT g.session_seq, g.id, g.body, g.render
		FROM call_records AS c CROSS JOIN segments AS g
		WHERE c.tenant = ? AND c.id = ? AND g.rk = c.rk AND g.session_seq BETWEEN ? AND ?
		ORDER BY g.session_seq, g.seq`
)

// statements are the prepared statements of a DB.
type statements struct {
	selectVersion, insertRecord, updateRecord          *sql.Stmt
	deleteSegments, deleteSessions, deleteParticipants *sql.Stmt
	insertSession, insertSegment, insertParticipant    *sql.Stmt
	selectHeader, recordExists                         *sql.Stmt
	insertNotifications, insertQualityStream           *sql.Stmt
	markDirty, insertQualityRecord                     *sql.Stmt
}

// specs lists the statements once, for prepare and close alike.
func (s *statements) specs() []stmtSpec {
	return []stmtSpec{
		{&s.selectVersion, true, sqlSelectVersion},
		{&s.insertRecord, true, sqlInsertRecord},
		{&s.updateRecord, true, sqlUpdateRecord},
		{&s.deleteSegments, true, sqlDeleteSegments},
		{&s.deleteSessions, true, sqlDeleteSessions},
		{&s.deleteParticipants, true, sqlDeleteParticipants},
		{&s.insertSession, true, sqlInsertSession},
		{&s.insertSegment, true, sqlInsertSegment},
		{&s.insertParticipant, true, sqlInsertParticipant},
		{&s.selectHeader, false, sqlSelectHeader},
		{&s.recordExists, false, sqlRecordExists},
		{&s.insertNotifications, true, sqlInsertChange},
		{&s.insertQualityStream, true, sqlInsertQualityStream},
		{&s.markDirty, true, sqlMarkDirty},
		{&s.insertQualityRecord, true, sqlInsertQualityRecord},
	}
}

func (s *statements) prepare(ctx context.Context, write, read *sql.DB) error {
	return prepareAll(ctx, write, read, s.specs())
}

func (s *statements) close() error { return closeAll(s.specs()) }

// PutRecord stores r whole, in one transaction, unless the store has the
// record with a higher version.
func (db *DB) PutRecord(ctx context.Context, r *callvault.Record) (_ callvault.PutOutcome, err error) {
	if err := validateRecord(r); err != nil {
		return 0, err
	}
	defer wrap(&err, "sqlite: put record %s", r.ID)

	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	outcome, err := db.writeRecord(ctx, tx, r)
	if err != nil || outcome == callvault.Stale {
		return outcome, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return outcome, nil
}

// validateRecord refuses a record the store cannot key.
func validateRecord(r *callvault.Record) error {
	if r == nil {
		return callvault.Errorf(callvault.EINVALID, "A call record is required.")
	}
	return callvault.ValidateKey(r.Tenant, r.ID)
}

// writeRecord stores r in tx, replacing the stored record of the same id
// unless that one has a higher version (Stale: nothing is written). PutRecord
// and the batches of PutRecords both store through it.
func (db *DB) writeRecord(ctx context.Context, tx *sql.Tx, r *callvault.Record) (callvault.PutOutcome, error) {
	start, err := callvault.TimeKey(r.StartDateTime)
	if err != nil {
		return 0, err
	}
	end, err := callvault.TimeKey(r.EndDateTime)
	if err != nil {
		return 0, err
	}
	var rk, version int64
	outcome := callvault.Replaced
	switch err := tx.StmtContext(ctx, db.stmts.selectVersion).QueryRowContext(ctx, r.Tenant, r.ID).Scan(&rk, &version); {
	case errors.Is(err, sql.ErrNoRows):
		outcome = callvault.Inserted
	case err != nil:
		return 0, err
	case version > r.Version:
		return callvault.Stale, nil
	}
	stamp := callvault.NewStamp() // migrations/0014_record_stamp.sql
	if outcome == callvault.Inserted {
		rk, err = insertHeader(ctx, tx, &db.stmts, r, start, end, stamp)
	} else {
		err = replaceHeader(ctx, tx, &db.stmts, r, rk, start, end, stamp)
	}
	if err != nil {
		return 0, err
	}
	if err := insertRows(ctx, tx, &db.stmts, r, rk, start, end); err != nil {
		return 0, err
	}
	if err := writeQuality(ctx, tx, &db.stmts, r, rk, outcome == callvault.Replaced); err != nil {
		return 0, err
	}
	if change := recordChange(outcome, version, r.Version); change != 0 {
		if err := notifyChange(ctx, tx, &db.stmts, r.Tenant, r.ID, change); err != nil {
			return 0, err
		}
	}
	return outcome, nil
}

// insertHeader writes the call_records row of r, whose times are already
// converted to columns, with its stamp, and returns its rk.
func insertHeader(ctx context.Context, tx *sql.Tx, s *statements, r *callvault.Record, start, end, stamp int64) (int64, error) {
	res, err := tx.StmtContext(ctx, s.insertRecord).ExecContext(ctx,
		r.Tenant, r.ID, r.Version, start, end, blob(r.Body), r.Organizer, len(r.Sessions), len(r.Participants), stamp)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// replaceHeader overwrites the row of the record whose rk is rk and deletes
// all its rows below, which insertRows then writes anew under the same rk.
func replaceHeader(ctx context.Context, tx *sql.Tx, s *statements, r *callvault.Record, rk, start, end, stamp int64) error {
	if _, err := tx.StmtContext(ctx, s.updateRecord).ExecContext(ctx,
		r.Version, start, end, blob(r.Body), r.Organizer, len(r.Sessions), len(r.Participants), stamp, rk); err != nil {
		return err
	}
	for _, stmt := range []*sql.Stmt{s.deleteSegments, s.deleteSessions, s.deleteParticipants} {
		if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, rk); err != nil {
			return err
		}
	}
	return nil
}

// insertRows writes the sessions, segments and participants of r, whose
// rk is rk, numbering each from 1 in the order r has them. start and end
// are r's times as columns, which the first participant row of each id
// copies.
func insertRows(ctx context.Context, tx *sql.Tx, s *statements, r *callvault.Record, rk, start, end int64) error {
	insertSession := tx.StmtContext(ctx, s.insertSession)
	insertSegment := tx.StmtContext(ctx, s.insertSegment)
	for i, ses := range r.Sessions {
		seq := i + 1
		if _, err := insertSession.ExecContext(ctx, rk, seq, ses.ID, blob(ses.Body), nullBlob(ses.Render)); err != nil {
			return err
		}
		for j, seg := range ses.Segments {
			if _, err := insertSegment.ExecContext(ctx, rk, seq, j+1, seg.ID, blob(seg.Body), nullBlob(seg.Render)); err != nil {
				return err
			}
		}
	}
	insertParticipant := tx.StmtContext(ctx, s.insertParticipant)
	var seen map[string]bool // participant ids already written; only for records with two or more
	if len(r.Participants) > 1 {
		seen = make(map[string]bool, len(r.Participants))
	}
	for i, p := range r.Participants {
		recordStart, recordEnd := sql.NullInt64{Int64: start, Valid: true}, sql.NullInt64{Int64: end, Valid: true}
		if seen[p.ID] {
			recordStart, recordEnd = sql.NullInt64{}, sql.NullInt64{}
		} else if seen != nil {
			seen[p.ID] = true
		}
		if _, err := insertParticipant.ExecContext(ctx, rk, i+1, p.ID, blob(p.Body), r.Tenant, r.ID, recordStart, recordEnd); err != nil {
			return err
		}
	}
	return nil
}

// GetRecord returns the header of a record.
func (db *DB) GetRecord(ctx context.Context, tenant, id string) (_ *callvault.RecordHeader, err error) {
	if err := callvault.ValidateKey(tenant, id); err != nil {
		return nil, err
	}
	defer wrap(&err, "sqlite: get record %s", id)

	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findHeader(ctx, tx, &db.stmts, tenant, id)
}

func findHeader(ctx context.Context, tx *sql.Tx, s *statements, tenant, id string) (*callvault.RecordHeader, error) {
	h := callvault.RecordHeader{ID: id}
	var start, end sql.NullInt64
	err := tx.StmtContext(ctx, s.selectHeader).QueryRowContext(ctx, tenant, id).
		Scan(&h.Version, &start, &end, &h.Body, &h.Organizer, &h.Sessions, &h.Participants)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(id)
	} else if err != nil {
		return nil, err
	}
	h.StartDateTime, h.EndDateTime = fromUnixNano(start), fromUnixNano(end)
	return &h, nil
}

// ListSessions returns one page of a record's sessions. The record check,
// the sessions and their segments are read in one transaction, so the page
// is one version of the record even while it is being replaced. It reads on
// a raw connection (rawread.go), copying every body and render script into
// q.Arena.
func (db *DB) ListSessions(ctx context.Context, q callvault.SessionQuery) (page *callvault.SessionPage, err error) {
	err = db.readSessions(ctx, q, func(c *rawConn) error {
		page, err = c.listSessions(ctx, &q)
		return err
	})
	return page, err
}

// VisitSessions reads the page ListSessions reads, in one read transaction
// too, and hands v each session, then each of its segments, without
// copying them: the bytes v gets are SQLite's, valid only during the call.
// It returns whether sessions follow the page.
func (db *DB) VisitSessions(ctx context.Context, q callvault.SessionQuery, v callvault.SessionVisitor) (more bool, err error) {
	err = db.readSessions(ctx, q, func(c *rawConn) error {
		more, err = c.visitSessions(ctx, &q, v)
		return err
	})
	return more, err
}

// readSessions checks q and runs read on a raw connection checked out for it.
func (db *DB) readSessions(ctx context.Context, q callvault.SessionQuery, read func(*rawConn) error) (err error) {
	if err := q.Validate(); err != nil {
		return err
	}
	defer wrap(&err, "sqlite: list sessions of record %s", q.RecordID)
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := db.raw.get(ctx)
	if err != nil {
		return err
	}
	defer db.raw.put(c)
	return read(c)
}

// checkRecord returns an ENOTFOUND error unless the tenant has the record.
func checkRecord(ctx context.Context, tx *sql.Tx, s *statements, tenant, id string) error {
	var one int
	err := tx.StmtContext(ctx, s.recordExists).QueryRowContext(ctx, tenant, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(id)
	}
	return err
}

// keep returns a BLOB column scanned into raw as a slice the caller may
// keep, without copying it. database/sql would copy a []byte destination out
// of the driver's value; but this driver (modernc.org/sqlite) already hands
// each BLOB value out in a slice it allocates for that row and never reuses
// or writes again, and database/sql passes that slice to a RawBytes as it
// is. The columns read this way are CAST(… AS BLOB), so the value is a BLOB
// even where a row holds TEXT (a TEXT value would come through database/sql's
// own buffer, which the next row reuses). TestKeepOwnsBlobs holds the driver
// to this. Measured against a copy when ListSessions read this way
// (BenchmarkStoreRows, a page of 60 sessions with segments): a third less of
// the store's CPU time and half its bytes allocated.
//
// The RawBytes is a variable of the whole loop of rows: Scan's arguments
// escape, and a variable of each iteration would be allocated for each row.
func keep(raw sql.RawBytes) []byte { return []byte(raw) }

func notFound(id string) error {
	return callvault.Errorf(callvault.ENOTFOUND, "Call record %s was not found.", id)
}

// fromUnixNano is callvault.KeyTime of a column that may be NULL, which
// the first schema wrote for the zero time.
func fromUnixNano(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return callvault.KeyTime(n.Int64)
}

// blob turns a nil body into an empty one: the body columns are NOT NULL,
// and the driver binds a nil slice as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullBlob stores an empty b as NULL: a row without render scripts.
func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
