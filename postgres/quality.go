package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
	"unsafe"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/jsonrows"
	"github.com/callvault/callvault/internal/qualitysql"
	"github.com/jackc/pgx/v5"
)

// SQL of the quality tables (migrations/0004_quality.sql).
var (
	sqlInsertQualityStream = func() string {
		args := make([]string, len(callvault.QualityColumns))
		for i := range args {
			args[i] = fmt.Sprintf("$%d", i+2)
		}
		return `INSERT INTO quality_streams (tenant, ` + strings.Join(callvault.QualityColumns, ", ") +
			`) VALUES ($1, ` + strings.Join(args, ", ") + `)`
	}()
	sqlSelectQualityStreams = `SELECT ` + strings.Join(callvault.QualityColumns, ", ") +
		` FROM quality_streams WHERE tenant = $1 AND start_time >= $2 AND start_time <= $3`
)

const (
	// Deleting a record's streams marks their days dirty, as the trigger
	// does on SQLite.
	sqlDeleteQualityStreams = `WITH gone AS (DELETE FROM quality_streams WHERE tenant = $1 AND record_id = $2 RETURNING start_time)
		INSERT INTO quality_dirty (tenant, day) SELECT DISTINCT $1, start_time / 86400000000000 FROM gone
		ON CONFLICT (tenant, day) DO UPDATE SET marks = quality_dirty.marks + 1`
	sqlDeleteQualityRecord = `DELETE FROM quality_records WHERE tenant = $1 AND record_id = $2`
	sqlInsertQualityRecord = `INSERT INTO quality_records (tenant, record_id, version) VALUES ($1, $2, $3)`
	// The rollup (migrations/0008_quality_rollup.sql).
	sqlMarkDirty = `INSERT INTO quality_dirty (tenant, day) VALUES ($1, $2)
		ON CONFLICT (tenant, day) DO UPDATE SET marks = quality_dirty.marks + 1`
	sqlDirtyDays            = `SELECT day FROM quality_dirty WHERE tenant = $1 AND day >= $2 AND day < $3 ORDER BY day`
	sqlCleanDay             = `DELETE FROM quality_dirty WHERE tenant = $1 AND day = $2`
	sqlRollupGeneration     = `SELECT gen FROM quality_rollup_generation WHERE tenant = $1`
	sqlNextRollupGeneration = `INSERT INTO quality_rollup_generation (tenant, gen) VALUES ($1, 1)
		ON CONFLICT (tenant) DO UPDATE SET gen = quality_rollup_generation.gen + 1`
	// The rollup's rows (migrations/0011_quality_rollup_packed.sql).
	// In the key's order (qualitysql adds the rows up in it), which the
	// key's index gives with no sort (migrations/0012_quality_rollup_collate.sql).
	sqlSelectRollupDay = `SELECT value, media, counts FROM quality_rollup
		WHERE tenant = $1 AND dim = $2 AND day = $3 AND media = $4 ORDER BY value`
	sqlSelectRollupDayAll = `SELECT value, media, counts FROM quality_rollup WHERE tenant = $1 AND dim = $2 AND day = $3
		ORDER BY media, value`
	// The records FillQuality has yet to classify, in key order, locked so
	// that an import of the same record waits for the chunk.
	sqlUnclassified = `SELECT c.tenant, c.id, c.version, c.start_time, c.body FROM call_records AS c
		WHERE (c.tenant, c.id) > ($1, $2) AND NOT EXISTS
			(SELECT 1 FROM quality_records AS q WHERE q.tenant = c.tenant AND q.record_id = c.id)
		ORDER BY c.tenant, c.id LIMIT $3 FOR UPDATE OF c`
	sqlSessionBodies = `SELECT seq, body FROM sessions WHERE tenant = $1 AND record_id = $2 ORDER BY seq`
	sqlSegmentBodies = `SELECT session_seq, body FROM segments WHERE tenant = $1 AND record_id = $2 ORDER BY session_seq, seq`
)

var _ callvault.QualityStore = (*DB)(nil)

// sqlDeleteRollup deletes a day's rollup rows, dimension by dimension
// (qualitysql.RollupDims).
var sqlDeleteRollup = `DELETE FROM quality_rollup WHERE tenant = $1 AND dim IN (` + qualitysql.RollupDims + `) AND day = $2`

