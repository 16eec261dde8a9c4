package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/callvault/callvault"
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
	sqlSelectQualityStreams = `SELECT ` + strings.Join(callvault.QualityColumns, ", ") +
		` FROM quality_streams WHERE tenant = ? AND start_time >= ? AND start_time <= ?`
)

const (
	sqlDeleteQualityStreams = `DELETE FROM quality_stream_rows WHERE rk = ?`
	sqlDeleteQualityRecord  = `DELETE FROM quality_records WHERE rk = ?`
	sqlInsertQualityRecord  = `INSERT INTO quality_records (rk, version) VALUES (?, ?)`
	// The records FillQuality has yet to classify, in rk order.
	sqlUnclassified = `SELECT c.rk, c.tenant, c.id, c.version, c.start_time, CAST(c.body AS BLOB) FROM call_records AS c
		WHERE c.rk > ? AND NOT EXISTS (SELECT 1 FROM quality_records AS q WHERE q.rk = c.rk)
		ORDER BY c.rk LIMIT ?`
	sqlSessionBodies = `SELECT seq, CAST(body AS BLOB) FROM sessions WHERE rk = ? ORDER BY seq`
	sqlSegmentBodies = `SELECT session_seq, CAST(body AS BLOB) FROM segments WHERE rk = ? ORDER BY session_seq, seq`
)

var _ callvault.QualityStore = (*DB)(nil)

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
	_, err := tx.ExecContext(ctx, sqlInsertQualityRecord, rk, version)
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
	from, to := rangeNanos(start)
	rows, err := db.read.QueryContext(ctx, sqlSelectQualityStreams, tenant, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	var scan callvault.QualityScan
	targets := scan.Targets()
	for rows.Next() {
		if err := rows.Scan(targets...); err != nil {
			return err
		}
		if err := fn(scan.Stream()); err != nil {
			return err
		}
	}
	return rows.Err()
}

// rangeNanos turns a TimeRange into inclusive bounds of unix nanoseconds.
func rangeNanos(r callvault.TimeRange) (from, to int64) {
	from, to = math.MinInt64, math.MaxInt64
	if !r.From.IsZero() {
		from = r.From.UnixNano()
		if !r.FromInclusive {
			from++
		}
	}
	if !r.To.IsZero() {
		to = r.To.UnixNano()
		if !r.ToInclusive {
			to--
		}
	}
	return from, to
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
	for {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		n, last, err := db.fillQualityChunk(ctx, fn, after, &stats)
		if err != nil {
			return stats, err
		}
		if n == 0 {
			return stats, nil
		}
		after = last
		if progress != nil {
			progress(stats)
		}
	}
}

func (db *DB) fillQualityChunk(ctx context.Context, fn callvault.QualityFunc, after int64, stats *callvault.QualityStats) (n int, last int64, err error) {
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
	rows, err := tx.QueryContext(ctx, sqlUnclassified, after, qualityChunkRecords)
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
		q := fn(p.r)
		if q == nil {
			q = &callvault.RecordQuality{}
		}
		if err := insertQuality(ctx, tx, &db.stmts, p.r.Tenant, p.r.Version, p.rk, q); err != nil {
			return 0, 0, err
		}
		stats.Records++
		stats.Streams += int64(len(q.Streams))
		last = p.rk
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	return len(todo), last, nil
}

// loadBodies reads the session and segment bodies of the record rk into r.
func loadBodies(ctx context.Context, tx *sql.Tx, rk int64, r *callvault.Record) error {
	rows, err := tx.QueryContext(ctx, sqlSessionBodies, rk)
	if err != nil {
		return err
	}
	for rows.Next() {
		var seq int64
		var s callvault.Session
		if err := rows.Scan(&seq, &s.Body); err != nil {
			rows.Close()
			return err
		}
		r.Sessions = append(r.Sessions, s)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	rows, err = tx.QueryContext(ctx, sqlSegmentBodies, rk)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var g callvault.Segment
		if err := rows.Scan(&seq, &g.Body); err != nil {
			return err
		}
		if seq >= 1 && int(seq) <= len(r.Sessions) {
			s := &r.Sessions[seq-1]
			s.Segments = append(s.Segments, g)
		}
	}
	return rows.Err()
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
	if tenant == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	}
	defer wrap(&err, "sqlite: aggregate quality")
	streams, legs, args, err := qualitysql.Build(sqliteDialect, tenant, q)
	if err != nil {
		return nil, callvault.Errorf(callvault.EINVALID, "%v", err)
	}
	g := qualitysql.NewGroups(len(q.By))
	for _, part := range []struct {
		sql     string
		targets func() ([]any, func())
	}{{streams, g.StreamTargets}, {legs, g.LegTargets}} {
		if part.sql == "" {
			continue
		}
		rows, err := db.read.QueryContext(ctx, part.sql, args...)
		if err != nil {
			return nil, err
		}
		t, add := part.targets()
		for rows.Next() {
			if err := rows.Scan(t...); err != nil {
				rows.Close()
				return nil, err
			}
			add()
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return g.Result(), nil
}
