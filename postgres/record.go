package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callvault/callvault"
	"github.com/jackc/pgx/v5"
)

// SQL of the writer.
const (
	// A new record is inserted; an existing one is left to sqlUpdateRecord.
	sqlInsertRecord = `INSERT INTO call_records
		(tenant, id, version, start_time, end_time, body, organizer, session_count, participant_count)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (tenant, id) DO NOTHING`
	// The version test and the write are one statement: under READ
	// COMMITTED a concurrent writer's commit is waited for and the test made
	// again on what it wrote, so the highest version always wins.
	// It returns the version it replaced, which says whether the change is
	// an update to notify (a higher version) or the same version again: the
	// CTE locks the row first, so the version it reads is the one replaced.
	sqlUpdateRecord = `WITH old AS (SELECT version FROM call_records WHERE tenant = $1 AND id = $2 FOR UPDATE)
		UPDATE call_records
		SET version = $3, start_time = $4, end_time = $5, body = $6, organizer = $7, session_count = $8, participant_count = $9
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

	// New report rows are inserted and counted; the rest replace the stored
	// rows, where they differ.
	sqlInsertReportRows = `INSERT INTO report_rows (tenant, kind, row_key, row_time, body)
		SELECT $1::TEXT, $2::TEXT, u.row_key, u.row_time, u.body
		FROM unnest($3::TEXT[], $4::BIGINT[], $5::BYTEA[]) AS u (row_key, row_time, body)
		ON CONFLICT (tenant, kind, row_key) DO NOTHING`
	sqlUpdateReportRows = `UPDATE report_rows AS r SET row_time = u.row_time, body = u.body
		FROM unnest($3::TEXT[], $4::BIGINT[], $5::BYTEA[]) AS u (row_key, row_time, body)
		WHERE r.tenant = $1 AND r.kind = $2 AND r.row_key = u.row_key
		AND (r.row_time <> u.row_time OR r.body <> u.body)`
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
		WHERE tenant = $1 AND (start_time, id) > ($2, $3) AND start_time <= $4 AND end_time >= $5
		ORDER BY start_time, id LIMIT $6`
	sqlCountRecords = `SELECT count(*) FROM call_records
		WHERE tenant = $1 AND start_time BETWEEN $2 AND $3 AND end_time >= $4`
	// A range of the partial index participants_by_id, which holds each
	// record of a participant once, then each record by its primary key.
	sqlSelectParticipantRecords = `SELECT c.id, c.version, c.start_time, c.end_time, c.body, c.organizer, c.session_count, c.participant_count
		FROM participants AS p JOIN call_records AS c ON c.tenant = p.tenant AND c.id = p.record_id
		WHERE p.tenant = $1 AND p.id = $2 AND p.record_start IS NOT NULL
			AND (p.record_start, p.record_id) > ($3, $4) AND p.record_start <= $5 AND p.record_end >= $6
		ORDER BY p.record_start, p.record_id LIMIT $7`
	sqlCountParticipantRecords = `SELECT count(*) FROM participants
		WHERE tenant = $1 AND id = $2 AND record_start IS NOT NULL
			AND record_start BETWEEN $3 AND $4 AND record_end >= $5`

	// The record's marker (0, 0), then each session (seq, 0) followed by its
	// segments (session_seq, seq ≥ 1), each with its body and render scripts.
	// The sessions are a keyset range on the primary key, so a page costs the
	// same at any depth; the segments of the page, whose sessions have
	// consecutive seqs, are one range of theirs.
	sqlSelectSessions = `SELECT 0::BIGINT, 0::BIGINT, ''::TEXT, ''::BYTEA, NULL::BYTEA
		FROM call_records WHERE tenant = $1 AND id = $2
		UNION ALL
		(SELECT seq, 0, id, body, render FROM sessions
			WHERE tenant = $1 AND record_id = $2 AND seq > $3
			ORDER BY seq LIMIT $4)
		ORDER BY 1, 2`
	sqlSelectSessionsAndSegments = `SELECT 0::BIGINT, 0::BIGINT, ''::TEXT, ''::BYTEA, NULL::BYTEA
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

// PutRecords stores many records in one transaction, as PutRecord would
// each: one commit, and its flush to disk, for the whole batch instead of
// one a record, which is what makes a bulk import fast (ingest.BatchStore).
//
// errs[i] says why records[i] was refused: every record is checked before
// the transaction begins, and what PostgreSQL could refuse of a record (a
// key it cannot hold, a time out of range) is checked there, so a refused
// record writes nothing and the others go on. err is a failure of the whole
// batch, of which nothing is then stored.
func (db *DB) PutRecords(ctx context.Context, records []*callvault.Record) (outcomes []callvault.PutOutcome, errs []error, err error) {
	if len(records) == 0 {
		return nil, nil, nil
	}
	puts := make([]*recordPut, len(records))
	errs = make([]error, len(records))
	for i, r := range records {
		puts[i], errs[i] = preparePut(r)
	}
	defer wrap(&err, "postgres: put %d records", len(records))
	if db.parts.on {
		for _, p := range puts {
			if p == nil {
				continue
			}
			if err := db.ensurePartitions(ctx, "", p.start); err != nil {
				return nil, nil, err
			}
		}
	}
	outcomes = make([]callvault.PutOutcome, len(records))
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		clear(outcomes)
		for i, p := range puts {
			if p == nil {
				continue
			}
			o, err := p.put(ctx, tx, db.parts.on)
			if err != nil {
				return fmt.Errorf("record %s: %w", p.r.ID, err)
			}
			outcomes[i] = o
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range puts {
		if p != nil {
			db.replicas.wrote(p.r.Tenant)
		}
	}
	return outcomes, errs, nil
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
	} else if err := validateKey(r.Tenant, r.ID); err != nil {
		return nil, err
	} else if err := validateRows(r); err != nil {
		return nil, err
	}
	start, err := timeKey(r.StartDateTime)
	if err != nil {
		return nil, err
	}
	end, err := timeKey(r.EndDateTime)
	if err != nil {
		return nil, err
	}
	return &recordPut{
		r: r, start: start, end: end,
		header: []any{r.Tenant, r.ID, r.Version, start, end, blob(r.Body), r.Organizer, len(r.Sessions), len(r.Participants)},
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
	b := &pgx.Batch{}
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
			b.Queue(sql, p.r.Tenant, p.r.ID)
		}
	}
	queueRows(b, &plainSQL, p.r, p.start, p.end)
	queueQuality(b, p.r, outcome == callvault.Replaced)
	if change != 0 {
		queueNotifications(b, p.r.Tenant, p.r.ID, change)
	}
	if b.Len() > 0 {
		// One round trip for all the rows.
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return 0, err
		}
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
func queueRows(b *pgx.Batch, stmts *statements, r *callvault.Record, start, end int64) {
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
			b.Queue(stmts.insertSessions, append([]any{r.Tenant, r.ID, seqs, ids, bodies, renders}, extra...)...)
			c, seqs, ids, bodies, renders = chunk{}, nil, nil, nil, nil
		}
	}

	var sessionSeqs []int64
	for i, ses := range r.Sessions {
		for j, seg := range ses.Segments {
			sessionSeqs, seqs = append(sessionSeqs, int64(i+1)), append(seqs, int64(j+1))
			ids, bodies, renders = append(ids, seg.ID), append(bodies, blob(seg.Body)), append(renders, nullable(seg.Render))
			if c.add(seg.Body, seg.Render) {
				b.Queue(stmts.insertSegments, append([]any{r.Tenant, r.ID, sessionSeqs, seqs, ids, bodies, renders}, extra...)...)
				c, sessionSeqs, seqs, ids, bodies, renders = chunk{}, nil, nil, nil, nil, nil
			}
		}
	}
	if len(seqs) > 0 {
		b.Queue(stmts.insertSegments, append([]any{r.Tenant, r.ID, sessionSeqs, seqs, ids, bodies, renders}, extra...)...)
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
			b.Queue(stmts.insertParticipants, append([]any{r.Tenant, r.ID, seqs, ids, bodies, starts, ends}, extra...)...)
			c, seqs, ids, bodies, starts, ends = chunk{}, nil, nil, nil, nil, nil
		}
	}
}

// GetRecord returns the header of a record.
func (db *DB) GetRecord(ctx context.Context, tenant, id string) (_ *callvault.RecordHeader, err error) {
	if err := validateKey(tenant, id); err != nil {
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
	h.StartDateTime, h.EndDateTime = keyTime(start), keyTime(end)
	return &h, nil
}

// ListSessions returns one page of a record's sessions, and their segments
// when asked, with their render scripts, in one statement. The page's bodies
// and scripts are copied into q.Arena, or into an arena of its own when the
// caller has none, which the page returns (see scan.go).
func (db *DB) ListSessions(ctx context.Context, q callvault.SessionQuery) (_ *callvault.SessionPage, err error) {
	if err := validateKey(q.Tenant, q.RecordID); err != nil {
		return nil, err
	} else if err := callvault.CheckPage(q.Limit, q.After); err != nil {
		return nil, err
	} else if !storable(q.Tenant) || !storable(q.RecordID) {
		return nil, notFound(q.RecordID)
	}
	defer wrap(&err, "postgres: list sessions of record %s", q.RecordID)

	// One more session than the page, to learn whether it is the last.
	fetch := addCapped(int64(q.Limit), 1)
	sc := getSessionScan(nil)
	defer putSessionScan(sc)
	var found, more bool
	err = db.read(ctx, q.Tenant, func(r reader) error {
		sc.reset(db.reserve(q.Arena))
		var rows pgx.Rows
		var err error
		if q.Segments {
			rows, err = r.Query(ctx, db.sql().selectSessionsAndSegments, q.Tenant, q.RecordID, q.After, fetch, addCapped(q.After, int64(q.Limit)))
		} else {
			rows, err = r.Query(ctx, db.sql().selectSessions, q.Tenant, q.RecordID, q.After, fetch)
		}
		if err != nil {
			return err
		}
		found, more, err = sc.scan(rows, q.Limit)
		return err
	})
	if err != nil {
		return nil, err
	} else if !found {
		return nil, notFound(q.RecordID)
	}
	db.lastPage.Store(int64(min(len(sc.arena)-len(q.Arena), maxPageHint)))
	return &callvault.SessionPage{Sessions: sc.sessions(), More: more, Arena: sc.arena}, nil
}

// GetSession returns one session of a record, with its segments when asked.
func (db *DB) GetSession(ctx context.Context, tenant, recordID, sessionID string, segments bool) (_ *callvault.SessionRow, err error) {
	if err := validateKey(tenant, recordID); err != nil {
		return nil, err
	} else if sessionID == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A session id is required.")
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
	if err := validateKey(q.Tenant, q.RecordID); err != nil {
		return nil, err
	} else if err := callvault.CheckPage(q.Limit, q.After); err != nil {
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
	if len(page.Participants) > q.Limit {
		page.Participants, page.More = page.Participants[:q.Limit], true
	}
	return page, nil
}

// GetParticipant returns one participant of a record.
func (db *DB) GetParticipant(ctx context.Context, tenant, recordID, participantID string) (_ *callvault.ParticipantRow, err error) {
	if err := validateKey(tenant, recordID); err != nil {
		return nil, err
	} else if participantID == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A participant id is required.")
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
	if q.Tenant == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	} else if q.Limit < 1 {
		return nil, callvault.Errorf(callvault.EINVALID, "The page size must be 1 or more.")
	}
	r := newRecordRange(&q)
	// The page starts after the cursor or at the range's start, whichever is
	// later.
	afterStart, afterID := r.lo, ""
	if q.After != nil {
		if q.After.ID == "" {
			return nil, callvault.Errorf(callvault.EINVALID, "The cursor must name a call record.")
		}
		start, err := timeKey(q.After.StartDateTime)
		if err != nil {
			return nil, err
		}
		if start >= r.lo {
			afterStart, afterID = start, q.After.ID
		}
	}
	if r.empty || !storable(q.Tenant) || !storable(q.ParticipantID) {
		return &callvault.RecordPage{}, nil
	}
	defer wrap(&err, "postgres: list records")

	fetch := addCapped(int64(q.Limit), 1)
	page := &callvault.RecordPage{Records: make([]callvault.RecordHeader, 0, min(fetch, 256))}
	err = db.read(ctx, q.Tenant, func(rd reader) error {
		page.Records = page.Records[:0]
		var rows pgx.Rows
		var err error
		if q.ParticipantID == "" {
			rows, err = rd.Query(ctx, db.sql().selectRecords, q.Tenant, afterStart, afterID, r.hi, r.notBefore, fetch)
		} else {
			rows, err = rd.Query(ctx, db.sql().selectParticipantRecords, q.Tenant, q.ParticipantID, afterStart, afterID, r.hi, r.notBefore, fetch)
		}
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
			h.StartDateTime, h.EndDateTime = keyTime(start), keyTime(end)
			page.Records = append(page.Records, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if len(page.Records) > q.Limit {
		page.Records, page.More = page.Records[:q.Limit], true
	}
	return page, nil
}

// CountRecords returns how many records the query matches, whatever its
// cursor and page size.
func (db *DB) CountRecords(ctx context.Context, q callvault.RecordQuery) (_ int64, err error) {
	if q.Tenant == "" {
		return 0, callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	}
	r := newRecordRange(&q)
	if r.empty || !storable(q.Tenant) || !storable(q.ParticipantID) {
		return 0, nil
	}
	defer wrap(&err, "postgres: count records")

	var n int64
	err = db.read(ctx, q.Tenant, func(rd reader) error {
		if q.ParticipantID == "" {
			return rd.QueryRow(ctx, db.sql().countRecords, q.Tenant, r.lo, r.hi, r.notBefore).Scan(&n)
		}
		return rd.QueryRow(ctx, db.sql().countParticipantRecords, q.Tenant, q.ParticipantID, r.lo, r.hi, r.notBefore).Scan(&n)
	})
	return n, err
}

// recordRange is a RecordQuery as column values: start_time in [lo, hi],
// end_time at or after notBefore.
type recordRange struct {
	lo, hi, notBefore int64
	empty             bool // no time the columns hold matches
}

func newRecordRange(q *callvault.RecordQuery) recordRange {
	var r recordRange
	var ok bool
	r.lo, r.hi, ok = keyRange(q.Start)
	r.notBefore = zeroKey
	if ok && !q.NotBefore.IsZero() {
		// Retention: a record is kept unless it ended before NotBefore.
		r.notBefore, _, ok = keyRange(callvault.TimeRange{From: q.NotBefore, FromInclusive: true})
	}
	r.empty = !ok
	return r
}

// PutReportRows stores report rows of one kind in one transaction, each
// replacing a stored row with the same key, and returns how many were new.
// Of rows with the same key, the last wins.
func (db *DB) PutReportRows(ctx context.Context, tenant, kind string, rows []callvault.ReportRow) (_ int, err error) {
	if tenant == "" {
		return 0, callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	} else if kind == "" {
		return 0, callvault.Errorf(callvault.EINVALID, "A report row kind is required.")
	} else if !storable(tenant) || !storable(kind) {
		return 0, callvault.Errorf(callvault.EINVALID, "A tenant and a report row kind must be UTF-8 without NUL characters.")
	}
	last := make(map[string]int, len(rows))
	for i, r := range rows {
		if r.Key == "" {
			return 0, callvault.Errorf(callvault.EINVALID, "Report row %d has no key.", i+1)
		} else if !storable(r.Key) {
			return 0, callvault.Errorf(callvault.EINVALID, "The key of report row %d is not UTF-8 without NUL characters.", i+1)
		} else if _, err := timeKey(r.Time); err != nil {
			return 0, err
		}
		last[r.Key] = i
	}
	if len(last) == 0 {
		return 0, nil
	}
	// In key order, so that concurrent puts lock rows in the same order and
	// never deadlock.
	keys := make([]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	defer wrap(&err, "postgres: put %s report rows", kind)

	var added int
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		added = 0
		for start := 0; start < len(keys); {
			var c chunk
			var times []int64
			var bodies [][]byte
			end := start
			for end < len(keys) {
				r := rows[last[keys[end]]]
				k, _ := timeKey(r.Time)
				times, bodies = append(times, k), append(bodies, blob(r.Body))
				end++
				if c.add(r.Body) {
					break
				}
			}
			tag, err := tx.Exec(ctx, sqlInsertReportRows, tenant, kind, keys[start:end], times, bodies)
			if err != nil {
				return err
			}
			added += int(tag.RowsAffected())
			if _, err := tx.Exec(ctx, sqlUpdateReportRows, tenant, kind, keys[start:end], times, bodies); err != nil {
				return err
			}
			start = end
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	db.replicas.wrote(tenant)
	return added, nil
}

// ListReportRows returns one page of report rows in (Time, Key) order, and
// the number of rows the query matches, in one statement.
func (db *DB) ListReportRows(ctx context.Context, q callvault.ReportQuery) (_ *callvault.ReportPage, err error) {
	if q.Tenant == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	} else if q.Kind == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A report row kind is required.")
	} else if q.Limit < 1 {
		return nil, callvault.Errorf(callvault.EINVALID, "The page size must be 1 or more.")
	} else if q.Offset < 0 {
		return nil, callvault.Errorf(callvault.EINVALID, "The offset must not be negative.")
	}
	page := &callvault.ReportPage{}
	lo, hi, ok := keyRange(q.Range)
	if !ok || !storable(q.Tenant) || !storable(q.Kind) {
		return page, nil
	}
	defer wrap(&err, "postgres: list %s report rows", q.Kind)

	const match = `FROM report_rows WHERE tenant = $1 AND kind = $2 AND row_time >= $3 AND row_time <= $4`
	// The count is the row with part 0; the page's rows follow, in order.
	err = db.read(ctx, q.Tenant, func(r reader) error {
		page.Rows = page.Rows[:0]
		rows, err := r.Query(ctx, `SELECT 0 AS part, count(*), 0::BIGINT, ''::TEXT, ''::BYTEA `+match+`
			UNION ALL
			(SELECT 1, 0, row_time, row_key, body `+match+`
				ORDER BY row_time, row_key OFFSET $5 LIMIT $6)
			ORDER BY 1, 3, 4`,
			q.Tenant, q.Kind, lo, hi, q.Offset, addCapped(int64(q.Limit), 1))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var part, count, rowTime int64
			var key string
			var body []byte
			if err := rows.Scan(&part, &count, &rowTime, &key, &body); err != nil {
				return err
			}
			if part == 0 {
				page.Total = count
			} else {
				page.Rows = append(page.Rows, body)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if len(page.Rows) > q.Limit {
		page.Rows, page.More = page.Rows[:q.Limit], true
	}
	return page, nil
}

// validateKey checks the tenant and id that every method needs.
func validateKey(tenant, id string) error {
	if tenant == "" {
		return callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	} else if id == "" {
		return callvault.Errorf(callvault.EINVALID, "A call record id is required.")
	}
	return nil
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

func sessionNotFound(recordID, sessionID string) error {
	return callvault.Errorf(callvault.ENOTFOUND, "Session %s of call record %s was not found.", sessionID, recordID)
}

func participantNotFound(recordID, participantID string) error {
	return callvault.Errorf(callvault.ENOTFOUND, "Participant %s of call record %s was not found.", participantID, recordID)
}

// Times are unix nanoseconds. The smallest int64 stands for the zero time,
// which is earlier than every other time, so the real times the store
// holds are those after it, up to the largest int64.
var (
	zeroKey      = int64(math.MinInt64)
	earliestTime = time.Unix(0, math.MinInt64+1)
	latestTime   = time.Unix(0, math.MaxInt64)
)

// timeKey returns the column value of t.
func timeKey(t time.Time) (int64, error) {
	if t.IsZero() {
		return zeroKey, nil
	} else if t.Before(earliestTime) || t.After(latestTime) {
		return 0, callvault.Errorf(callvault.EINVALID, "The time %s is out of range.", t.UTC().Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// keyTime returns the time of a column value.
func keyTime(k int64) time.Time {
	if k == zeroKey {
		return time.Time{}
	}
	return time.Unix(0, k).UTC()
}

// keyRange returns the inclusive range [lo, hi] of column values whose
// times r contains (as r.Contains has it), and false when there are none.
// A bound outside the range of column values is clamped to it.
func keyRange(r callvault.TimeRange) (lo, hi int64, ok bool) {
	lo, hi = math.MinInt64, math.MaxInt64
	zero := time.Time{}
	if !r.From.IsZero() {
		after := func(t time.Time) bool { return t.After(r.From) || (r.FromInclusive && t.Equal(r.From)) }
		switch {
		case after(zero):
			// Every time is in.
		case after(earliestTime):
			lo = math.MinInt64 + 1 // every real time, not the zero time
		case !after(latestTime):
			return 0, 0, false
		default:
			lo = r.From.UnixNano()
			if !r.FromInclusive {
				lo++ // From is before latestTime, so this does not overflow
			}
		}
	}
	if !r.To.IsZero() {
		before := func(t time.Time) bool { return t.Before(r.To) || (r.ToInclusive && t.Equal(r.To)) }
		switch {
		case before(latestTime):
			// Every time is in.
		case !before(zero):
			return 0, 0, false
		case !before(earliestTime):
			hi = zeroKey // the zero time alone
		default:
			hi = r.To.UnixNano()
			if !r.ToInclusive {
				hi-- // To is after earliestTime, so this does not overflow
			}
		}
	}
	return lo, hi, lo <= hi
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
