package postgres

import (
	"context"

	"github.com/callvault/callvault"
)

var _ callvault.SessionPageVisitor = (*DB)(nil)

// VisitSessions reads the page q asks for with ListSessions' statement and
// hands each body and render script to v straight from pgx's read buffer,
// where ListSessions copies the page (about a megabyte with segments) into
// an arena first.
func (db *DB) VisitSessions(ctx context.Context, q callvault.SessionQuery, v callvault.SessionVisitor) (more bool, err error) {
	if err := q.Validate(); err != nil {
		return false, err
	} else if !storable(q.Tenant) || !storable(q.RecordID) {
		return false, notFound(q.RecordID)
	}
	defer wrap(&err, "postgres: list sessions of record %s", q.RecordID)

	var found bool
	err = db.read(ctx, q.Tenant, func(r reader) error {
		var err error
		found, more, err = visitPage(ctx, r, db.sql(), q, v)
		return err
	})
	if err != nil {
		return false, err
	} else if !found {
		return false, notFound(q.RecordID)
	}
	return more, nil
}

// visitPage is VisitSessions on one server. Once v has been given a
// session, an error is a visitedError: the caller has written part of the
// page, and db.read must not read it again from another server.
func visitPage(ctx context.Context, r reader, stmts *statements, q callvault.SessionQuery, v callvault.SessionVisitor) (found, more bool, err error) {
	rows, stamp, kept, err := pageRows(ctx, r, stmts, q)
	if err != nil || rows == nil {
		if kept {
			v.Stamp(stamp)
		}
		return kept, false, err
	}
	defer rows.Close()

	var seq, sub int64
	var id, body, render borrowed
	dest := []any{&seq, &sub, &id, &body, &render}
	sessions := 0
	last := int64(-1) // the seq of the last session visited
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return false, false, visited(sessions, err)
		}
		switch {
		case seq == 0:
			found = true
			v.Stamp(sub) // the record's row carries its stamp, and comes first
		case sub == 0 && sessions == q.Limit:
			more = true // the session after the page: that it exists is all we need
		case sub == 0:
			sessions++
			last = seq
			err = v.Session(seq, body.b, render.script())
		case seq == last:
			err = v.Segment(body.b, render.script())
		}
		// Rows come in (seq, sub) order: a segment follows its session, or
		// belongs to no session of the page.
		if err != nil {
			return false, false, visited(sessions, err)
		}
	}
	return found, more, visited(sessions, rows.Err())
}

// visitedError is an error after a visitor was given sessions: db.read
// does not read the page again on the primary after a replica failed, as
// the visitor would get the page's first sessions twice.
type visitedError struct{ err error }

func (e visitedError) Error() string { return e.err.Error() }
func (e visitedError) Unwrap() error { return e.err }

func visited(sessions int, err error) error {
	if err == nil || sessions == 0 {
		return err
	}
	return visitedError{err}
}

// borrowed is a scan target that keeps the bytes pgx hands it
// (pgtype.BytesScanner) without copying them: in its read buffer, or in
// the text format the bytea it decoded; valid until the next row. nil is
// NULL.
type borrowed struct{ b []byte }

func (s *borrowed) ScanBytes(v []byte) error {
	s.b = v
	return nil
}

// script returns the render scripts, nil when the row has none.
func (s *borrowed) script() []byte {
	if len(s.b) == 0 {
		return nil
	}
	return s.b
}
