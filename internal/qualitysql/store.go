package qualitysql

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/jsonrows"
)

// What follows is the logic of callvault.QualityStore and
// callvault.QualityAggregator that both stores share; each store keeps
// its own SQL and hands it over through the small functions and the
// Source it gives these.

// Rows is what *sql.Rows and pgx.Rows have in common.
type Rows = jsonrows.Rows

// Each scans every row of rows into dest and calls fn after each. The
// caller closes rows (both drivers close them when Next returns false).
func Each(rows Rows, dest []any, fn func() error) error {
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Days returns the UTC days (DayOfNanos) q's streams start on, each once,
// in the order of the streams: the days a store marks dirty in the rollup
// when it writes them, a row or two for a record, as a call's streams
// start within a day or two.
func Days(q *callvault.RecordQuality) []int64 {
	days := make([]int64, 0, 2)
	for i := range q.Streams {
		var start int64
		if !q.Streams[i].Start.IsZero() {
			start = q.Streams[i].Start.UnixNano()
		}
		if d := DayOfNanos(start); !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	return days
}

// DayBounds are the inclusive start_time bounds of a day's streams.
func DayBounds(day int64) (from, to int64) {
	const dayNanos = 86400 * 1_000_000_000
	return day * dayNanos, day*dayNanos + dayNanos - 1
}

// Classify is what FillQuality stores for r: fn's classification, or an
// empty one when fn gives none, so that r counts as classified.
func Classify(fn callvault.QualityFunc, r *callvault.Record) *callvault.RecordQuality {
	if q := fn(r); q != nil {
		return q
	}
	return &callvault.RecordQuality{}
}

// Fill runs chunk until it classifies no record, adding what each chunk
// did to the stats and reporting them to progress (which may be nil)
// after each: the loop of FillQuality. chunk classifies the next records,
// in one transaction, and says how many records and streams it wrote.
func Fill(ctx context.Context, chunk func() (records, streams int64, err error), progress func(callvault.QualityStats)) (stats callvault.QualityStats, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		records, streams, err := chunk()
		if err != nil {
			return stats, err
		}
		if records == 0 {
			return stats, nil
		}
		stats.Records += records
		stats.Streams += streams
		if progress != nil {
			progress(stats)
		}
	}
}

// AddSessions appends to r a session of each row of (seq, body), which
// come in seq order; AddSegments then adds to them their segments, rows
// of (session_seq, body) in order. The caller closes rows.
func AddSessions(rows Rows, r *callvault.Record) error {
	var seq int64
	var s callvault.Session
	return Each(rows, []any{&seq, &s.Body}, func() error {
		r.Sessions = append(r.Sessions, s)
		s = callvault.Session{}
		return nil
	})
}

// AddSegments adds to r's sessions their segments (AddSessions).
func AddSegments(rows Rows, r *callvault.Record) error {
	var seq int64
	var g callvault.Segment
	return Each(rows, []any{&seq, &g.Body}, func() error {
		if seq >= 1 && int(seq) <= len(r.Sessions) {
			s := &r.Sessions[seq-1]
			s.Segments = append(s.Segments, g)
		}
		g = callvault.Segment{}
		return nil
	})
}

// Source is a store's side of Aggregate and of the rollup's refresh: its
// SQL and how it runs it.
type Source struct {
	Dialect
	// DirtyDays reads the dirty days of a tenant in [from, to), in order
	// (parameters: tenant, from, to).
	DirtyDays string
	// The statements that read the rollup: a tenant's generation (its one
	// parameter the tenant; no row is generation 0), and the rows of a
	// dimension on a day, in the columns value, media and counts, of one
	// media (RollupDay; parameters tenant, dim, day, media) or of every
	// media (RollupDayAll; tenant, dim, day). Each is one range of the
	// rollup's key: the audio rows of the overview's worst subnets are
	// under half of the dimension's rows.
	Generation, RollupDay, RollupDayAll string
	// EachRollup, when a store has it, reads what RollupDay and
	// RollupDayAll read, for the days [from, to) in turn, faster: fn gets
	// each row's day, value, media and packed counts, valid until it
	// returns (SQLite hands out its own memory).
	EachRollup func(ctx context.Context, tenant, dim string, from, to int64, media string,
		fn func(day int64, value, media string, counts []byte) error) error
	// Query runs a read.
	Query jsonrows.Query
	// RefreshDay computes again the rollup of a tenant's day, in a
	// transaction, when the day is still dirty.
	RefreshDay func(ctx context.Context, tenant string, day int64) error
}

// sqlAllDirty reads every dirty day of every tenant.
const sqlAllDirty = `SELECT tenant, day FROM quality_dirty ORDER BY tenant, day`

// RefreshAll computes again the rollup of every dirty day of every tenant,
// a transaction a day, and returns how many days it computed: the
// RefreshQualityRollup of both stores.
func (src *Source) RefreshAll(ctx context.Context) (days int, err error) {
	type dirty struct {
		tenant string
		day    int64
	}
	var todo []dirty
	var d dirty
	if err := src.each(ctx, sqlAllDirty, nil, []any{&d.tenant, &d.day}, func() error {
		todo = append(todo, d)
		return nil
	}); err != nil {
		return 0, err
	}
	for _, d := range todo {
		if err := src.RefreshDay(ctx, d.tenant, d.day); err != nil {
			return days, err
		}
		days++
	}
	return days, nil
}

// RefreshDays computes again the rollup of the tenant's dirty days in
// [from, to), a transaction a day.
func (src *Source) RefreshDays(ctx context.Context, tenant string, from, to int64) error {
	var todo []int64
	var day int64
	if err := src.each(ctx, src.DirtyDays, []any{tenant, from, to}, []any{&day}, func() error {
		todo = append(todo, day)
		return nil
	}); err != nil {
		return err
	}
	for _, d := range todo {
		if err := src.RefreshDay(ctx, tenant, d); err != nil {
			return err
		}
	}
	return nil
}

// each runs query and scans each row into dest, calling fn after each.
func (src *Source) each(ctx context.Context, query string, args, dest []any, fn func() error) error {
	rows, closeRows, err := src.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer closeRows()
	return Each(rows, dest, fn)
}

// CacheKey keys an answer from the rollup: the same query of a tenant of
// a store, at the same rollup generation, has the same answer when none of
// its days is dirty (Aggregate has just computed those again).
type CacheKey struct {
	Store  any // the store, a comparable pointer
	Tenant string
	Gen    int64
	Q      string // Key
}

// Aggregate answers AggregateQuality for src, which store is: from the
// rollup when it answers q (computing its dirty days first unless q is
// Stale, and keeping the answer in cache, where a page read again, whose
// worst subnets and users add up tens of thousands of values over its
// days, costs a lookup), else from the stream rows by the two statements
// of Build. No tenant, or a column that is not a quality column, is an
// EINVALID error.
//
// A Stale answer is kept under the same key as a fresh one: the key holds
// the tenant's rollup generation, which every day computed again moves on,
// and a fresh query computes its dirty days before it reads the
// generation, so it never finds an answer from before them.
func Aggregate(ctx context.Context, src *Source, store any, cache *Cache[CacheKey], tenant string, q callvault.QualityAggregate) ([]callvault.QualityGroup, error) {
	if tenant == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	}
	if from, to, dim, ok := Rollable(q); ok {
		if !q.Stale {
			if err := src.RefreshDays(ctx, tenant, from, to); err != nil {
				return nil, err
			}
		}
		var gen int64
		if err := src.each(ctx, src.Generation, []any{tenant}, []any{&gen}, nop); err != nil {
			return nil, err
		}
		key := CacheKey{Store: store, Tenant: tenant, Gen: gen, Q: Key(q)}
		if groups, ok := cache.Get(key); ok {
			return groups, nil
		}
		// The days are read in parts, one a CPU, at once: a period over a
		// million sessions adds up hundreds of thousands of rows of its
		// worst subnets.
		parts := splitDays(from, to, runtime.GOMAXPROCS(0))
		sums := make([]*rollupSum, len(parts))
		errs := make([]error, len(parts))
		var wg sync.WaitGroup
		for i, p := range parts {
			sums[i] = newRollupSum(q)
			wg.Go(func() {
				x := RollupRow{Dim: dim}
				errs[i] = src.eachRollup(ctx, tenant, dim, p[0], p[1], q.Media, func(day int64, value, media string, counts []byte) error {
					x.Day, x.Value, x.Media = day, value, media
					if err := UnpackCounts(&x.Group, counts); err != nil {
						return err
					}
					sums[i].add(&x) // which copies what it keeps (Groups.get)
					return nil
				})
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		for _, s := range sums[1:] {
			sums[0].merge(s)
		}
		// In the order of their keys, as the analytics sort them: sorting
		// them there on every answer kept, from the order the days gave
		// them, cost a third more than sorted ones.
		groups := sums[0].result()
		cache.Put(key, groups)
		return groups, nil
	}
	streams, legs, args, err := Build(src.Dialect, tenant, q)
	if err != nil {
		return nil, callvault.Errorf(callvault.EINVALID, "%v", err)
	}
	g := NewGroups(len(q.By))
	for _, part := range []struct {
		sql     string
		targets func() ([]any, func())
	}{{streams, g.StreamTargets}, {legs, g.LegTargets}} {
		if part.sql == "" {
			continue
		}
		dest, add := part.targets()
		if err := src.each(ctx, part.sql, args, dest, func() error { add(); return nil }); err != nil {
			return nil, err
		}
	}
	return g.Result(), nil
}

func nop() error { return nil }

// eachRollup is src.EachRollup, or, for a store without it, the same read
// a day at a time through RollupDay or RollupDayAll.
func (src *Source) eachRollup(ctx context.Context, tenant, dim string, from, to int64, media string,
	fn func(day int64, value, media string, counts []byte) error) error {
	if src.EachRollup != nil {
		return src.EachRollup(ctx, tenant, dim, from, to, media, fn)
	}
	query, byMedia := src.RollupDay, []any{media}
	if media == "" {
		query, byMedia = src.RollupDayAll, nil
	}
	var value, m string
	var counts []byte
	for day := from; day < to; day++ {
		if err := src.each(ctx, query, append([]any{tenant, dim, day}, byMedia...), []any{&value, &m, &counts}, func() error {
			return fn(day, value, m, counts)
		}); err != nil {
			return err
		}
	}
	return nil
}

// minDaysAPart is the fewest days splitDays gives a part: a shorter period
// costs less than starting another statement.
const minDaysAPart = 4

// splitDays splits the days [from, to) into at most n consecutive parts of
// whole days, in order, each of at least minDaysAPart days but when there
// is one part.
func splitDays(from, to int64, n int) [][2]int64 {
	days := to - from
	n = int(min(int64(max(n, 1)), max(days/minDaysAPart, 1)))
	parts := make([][2]int64, 0, n)
	for i := range int64(n) {
		parts = append(parts, [2]int64{from + days*i/int64(n), from + days*(i+1)/int64(n)})
	}
	return parts
}