// queueQuality queues, in the record's transaction, the deletion of the
// streams of the version r replaces and the insertion of r's own. A record
// without Quality keeps none, until FillQuality classifies it.
func queueQuality(s *sender, r *callvault.Record, replaced bool) {
	if replaced {
		s.queue(0, sqlDeleteQualityStreams, r.Tenant, r.ID)
		s.queue(0, sqlDeleteQualityRecord, r.Tenant, r.ID)
	}
	if r.Quality != nil {
		queueStreams(s, r.Tenant, r.ID, r.Version, r.Quality)
	}
}

// streamBytes is about the size of the arguments of a stream's insert.
const streamBytes = 512

func queueStreams(s *sender, tenant, id string, version int64, q *callvault.RecordQuality) {
	for i := range q.Streams {
		s.queue(streamBytes, sqlInsertQualityStream, append([]any{tenant}, q.Streams[i].Values()...)...)
	}
	// The days are dirty in the rollup (migrations/0008_quality_rollup.sql).
	for _, d := range qualitysql.Days(q) {
		s.queue(0, sqlMarkDirty, tenant, d)
	}
	s.queue(0, sqlInsertQualityRecord, tenant, id, version)
}

// VisitQualityStreams calls fn with each of a tenant's streams that start
// in start.
func (db *DB) VisitQualityStreams(ctx context.Context, tenant string, start callvault.TimeRange, fn func(*callvault.QualityStream) error) (err error) {
	if tenant == "" {
		return callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	}
	defer wrap(&err, "postgres: visit quality streams")
	from, to := qualitysql.Bounds(start)
	rows, err := db.pool.Query(ctx, sqlSelectQualityStreams, tenant, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	return eachStream(rows, fn)
}

// The calls VisitQualityStreamsByCall reads a chunk at a time: the latest
// first through call_records_by_start, backwards, from the period's end
// (sqlCallsByStartFirst) or after the last call of the chunk before
// (sqlCallsByStart); then their streams in the period, in the calls' order.
// pgx reads a result to its end even when the caller stops, so one query
// for the whole period would read all of it for a page that lists the
// latest 500 calls.
const (
	callsChunk           = 256
	sqlCallsByStartFirst = `SELECT id, start_time FROM call_records WHERE tenant = $1 AND start_time >= $2 AND start_time <= $3
		ORDER BY start_time DESC, id DESC LIMIT $4`
	sqlCallsByStart = `SELECT id, start_time FROM call_records WHERE tenant = $1 AND start_time >= $2 AND (start_time, id) < ($3, $4)
		ORDER BY start_time DESC, id DESC LIMIT $5`
)

var sqlStreamsOfCalls = `SELECT ` + strings.Join(qualified("q.", callvault.QualityColumns), ", ") +
	` FROM unnest($2::text[]) WITH ORDINALITY AS c (id, n) JOIN quality_streams AS q ON q.tenant = $1 AND q.record_id = c.id
	WHERE q.start_time >= $3 AND q.start_time <= $4 ORDER BY c.n`

func qualified(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// VisitQualityStreamsByCall is callvault.QualityCallVisitor's: the web
// view's list of calls stops after the latest calls instead of reading the
// whole period.
func (db *DB) VisitQualityStreamsByCall(ctx context.Context, tenant string, start callvault.TimeRange, fn func(*callvault.QualityStream) error) (err error) {
	if tenant == "" {
		return callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	}
	defer wrap(&err, "postgres: visit quality streams by call")
	recFrom, from, to := qualitysql.CallBounds(start)
	if from > to {
		return nil
	}
	var ids []string
	var id string
	var at int64
	started := false
	for {
		ids = ids[:0]
		var rows pgx.Rows
		if !started {
			rows, err = db.pool.Query(ctx, sqlCallsByStartFirst, tenant, recFrom, to, callsChunk)
		} else {
			rows, err = db.pool.Query(ctx, sqlCallsByStart, tenant, recFrom, at, id, callsChunk)
		}
		if err != nil {
			return err
		}
		if err := qualitysql.Each(rows, []any{&id, &at}, func() error { ids = append(ids, id); return nil }); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		started = true // id and at are the chunk's last call
		rows, err = db.pool.Query(ctx, sqlStreamsOfCalls, tenant, ids, from, to)
		if err != nil {
			return err
		}
		err = eachStream(rows, fn)
		rows.Close()
		if err != nil || len(ids) < callsChunk {
			return err
		}
	}
}

// eachStream calls fn with each stream of rows of sqlSelectQualityStreams.
func eachStream(rows qualitysql.Rows, fn func(*callvault.QualityStream) error) error {
	var scan callvault.QualityScan
	return qualitysql.Each(rows, scan.Targets(), func() error { return fn(scan.Stream()) })
}

// A chunk of FillQuality is at most this many records, one transaction.
const qualityChunkRecords = 64

// FillQuality classifies with fn every record that has no classification,
// in (tenant, id) order, a chunk of records a transaction. An interrupted
// run leaves whole chunks done; the next one starts where it stopped.
func (db *DB) FillQuality(ctx context.Context, fn callvault.QualityFunc, progress func(callvault.QualityStats)) (stats callvault.QualityStats, err error) {
	defer wrap(&err, "postgres: fill quality")
	var afterTenant, afterID string
	return qualitysql.Fill(ctx, func() (records, streams int64, err error) {
		var chunk []*callvault.Record
		err = db.inTx(ctx, func(tx pgx.Tx) error {
			chunk, streams = nil, 0
			rows, err := tx.Query(ctx, sqlUnclassified, afterTenant, afterID, qualityChunkRecords)
			if err != nil {
				return err
			}
			var r callvault.Record
			var start int64
			err = qualitysql.Each(rows, []any{&r.Tenant, &r.ID, &r.Version, &start, &r.Body}, func() error {
				c := r
				c.StartDateTime = callvault.KeyTime(start)
				chunk = append(chunk, &c)
				return nil
			})
			rows.Close()
			if err != nil {
				return err
			}
			// The streams go in round trips of bounded size (sender), and each
			// record's bodies are let go once it is classified: a chunk may
			// hold a meeting of tens of thousands of sessions.
			send := newSender(ctx, tx)
			for _, r := range chunk {
				if err := loadBodies(ctx, tx, r); err != nil {
					return err
				}
				q := qualitysql.Classify(fn, r)
				streams += int64(len(q.Streams))
				queueStreams(send, r.Tenant, r.ID, r.Version, q)
				r.Sessions = nil
			}
			return send.flush()
		})
		if err != nil || len(chunk) == 0 {
			return 0, 0, err
		}
		last := chunk[len(chunk)-1]
		afterTenant, afterID = last.Tenant, last.ID
		return int64(len(chunk)), streams, nil
	}, progress)
}

// loadBodies reads the session and segment bodies of r into it.
func loadBodies(ctx context.Context, tx pgx.Tx, r *callvault.Record) error {
	rows, err := tx.Query(ctx, sqlSessionBodies, r.Tenant, r.ID)
	if err != nil {
		return err
	}
	err = qualitysql.AddSessions(rows, r)
	rows.Close()
	if err != nil {
		return err
	}
	rows, err = tx.Query(ctx, sqlSegmentBodies, r.Tenant, r.ID)
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
	defer wrap(&err, "postgres: put %s file", kind)
	_, err = db.pool.Exec(ctx, `INSERT INTO tenant_files (tenant, kind, updated, body) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant, kind) DO UPDATE SET updated = excluded.updated, body = excluded.body`,
		tenant, kind, time.Now().UnixNano(), blob(body))
	return err
}

// GetTenantFile returns the tenant's active file of a kind, or nil.
func (db *DB) GetTenantFile(ctx context.Context, tenant, kind string) (body []byte, err error) {
	defer wrap(&err, "postgres: get %s file", kind)
	err = db.pool.QueryRow(ctx, `SELECT body FROM tenant_files WHERE tenant = $1 AND kind = $2`, tenant, kind).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return body, err
}

// postgresDialect is PostgreSQL's side of the aggregation SQL.
var postgresDialect = qualitysql.Dialect{
	Placeholder: func(n int) string { return fmt.Sprintf("$%d", n) },
	Month: func(nanos string) string {
		return "to_char(to_timestamp(" + nanos + " / 1000000000) AT TIME ZONE 'UTC', 'YYYY-MM')"
	},
}

// AggregateQuality counts a tenant's streams by columns, in SQL.
func (db *DB) AggregateQuality(ctx context.Context, tenant string, q callvault.QualityAggregate) (_ []callvault.QualityGroup, err error) {
	defer wrap(&err, "postgres: aggregate quality")
	return qualitysql.Aggregate(ctx, db.aggregateSource(), db, rollupCache, tenant, q)
}

// aggregateSource is PostgreSQL's side of qualitysql.Aggregate.
func (db *DB) aggregateSource() *qualitysql.Source {
	return &qualitysql.Source{
		Dialect:   postgresDialect,
		DirtyDays: sqlDirtyDays, Generation: sqlRollupGeneration, RollupDay: sqlSelectRollupDay, RollupDayAll: sqlSelectRollupDayAll,
		EachRollup: db.eachRollup,
		Query:      db.query,
		RefreshDay: db.refreshDay,
	}
}

// eachRollup calls fn with each rollup row of a tenant's dimension on the
// days [from, to), of media ("" for every media), day by day
// (qualitysql.Source.EachRollup). The days' statements go in one batch, one
// round trip, and fn gets each row's values as the bytes pgx read, valid
// until it returns: scanning them into new strings and slices was a fifth
// of a cold overview's CPU, in allocations.
func (db *DB) eachRollup(ctx context.Context, tenant, dim string, from, to int64, media string, fn func(day int64, value, media string, counts []byte) error) error {
	if from >= to {
		return nil
	}
	query, byMedia := sqlSelectRollupDay, []any{media}
	if media == "" {
		query, byMedia = sqlSelectRollupDayAll, nil
	}
	b := &pgx.Batch{}
	for day := from; day < to; day++ {
		b.Queue(query, append([]any{tenant, dim, day}, byMedia...)...)
	}
	br := db.pool.SendBatch(ctx, b)
	err := eachRollupDay(br, from, to, fn)
	return errors.Join(err, br.Close())
}

func eachRollupDay(br pgx.BatchResults, from, to int64, fn func(day int64, value, media string, counts []byte) error) error {
	for day := from; day < to; day++ {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		// Text comes as its UTF-8 bytes in either format; bytea must come
		// in binary, which pgx asks for.
		if f := rows.FieldDescriptions(); len(f) != 3 || f[2].Format != pgx.BinaryFormatCode {
			rows.Close()
			return errors.New("the rollup's counts did not come in binary")
		}
		for rows.Next() {
			v := rows.RawValues()
			if err := fn(day, unsafeString(v[0]), unsafeString(v[1]), v[2]); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// unsafeString is b as a string, without a copy: valid while b is.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// query is a read on the primary, for the code both stores share
// (jsonrows.Query).
func (db *DB) query(ctx context.Context, query string, args ...any) (jsonrows.Rows, func(), error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	return rows, rows.Close, nil
}

// RefreshQualityRollup computes again the rollup of every dirty day of
// every tenant, a transaction a day, and returns how many days it
// computed (see sqlite.DB.RefreshQualityRollup).
func (db *DB) RefreshQualityRollup(ctx context.Context) (days int, err error) {
	defer wrap(&err, "postgres: refresh the quality rollup")
	return db.aggregateSource().RefreshAll(ctx)
}

// refreshDay deletes the day's mark first, which waits for an import of
// the day that marked it; the streams are read after, in a statement that
// sees what that import committed.
func (db *DB) refreshDay(ctx context.Context, tenant string, day int64) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, sqlCleanDay, tenant, day)
	if err != nil || tag.RowsAffected() == 0 {
		return err // done by another reader meanwhile
	}
	from, to := qualitysql.DayBounds(day)
	rows, err := tx.Query(ctx, sqlSelectQualityStreams, tenant, from, to)
	if err != nil {
		return err
	}
	r := qualitysql.NewDayRollup(day)
	err = eachStream(rows, func(st *callvault.QualityStream) error { r.Add(st); return nil })
	rows.Close()
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sqlDeleteRollup, tenant, day); err != nil {
		return err
	}
	// The rows are copied as the rollup hands them out, each counter let go
	// once copied (DayRollup.All).
	next, stop := iter.Pull(r.All())
	defer stop()
	row := make([]any, 0, 6)
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"quality_rollup"}, []string{"tenant", "dim", "day", "media", "value", "counts"},
		pgx.CopyFromFunc(func() ([]any, error) {
			x, ok := next()
			if !ok {
				return nil, nil
			}
			row = append(append(row[:0], tenant, x.Dim), x.Values()...)
			return row, nil
		})); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sqlNextRollupGeneration, tenant); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// rollupCache keeps the latest answers from the rollup (qualitysql.Aggregate).
var rollupCache = qualitysql.NewCache[qualitysql.CacheKey](32)
