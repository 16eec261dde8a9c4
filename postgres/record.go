package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/callvault/callvault"
	"github.com/jackc/pgx/v5"
)

// SQL of the writer.
const (
	// A new record is inserted; an existing one is left to sqlUpdateRecord.
	// A record's stamp (migrations/0010_record_stamp.sql), for a page the
	// caller holds (callvault.SessionQuery.Known).
	sqlSelectStamp  = `SELECT stamp FROM call_records WHERE tenant = $1 AND id = $2`
	sqlInsertRecord = `INSERT INTO call_records
		(tenant, id, version, start_time, end_time, body, organizer, session_count, participant_count, stamp)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (tenant, id) DO NOTHING`
	// The version test and the write are one statement: under READ
	// COMMITTED a concurrent writer's commit is waited for and the test made
	// again on what it wrote, so the highest version always wins.
	// It returns the version it replaced, which says whether the change is
	// an update to notify (a higher version) or the same version again: the
	// CTE locks the row first, so the version it reads is the one replaced.
	sqlUpdateRecord = `WITH old AS (SELECT version FROM call_records WHERE tenant = $1 AND id = $2 FOR UPDATE)
		UPDATE call_records
		SET version = $3, start_time = $4, end_time = $5, body = $6, organizer = $7, session_count = $8, participant_count = $9,
			stamp = $10
		FROM old
		WHERE call_records.tenant = $1 AND call_records.id = $2 AND call_records.version <= $3
		RETURNING old.version`
	// The rows below a record, which PutRecord rewrites whole. There are no
	// foreign keys to cascade (see migrations/0001_init.sql).
	sqlDeleteSegments     = `DELETE FROM segments WHERE tenant = $1 AND record_id = $2`
	sqlDeleteSessions     = `DELETE FROM sessions WHERE tenant = $1 AND record_id = $2`
	sqlDeleteParticipants = `DELETE FROM participants WHERE tenant = $1 AND record_id = $2`
	// Rows go in as arrays, many to a statement: far fewer round trips and
	// statements than a row each, and, unlike COPY, plain SQL that every
	// Postgres-wire engine runs inside a transaction.
	// render is NULL where a row has no render scripts.
	sqlInsertSessions = `INSERT INTO sessions (tenant, record_id, seq, id, body, render)
		SELECT $1::TEXT, $2::TEXT, u.seq, u.id, u.body, u.render
		FROM unnest($3::BIGINT[], $4::TEXT[], $5::BYTEA[], $6::BYTEA[]) AS u (seq, id, body, render)`
	sqlInsertSegments = `INSERT INTO segments (tenant, record_id, session_seq, seq, id, body, render)
		SELECT $1::TEXT, $2::TEXT, u.session_seq, u.seq, u.id, u.body, u.render
		FROM unnest($3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::BYTEA[], $7::BYTEA[]) AS u (session_seq, seq, id, body, render)`
	// record_start and record_end are NULL on the later rows of an id the
	// record has twice (see migrations/0001_init.sql).
	sqlInsertParticipants = `INSERT INTO participants (tenant, record_id, seq, id, body, record_start, record_end)
		SELECT $1::TEXT, $2::TEXT, u.seq, u.id, u.body, u.record_start, u.record_end
		FROM unnest($3::BIGINT[], $4::TEXT[], $5::BYTEA[], $6::BIGINT[], $7::BIGINT[]) AS u (seq, id, body, record_start, record_end)`
)

// PutRecord stores r whole, in one transaction, unless the store has the
// record with a higher version.
func (db *DB) PutRecord(ctx context.Context, r *callvault.Record) (_ callvault.PutOutcome, err error) {
	p, err := preparePut(r)
	if err != nil {
		return 0, err
	}
	defer wrap(&err, "postgres: put record %s", r.ID)
	if db.parts.on {
		if err := db.ensurePartitions(ctx, "", p.start); err != nil {
			return 0, err
		}
	}
	var outcome callvault.PutOutcome
	err = db.inTx(ctx, func(tx pgx.Tx) (err error) {
		outcome, err = p.put(ctx, tx, db.parts.on)
		return err
	})
	if err != nil {
		return 0, err
	}
	db.replicas.wrote(r.Tenant)
	return outcome, nil
}

