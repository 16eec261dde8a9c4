package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/jsonrows"
	"github.com/callvault/callvault/internal/jsonx"
	"github.com/callvault/callvault/internal/qualitysql"
	"github.com/callvault/callvault/odata"
)

// SQL of the quality tables (migrations/0006_quality.sql, narrowed by
// 0010_quality_narrow.sql: the text columns are read from one JSON array,
// dims, which qualityDims writes).
var (
	// The text columns go into one JSON array, dims (qualityDims): each
	// text parameter costs the driver a C allocation. One row a statement:
	// several rows to an INSERT … SELECT cost as much, in the statement
	// journal SQLite then keeps.
	sqlInsertQualityStream = `INSERT INTO quality_stream_rows (rk, tenant, session_seq, segment_seq, seq, start_time,
		first_is_caller, poor_due, jitter_ms, round_trip_ms, packet_loss, degradation, concealed, frame_loss, frame_rate, post_fecplr,
		pstn, conference, dims) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// Streams are read from the table, their dims decoded in Go
	// (narrowScan): the view's 34 JSON extractions a row cost several times
	// more.
	sqlSelectQualityStreams = `SELECT session_seq, segment_seq, seq, start_time, first_is_caller, poor_due,
		jitter_ms, round_trip_ms, packet_loss, degradation, concealed, frame_loss, frame_rate, post_fecplr, pstn, conference, CAST(dims AS BLOB)
		FROM quality_stream_rows WHERE tenant = ? AND start_time >= ? AND start_time <= ?`
)

const (
	sqlDeleteQualityStreams = `DELETE FROM quality_stream_rows WHERE rk = ?`
	sqlDeleteQualityRecord  = `DELETE FROM quality_records WHERE rk = ?`
	sqlInsertQualityRecord  = `INSERT INTO quality_records (rk, version) VALUES (?, ?)`
	// The rollup (migrations/0011_quality_rollup.sql).
	sqlRollupGeneration     = `SELECT gen FROM quality_rollup_generation WHERE tenant = ?`
	sqlNextRollupGeneration = `INSERT INTO quality_rollup_generation (tenant, gen) VALUES (?, 1)
		ON CONFLICT (tenant) DO UPDATE SET gen = gen + 1`
	sqlMarkDirty = `INSERT OR IGNORE INTO quality_dirty (tenant, day) VALUES (?, ?)`
	sqlDirtyDays = `SELECT day FROM quality_dirty WHERE tenant = ? AND day >= ? AND day < ? ORDER BY day`
	sqlIsDirty   = `SELECT COUNT(*) FROM quality_dirty WHERE tenant = ? AND day = ?`
	sqlCleanDay  = `DELETE FROM quality_dirty WHERE tenant = ? AND day = ?`
	// The rollup's rows (migrations/0015_quality_rollup_packed.sql).
	sqlInsertRollup    = `INSERT INTO quality_rollup (tenant, dim, day, media, value, counts) VALUES (?, ?, ?, ?, ?, ?)`
	sqlSelectRollupDay = `SELECT value, media, counts FROM quality_rollup
		WHERE tenant = ? AND dim = ? AND day = ? AND media = ?`
	sqlSelectRollupDayAll = `SELECT value, media, counts FROM quality_rollup WHERE tenant = ? AND dim = ? AND day = ?`
	// The records FillQuality has yet to classify, in rk order.
	sqlUnclassified = `SELECT c.rk, c.tenant, c.id, c.version, c.start_time, CAST(c.body AS BLOB) FROM call_records AS c
		WHERE c.rk > ? AND NOT EXISTS (SELECT 1 FROM quality_records AS q WHERE q.rk = c.rk)
		ORDER BY c.rk LIMIT ?`
	sqlSessionBodies = `SELECT seq, CAST(body AS BLOB) FROM sessions WHERE rk = ? ORDER BY seq`
	sqlSegmentBodies = `SELECT session_seq, CAST(body AS BLOB) FROM segments WHERE rk = ? ORDER BY session_seq, seq`
)

var _ callvault.QualityStore = (*DB)(nil)

// sqlDeleteRollup deletes a day's rollup rows, dimension by dimension
// (qualitysql.RollupDims).
var sqlDeleteRollup = `DELETE FROM quality_rollup WHERE tenant = ? AND dim IN (` + qualitysql.RollupDims + `) AND day = ?`

// writeQuality writes the classified streams of r, whose rk is rk, in the
// record's transaction, after deleting those of the version it replaces.
// A record without Quality keeps none, until FillQuality classifies it.
func writeQuality(ctx context.Context, tx *sql.Tx, st *statements, r *callvault.Record, rk int64, replaced bool) error {
	if replaced {
		for _, q := range []string{sqlDeleteQualityStreams, sqlDeleteQualityRecord} {
			if _, err := tx.ExecContext(ctx, q, rk); err != nil {
				return err
			}
		}
	}
	if r.Quality == nil {
		return nil
	}
	return insertQuality(ctx, tx, st, r.Tenant, r.Version, rk, r.Quality)
}

func insertQuality(ctx context.Context, tx *sql.Tx, st *statements, tenant string, version, rk int64, q *callvault.RecordQuality) error {
	if len(q.Streams) > 0 {
		// Prepared once at Open: preparing the wide insert for each record
		// cost the import more than a tenth of its time.
		stmt := tx.StmtContext(ctx, st.insertQualityStream)
		args := make([]any, 0, 19)
		var dims []byte
		for i := range q.Streams {
			s := &q.Streams[i]
			var start int64
			if !s.Start.IsZero() {
				start = s.Start.UnixNano()
			}
			dims = qualityDims(dims[:0], s)
			args = append(args[:0], rk, tenant, int64(s.SessionSeq), int64(s.SegmentSeq), int64(s.Seq), start,
				boolInt(s.FirstIsCaller), int64(s.PoorDue), float(s.JitterMs), float(s.RoundTripMs), float(s.PacketLoss),
				float(s.Degradation), float(s.Concealed), float(s.FrameLoss), float(s.FrameRate), float(s.PostFECPLR),
				boolInt(s.PSTN), boolInt(s.Conference), string(dims))
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
		}
	}
	// The days the streams start on are dirty in the rollup. Both
	// statements are prepared once too: each record runs them.
	for _, d := range qualitysql.Days(q) {
		if _, err := tx.StmtContext(ctx, st.markDirty).ExecContext(ctx, tenant, d); err != nil {
			return err
		}
	}
	_, err := tx.StmtContext(ctx, st.insertQualityRecord).ExecContext(ctx, rk, version)
	return err
}

// qualityDims appends the text columns of s as the JSON array the dims
// column holds, in the order of migrations/0010_quality_narrow.sql.
func qualityDims(b []byte, s *callvault.QualityStream) []byte {
	b = append(b, '[')
	for i, v := range [...]string{s.RecordID, s.Media, s.Label, s.Direction, s.Class, s.CallType} {
		if i > 0 {
			b = append(b, ',')
		}
		b = odata.AppendString(b, v)
	}
	for _, e := range [...]*callvault.QualityEndpoint{&s.First, &s.Second} {
		for _, v := range [...]string{e.Kind, e.Name, e.Role, e.Platform, e.Family, e.UserAgent, e.AppVersion,
			e.UserID, e.UserName, e.Connection, e.WifiBand, e.Transport, e.Subnet, e.IP} {
			b = append(b, ',')
			b = odata.AppendString(b, v)
		}
	}
	return append(b, ']')
}

// float is a metric as a driver value: NULL when it is not reported.
func float(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// VisitQualityStreams calls fn with each of a tenant's streams that start
// in start.
func (db *DB) VisitQualityStreams(ctx context.Context, tenant string, start callvault.TimeRange, fn func(*callvault.QualityStream) error) (err error) {
	if tenant == "" {
		return callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	}
	defer wrap(&err, "sqlite: visit quality streams")
	from, to := qualitysql.Bounds(start)
	return db.visitStreams(ctx, fn, sqlSelectQualityStreams, tenant, from, to)
}

// visitStreams calls fn with each stream a query of sqlSelectQualityStreams'
// columns reads.
func (db *DB) visitStreams(ctx context.Context, fn func(*callvault.QualityStream) error, query string, args ...any) error {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return eachStream(rows, fn)
}

// eachStream calls fn with each stream of rows of sqlSelectQualityStreams'
// columns.
func eachStream(rows qualitysql.Rows, fn func(*callvault.QualityStream) error) error {
	var scan narrowScan
	return qualitysql.Each(rows, scan.targets(), func() error {
		st, err := scan.stream()
		if err != nil {
			return err
		}
		return fn(st)
	})
}

// sqlStreamsByCall reads the streams of a period call by call, the latest
// call first: the record's start through call_records_by_start, backwards,
// and its streams through the primary key.
const sqlStreamsByCall = `SELECT q.session_seq, q.segment_seq, q.seq, q.start_time, q.first_is_caller, q.poor_due,
	q.jitter_ms, q.round_trip_ms, q.packet_loss, q.degradation, q.concealed, q.frame_loss, q.frame_rate, q.post_fecplr,
	q.pstn, q.conference, CAST(q.dims AS BLOB)
	FROM call_records AS c JOIN quality_stream_rows AS q ON q.rk = c.rk
	WHERE c.tenant = ? AND c.start_time >= ? AND c.start_time <= ? AND q.start_time >= ? AND q.start_time <= ?
	ORDER BY c.start_time DESC, c.rk DESC`

// VisitQualityStreamsByCall is callvault.QualityCallVisitor's: the web
// view's list of calls stops after the latest calls instead of reading the
// whole period.
func (db *DB) VisitQualityStreamsByCall(ctx context.Context, tenant string, start callvault.TimeRange, fn func(*callvault.QualityStream) error) (err error) {
	if tenant == "" {
		return callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	}
	defer wrap(&err, "sqlite: visit quality streams by call")
	recFrom, from, to := qualitysql.CallBounds(start)
	return db.visitStreams(ctx, fn, sqlStreamsByCall, tenant, recFrom, to, from, to)
}

// narrowScan reads a row of quality_stream_rows (sqlSelectQualityStreams).
type narrowScan struct {
	s                                  callvault.QualityStream
	sesSeq, segSeq, seq, start         int64
	firstIsCaller, poorDue, pstn, conf int64
	dims                               []byte
}

func (n *narrowScan) targets() []any {
	s := &n.s
	return []any{&n.sesSeq, &n.segSeq, &n.seq, &n.start, &n.firstIsCaller, &n.poorDue,
		&s.JitterMs, &s.RoundTripMs, &s.PacketLoss, &s.Degradation, &s.Concealed, &s.FrameLoss, &s.FrameRate, &s.PostFECPLR,
		&n.pstn, &n.conf, &n.dims}
}

// stream returns the stream the last scan read, valid until the next.
func (n *narrowScan) stream() (*callvault.QualityStream, error) {
	s := &n.s
	s.SessionSeq, s.SegmentSeq, s.Seq = int(n.sesSeq), int(n.segSeq), int(n.seq)
	s.Start = time.Time{}
	if n.start != 0 {
		s.Start = time.Unix(0, n.start).UTC()
	}
	s.FirstIsCaller, s.PSTN, s.Conference, s.PoorDue = n.firstIsCaller != 0, n.pstn != 0, n.conf != 0, callvault.PoorDue(n.poorDue)
	f, e := &s.First, &s.Second
	fields := [...]*string{&s.RecordID, &s.Media, &s.Label, &s.Direction, &s.Class, &s.CallType,
		&f.Kind, &f.Name, &f.Role, &f.Platform, &f.Family, &f.UserAgent, &f.AppVersion,
		&f.UserID, &f.UserName, &f.Connection, &f.WifiBand, &f.Transport, &f.Subnet, &f.IP,
		&e.Kind, &e.Name, &e.Role, &e.Platform, &e.Family, &e.UserAgent, &e.AppVersion,
		&e.UserID, &e.UserName, &e.Connection, &e.WifiBand, &e.Transport, &e.Subnet, &e.IP}
	a, ok := jsonx.NewArray(n.dims)
	i := 0
	for v, more := a.Next(); ok && more; v, more = a.Next() {
		if i == len(fields) || len(v) < 2 || v[0] != '"' {
			return nil, fmt.Errorf("quality stream dims: not %d strings", len(fields))
		}
		if bytes.IndexByte(v, '\\') < 0 {
			*fields[i] = string(v[1 : len(v)-1])
		} else if err := json.Unmarshal(v, fields[i]); err != nil {
			return nil, err
		}
		i++
	}
	if i != len(fields) {
		return nil, fmt.Errorf("quality stream dims: %d strings, not %d", i, len(fields))
	}
	return s, nil
}

// A chunk of FillQuality is at most this many records: one short write
// transaction, so imports and servers go on meanwhile.
const qualityChunkRecords = 64

// FillQuality classifies with fn every record that has no classification,
// in rk order, a chunk of records per write transaction. An interrupted run
// leaves whole chunks done; the next one starts where it stopped.
func (db *DB) FillQuality(ctx context.Context, fn callvault.QualityFunc, progress func(callvault.QualityStats)) (stats callvault.QualityStats, err error) {
	defer wrap(&err, "sqlite: fill quality")
	var after int64
	return qualitysql.Fill(ctx, func() (records, streams int64, err error) {
		return db.fillQualityChunk(ctx, fn, &after)
	}, progress)
}

// fillQualityChunk classifies the records after the rk *after, in one
// write transaction, and moves *after to the last of them.
func (db *DB) fillQualityChunk(ctx context.Context, fn callvault.QualityFunc, after *int64) (records, streams int64, err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	type pending struct {
		rk int64
		r  *callvault.Record
	}
	var todo []pending
	rows, err := tx.QueryContext(ctx, sqlUnclassified, *after, qualityChunkRecords)
	if err != nil {
		return 0, 0, err
	}
	for rows.Next() {
		var p pending
		var start sql.NullInt64
		p.r = &callvault.Record{}
		if err := rows.Scan(&p.rk, &p.r.Tenant, &p.r.ID, &p.r.Version, &start, &p.r.Body); err != nil {
			rows.Close()
			return 0, 0, err
		}
		p.r.StartDateTime = fromUnixNano(start)
		todo = append(todo, p)
	}
	if err := rows.Close(); err != nil {
		return 0, 0, err
	}
	for _, p := range todo {
		if err := loadBodies(ctx, tx, p.rk, p.r); err != nil {
			return 0, 0, err
		}
		q := qualitysql.Classify(fn, p.r)
		if err := insertQuality(ctx, tx, &db.stmts, p.r.Tenant, p.r.Version, p.rk, q); err != nil {
			return 0, 0, err
		}
		streams += int64(len(q.Streams))
		p.r.Sessions = nil // classified: its bodies may go, a chunk may hold a large meeting
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	if len(todo) > 0 {
		*after = todo[len(todo)-1].rk
	}
	return int64(len(todo)), streams, nil
}

// loadBodies reads the session and segment bodies of the record rk into r.
func loadBodies(ctx context.Context, tx *sql.Tx, rk int64, r *callvault.Record) error {
	rows, err := tx.QueryContext(ctx, sqlSessionBodies, rk)
	if err != nil {
		return err
	}
	err = qualitysql.AddSessions(rows, r)
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	rows, err = tx.QueryContext(ctx, sqlSegmentBodies, rk)
	if err != nil {
		return err
	}
	defer rows.Close()
	return qualitysql.AddSegments(rows, r)
}

// PutTenantFile makes body the tenant's active file of a kind.
func (db *DB) PutTenantFile(ctx context.Context, tenant, kind string, body []byte) (err error) {
	if tenant == "" || kind == "" {
		return callvault.Errorf(callvault.EINVALID, "A tenant and a file kind are required.")
	}
	defer wrap(&err, "sqlite: put %s file", kind)
	_, err = db.write.ExecContext(ctx, `INSERT INTO tenant_files (tenant, kind, updated, body) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant, kind) DO UPDATE SET updated = excluded.updated, body = excluded.body`,
		tenant, kind, time.Now().UnixNano(), blob(body))
	return err
}

// GetTenantFile returns the tenant's active file of a kind, or nil.
func (db *DB) GetTenantFile(ctx context.Context, tenant, kind string) (body []byte, err error) {
	defer wrap(&err, "sqlite: get %s file", kind)
	err = db.read.QueryRowContext(ctx, `SELECT CAST(body AS BLOB) FROM tenant_files WHERE tenant = ? AND kind = ?`, tenant, kind).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return body, err
}

// sqliteDialect is SQLite's side of the aggregation SQL.
var sqliteDialect = qualitysql.Dialect{
	Placeholder: func(int) string { return "?" },
	Month:       func(nanos string) string { return "strftime('%Y-%m', " + nanos + " / 1000000000, 'unixepoch')" },
}

// AggregateQuality counts a tenant's streams by columns, in SQL.
func (db *DB) AggregateQuality(ctx context.Context, tenant string, q callvault.QualityAggregate) (_ []callvault.QualityGroup, err error) {
	defer wrap(&err, "sqlite: aggregate quality")
	return qualitysql.Aggregate(ctx, db.aggregateSource(), db, rollupCache, tenant, q)
}

// aggregateSource is SQLite's side of qualitysql.Aggregate.
func (db *DB) aggregateSource() *qualitysql.Source {
	return &qualitysql.Source{
		Dialect:   sqliteDialect,
		DirtyDays: sqlDirtyDays, Generation: sqlRollupGeneration, RollupDay: sqlSelectRollupDay, RollupDayAll: sqlSelectRollupDayAll,
		EachRollup: db.eachRollup,
		Query:      db.query,
		RefreshDay: db.refreshDay,
	}
}

// query is a read on the read pool, for the code both stores share
// (jsonrows.Query).
func (db *DB) query(ctx context.Context, query string, args ...any) (jsonrows.Rows, func(), error) {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	return rows, func() { rows.Close() }, nil
}

// RefreshQualityRollup computes again the rollup of every dirty day of
// every tenant, a write transaction a day, and returns how many days it
// computed: what serve does in the background, and migrate after it
// classifies, so that the first page after an import does not.
func (db *DB) RefreshQualityRollup(ctx context.Context) (days int, err error) {
	defer wrap(&err, "sqlite: refresh the quality rollup")
	return db.aggregateSource().RefreshAll(ctx)
}

// refreshDay computes again the rollup of a tenant's day, in a write
// transaction, unless another reader has done it meanwhile.
func (db *DB) refreshDay(ctx context.Context, tenant string, day int64) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// A day of a big meeting writes hundreds of thousands of rows: keep
	// their pages in the writer's cache until the commit (as a batch of
	// records does) rather than spilling them to the WAL and reading them back.
	if _, err := tx.ExecContext(ctx, "PRAGMA cache_size = -"+strconv.Itoa(batchCacheKiB)); err != nil {
		return err
	}
	// Another reader may have done it meanwhile: the writer's lock orders us.
	var n int
	if err := tx.QueryRowContext(ctx, sqlIsDirty, tenant, day).Scan(&n); err != nil || n == 0 {
		return err
	}
	from, to := qualitysql.DayBounds(day)
	rows, err := tx.QueryContext(ctx, sqlSelectQualityStreams, tenant, from, to)
	if err != nil {
		return err
	}
	r := qualitysql.NewDayRollup(day)
	err = eachStream(rows, func(st *callvault.QualityStream) error { r.Add(st); return nil })
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, q := range []string{sqlDeleteRollup, sqlCleanDay} {
		if _, err := tx.ExecContext(ctx, q, tenant, day); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, sqlNextRollupGeneration, tenant); err != nil {
		return err
	}
	if err := insertRollupRows(ctx, tx, tenant, r.All()); err != nil {
		return err
	}
	return tx.Commit()
}

// rollupRowsAStatement is how many rollup rows one INSERT writes: a day of
// a big meeting has hundreds of thousands, and a statement's own cost (the
// driver's call, binding) is most of what a row costs.
const rollupRowsAStatement = 64

// rollupColumns is how many columns a rollup row has.
const rollupColumns = 6

// sqlInsertRollupRows is sqlInsertRollup for rollupRowsAStatement rows.
var sqlInsertRollupRows = sqlInsertRollup + strings.Repeat(", (?, ?, ?, ?, ?, ?)", rollupRowsAStatement-1)

// insertRollupRows writes a day's rollup rows, rollupRowsAStatement a
// statement and the rest one by one.
func insertRollupRows(ctx context.Context, tx *sql.Tx, tenant string, rows iter.Seq[*qualitysql.RollupRow]) (err error) {
	var many, one *sql.Stmt
	defer func() {
		for _, st := range []*sql.Stmt{many, one} {
			if st != nil {
				err = errors.Join(err, st.Close())
			}
		}
	}()
	args := make([]any, 0, rollupColumns*rollupRowsAStatement)
	n := 0
	for r := range rows {
		args = append(append(args, tenant, r.Dim), r.Values()...)
		if n++; n < rollupRowsAStatement {
			continue
		}
		if many == nil {
			if many, err = tx.PrepareContext(ctx, sqlInsertRollupRows); err != nil {
				return err
			}
		}
		if _, err := many.ExecContext(ctx, args...); err != nil {
			return err
		}
		args, n = args[:0], 0
	}
	if n == 0 {
		return nil
	}
	if one, err = tx.PrepareContext(ctx, sqlInsertRollup); err != nil {
		return err
	}
	for ; len(args) > 0; args = args[rollupColumns:] {
		if _, err := one.ExecContext(ctx, args[:rollupColumns]...); err != nil {
			return err
		}
	}
	return nil
}

// rollupCache keeps the latest answers from the rollup (qualitysql.Aggregate).
var rollupCache = qualitysql.NewCache[qualitysql.CacheKey](32)