// recordPut is a checked record, ready to be written.
type recordPut struct {
	r          *callvault.Record
	start, end int64 // the record's times as columns
	header     []any // the arguments of sqlInsertRecord and sqlUpdateRecord
}

// preparePut checks r and converts what it needs to columns.
func preparePut(r *callvault.Record) (*recordPut, error) {
	if r == nil {
		return nil, callvault.Errorf(callvault.EINVALID, "A call record is required.")
	} else if err := callvault.ValidateKey(r.Tenant, r.ID); err != nil {
		return nil, err
	} else if err := validateRows(r); err != nil {
		return nil, err
	}
	start, err := callvault.TimeKey(r.StartDateTime)
	if err != nil {
		return nil, err
	}
	end, err := callvault.TimeKey(r.EndDateTime)
	if err != nil {
		return nil, err
	}
	return &recordPut{
		r: r, start: start, end: end,
		header: []any{r.Tenant, r.ID, r.Version, start, end, blob(r.Body), r.Organizer, len(r.Sessions), len(r.Participants),
			callvault.NewStamp()}, // migrations/0010_record_stamp.sql
	}, nil
}

// put writes the record in tx, unless tx holds it with a higher version.
func (p *recordPut) put(ctx context.Context, tx pgx.Tx, partitioned bool) (callvault.PutOutcome, error) {
	if partitioned {
		return p.putPartitioned(ctx, tx)
	}
	tag, err := tx.Exec(ctx, sqlInsertRecord, p.header...)
	if err != nil {
		return 0, err
	}
	outcome, change := callvault.Inserted, callvault.ChangeCreated
	s := newSender(ctx, tx)
	if tag.RowsAffected() == 0 {
		var stored int64
		if err := tx.QueryRow(ctx, sqlUpdateRecord, p.header...).Scan(&stored); errors.Is(err, pgx.ErrNoRows) {
			return callvault.Stale, nil
		} else if err != nil {
			return 0, err
		}
		outcome, change = callvault.Replaced, 0
		if p.r.Version > stored {
			change = callvault.ChangeUpdated
		}
		for _, sql := range []string{sqlDeleteSegments, sqlDeleteSessions, sqlDeleteParticipants} {
			s.queue(0, sql, p.r.Tenant, p.r.ID)
		}
	}
	queueRows(s, &plainSQL, p.r, p.start, p.end)
	queueQuality(s, p.r, outcome == callvault.Replaced)
	if change != 0 {
		queueNotifications(s, p.r.Tenant, p.r.ID, change)
	}
	// One round trip for all the rows of an ordinary record (sender).
	if err := s.flush(); err != nil {
		return 0, err
	}
	return outcome, nil
}

// A statement inserting rows carries at most this many, or about this many
// bytes of bodies: enough to make a statement's overhead small, few enough
// to stay well within any engine's limits on one statement.
const (
	chunkRows  = 2000
	chunkBytes = 4 << 20
)

// chunk counts the rows of one array insert.
type chunk struct {
	rows, bytes int
}

// add counts a row of these blobs and reports whether the chunk is full.
func (c *chunk) add(blobs ...[]byte) (full bool) {
	c.rows++
	for _, b := range blobs {
		c.bytes += len(b)
	}
	return c.rows >= chunkRows || c.bytes >= chunkBytes
}

// queueRows queues the inserts of the sessions, segments and participants
// of r, numbering each from 1 in the order r has them. start and end are
// r's times as columns, which the first participant row of each id copies.
//
// On the partitioned tables (stmts is &partitionedSQL) each insert takes
// start as its last argument too.
func queueRows(s *sender, stmts *statements, r *callvault.Record, start, end int64) {
	var extra []any
	if stmts == &partitionedSQL {
		extra = []any{start}
	}
	var (
		c       chunk
		seqs    []int64
		ids     []string
		bodies  [][]byte
		renders [][]byte // nil elements are NULL
	)
	for i, ses := range r.Sessions {
		seqs, ids, bodies = append(seqs, int64(i+1)), append(ids, ses.ID), append(bodies, blob(ses.Body))
		renders = append(renders, nullable(ses.Render))
		if c.add(ses.Body, ses.Render) || i == len(r.Sessions)-1 {
			s.queue(c.bytes, stmts.insertSessions, append([]any{r.Tenant, r.ID, seqs, ids, bodies, renders}, extra...)...)
			c, seqs, ids, bodies, renders = chunk{}, nil, nil, nil, nil
		}
	}

	var sessionSeqs []int64
	for i, ses := range r.Sessions {
		for j, seg := range ses.Segments {
			sessionSeqs, seqs = append(sessionSeqs, int64(i+1)), append(seqs, int64(j+1))
			ids, bodies, renders = append(ids, seg.ID), append(bodies, blob(seg.Body)), append(renders, nullable(seg.Render))
			if c.add(seg.Body, seg.Render) {
				s.queue(c.bytes, stmts.insertSegments, append([]any{r.Tenant, r.ID, sessionSeqs, seqs, ids, bodies, renders}, extra...)...)
				c, sessionSeqs, seqs, ids, bodies, renders = chunk{}, nil, nil, nil, nil, nil
			}
		}
	}
	if len(seqs) > 0 {
		s.queue(c.bytes, stmts.insertSegments, append([]any{r.Tenant, r.ID, sessionSeqs, seqs, ids, bodies, renders}, extra...)...)
		c, seqs, ids, bodies = chunk{}, nil, nil, nil
	}

	var starts, ends []*int64 // NULL but on the first row of each id
	seen := make(map[string]bool, len(r.Participants))
	for i, p := range r.Participants {
		seqs, ids, bodies = append(seqs, int64(i+1)), append(ids, p.ID), append(bodies, blob(p.Body))
		if seen[p.ID] {
			starts, ends = append(starts, nil), append(ends, nil)
		} else {
			starts, ends = append(starts, &start), append(ends, &end)
			seen[p.ID] = true
		}
		if c.add(p.Body) || i == len(r.Participants)-1 {
			s.queue(c.bytes, stmts.insertParticipants, append([]any{r.Tenant, r.ID, seqs, ids, bodies, starts, ends}, extra...)...)
			c, seqs, ids, bodies, starts, ends = chunk{}, nil, nil, nil, nil, nil
		}
	}
}

// GetRecord returns the header of a record.
func (db *DB) GetRecord(ctx context.Context, tenant, id string) (_ *callvault.RecordHeader, err error) {
	if err := callvault.ValidateKey(tenant, id); err != nil {
		return nil, err
	} else if !storable(tenant) || !storable(id) {
		return nil, notFound(id)
	}
	defer wrap(&err, "postgres: get record %s", id)

	h := callvault.RecordHeader{ID: id}
	var start, end int64
	err = db.read(ctx, tenant, func(q reader) error {
		return q.QueryRow(ctx, sqlSelectHeader, tenant, id).
			Scan(&h.Version, &start, &end, &h.Body, &h.Organizer, &h.Sessions, &h.Participants)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(id)
	} else if err != nil {
		return nil, err
	}
	h.StartDateTime, h.EndDateTime = callvault.KeyTime(start), callvault.KeyTime(end)
	return &h, nil
}

// ListSessions returns one page of a record's sessions, and their segments
// when asked, with their render scripts, in one statement. The page's bodies
// and scripts are copied into q.Arena, or into an arena of its own when the
// caller has none, which the page returns (see scan.go).
func (db *DB) ListSessions(ctx context.Context, q callvault.SessionQuery) (_ *callvault.SessionPage, err error) {
	if err := q.Validate(); err != nil {
		return nil, err
	} else if !storable(q.Tenant) || !storable(q.RecordID) {
		return nil, notFound(q.RecordID)
	}
	defer wrap(&err, "postgres: list sessions of record %s", q.RecordID)

	sc := getSessionScan(nil)
	defer putSessionScan(sc)
	var found, more, unchanged bool
	err = db.read(ctx, q.Tenant, func(r reader) error {
		rows, stamp, kept, err := pageRows(ctx, r, db.sql(), q)
		if err != nil || rows == nil {
			found, unchanged, sc.stamp = kept, kept, stamp
			return err
		}
		// Room for the page only now that it is read: the size of the last
		// page is a megabyte with segments, which a kept page's check of one
		// row once allocated and zeroed on every request.
		sc.reset(db.reserve(q.Arena))
		found, more, err = sc.scan(rows, q.Limit)
		return err
	})
	if err != nil {
		return nil, err
	} else if !found {
		return nil, notFound(q.RecordID)
	}
	if unchanged {
		return &callvault.SessionPage{Stamp: sc.stamp, Unchanged: true}, nil
	}
	db.lastPage.Store(int64(min(len(sc.arena)-len(q.Arena), maxPageHint)))
	return &callvault.SessionPage{Sessions: sc.sessions(), More: more, Arena: sc.arena, Stamp: sc.stamp}, nil
}

// pageRows runs on r the statement of the page q asks for. When the caller
// holds the page of stamp q.Known, one row first tells whether it stands:
// then rows is nil, and kept is true when it does (stamp is the record's)
// and false when the tenant has no such record.
func pageRows(ctx context.Context, r reader, stmts *statements, q callvault.SessionQuery) (rows pgx.Rows, stamp int64, kept bool, err error) {
	if q.Known != 0 {
		switch err := r.QueryRow(ctx, sqlSelectStamp, q.Tenant, q.RecordID).Scan(&stamp); {
		case errors.Is(err, pgx.ErrNoRows):
			return nil, 0, false, nil
		case err != nil:
			return nil, 0, false, err
		case stamp == q.Known:
			return nil, stamp, true, nil
		}
	}
	fetch := addCapped(int64(q.Limit), 1) // one more session than the page, to learn whether it is the last
	if q.Segments {
		rows, err = r.Query(ctx, stmts.selectSessionsAndSegments, q.Tenant, q.RecordID, q.After, fetch, addCapped(q.After, int64(q.Limit)))
	} else {
		rows, err = r.Query(ctx, stmts.selectSessions, q.Tenant, q.RecordID, q.After, fetch)
	}
	return rows, 0, false, err
}

// storable reports whether s fits a TEXT column: PostgreSQL's text is UTF-8
// and cannot hold NUL. Nothing that is not storable is stored, so a read
// for it finds nothing, and a write of it is refused.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// validateRows checks that every id of r is storable.
func validateRows(r *callvault.Record) error {
	bad := func(what string) error {
		return callvault.Errorf(callvault.EINVALID, "The %s of call record %q is not UTF-8 without NUL characters, which the PostgreSQL store requires.", what, r.ID)
	}
	if !storable(r.Tenant) {
		return bad("tenant")
	} else if !storable(r.ID) {
		return bad("id")
	}
	for i, s := range r.Sessions {
		if !storable(s.ID) {
			return bad(fmt.Sprintf("session %d's id", i+1))
		}
		for j, g := range s.Segments {
			if !storable(g.ID) {
				return bad(fmt.Sprintf("session %d's segment %d's id", i+1, j+1))
			}
		}
	}
	for i, p := range r.Participants {
		if !storable(p.ID) {
			return bad(fmt.Sprintf("participant %d's id", i+1))
		}
	}
	return nil
}

func notFound(id string) error {
	return callvault.Errorf(callvault.ENOTFOUND, "Call record %s was not found.", id)
}

// addCapped returns a+b for b ≥ 0, or the largest int64 if that overflows.
func addCapped(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// blob turns a nil body into an empty one: the body columns are NOT NULL,
// and pgx sends a nil slice as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullable turns empty render scripts into nil, which pgx sends as NULL:
// a row without scripts.
func nullable(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
