// Command pgscale measures the PostgreSQL store at scale: it loads millions
// of sessions into a time-partitioned database (and, with -plain, the same
// into an unpartitioned one), then times, on each, a page of sessions of a
// record in the newest and in the oldest month, a record's header, a
// $filter on startDateTime over a day and over a year, and forgetting the
// oldest month (DropExpired on the partitioned database; the DELETE it
// would otherwise take on the plain one), with the WAL each wrote, and the
// disk each took. docs/scaling.md has its figures.
//
//	go run ./bench/cmd/pgscale -sessions 5000000
//
// The rows are loaded with INSERT … SELECT generate_series, in batches, not
// through callvault import: what is measured is reading and forgetting at
// scale (bench/cmd/importbench measures the import). Each record has five
// sessions of one segment and two participants; start times are spread
// evenly over -months months up to now. The databases (pgscale_part,
// pgscale_plain) are dropped at the end unless -keep.
//
// The server must be on a loopback address: it refuses any other.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/loopback"
	"github.com/callvault/callvault/postgres"
	"github.com/jackc/pgx/v5"
)

func main() {
	admin := flag.String("db", "postgres://root@127.0.0.1:5432/postgres?sslmode=disable", "a loopback PostgreSQL server's `URL`, as a role that may create databases")
	sessions := flag.Int("sessions", 5_000_000, "how many sessions to load (five a record)")
	months := flag.Int("months", 12, "over how many months the records start")
	plain := flag.Bool("plain", true, "load and measure an unpartitioned database beside the partitioned one")
	reps := flag.Int("reps", 200, "how many times each read is timed")
	keep := flag.Bool("keep", false, "keep the databases")
	flag.Parse()
	if err := run(context.Background(), *admin, *sessions, *months, *plain, *reps, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "pgscale:", err)
		os.Exit(1)
	}
}

// Sizes of the generated rows' bodies, in bytes: smaller than Graph's
// typical sessions (a few KB with their streams), to keep the disk
// bounded; docs/scaling.md scales the disk figures up.
const (
	recordBody  = 900
	sessionBody = 600
	segmentBody = 400
	partBody    = 200
	perRecord   = 5 // sessions, each with one segment
	batch       = 20_000
	tenant      = "bench"
)

func run(ctx context.Context, admin string, sessions, months int, plain bool, reps int, keep bool) error {
	if err := loopback.PostgresURL(admin); err != nil {
		return fmt.Errorf("-db: %w (pgscale loads only this machine)", err)
	}
	records := sessions / perRecord
	now := time.Now().UTC()
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1-months, 0)
	step := now.Sub(first).Nanoseconds() / int64(records)
	fmt.Printf("pgscale: %d records, %d sessions, %d segments, %d participants from %s to %s\n",
		records, records*perRecord, records*perRecord, records*2, first.Format(time.DateOnly), now.Format(time.DateOnly))
	fmt.Printf("load average at start: %s\n", loadavg())

	kinds := []string{"part"}
	if plain {
		kinds = append(kinds, "plain")
	}
	results := map[string]*result{}
	for _, kind := range kinds {
		name := "pgscale_" + kind
		dsn, err := createDatabase(ctx, admin, name)
		if err != nil {
			return err
		}
		if !keep {
			defer dropDatabase(context.Background(), admin, name)
		}
		r, err := measure(ctx, dsn, kind == "part", records, first, step, months, reps)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results[kind] = r
	}
	report(results, kinds)
	fmt.Printf("load average at end: %s\n", loadavg())
	return nil
}

// result holds one database's figures.
type result struct {
	load                        time.Duration
	diskBytes                   int64
	sessionsNew, sessionsOld    []time.Duration
	headerNew, headerOld        []time.Duration
	dayPage, dayCount, yearPage []time.Duration
	yearCount                   []time.Duration
	retention                   time.Duration
	retentionWAL                int64
	retentionRows               int64
}

func measure(ctx context.Context, dsn string, partitioned bool, records int, first time.Time, step int64, months, reps int) (*result, error) {
	if partitioned {
		if err := postgres.Partition(ctx, dsn, nil); err != nil {
			return nil, err
		}
	}
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.EnsurePartitions(ctx, first, time.Now().AddDate(0, 1, 0)); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())

	r := &result{}
	start := time.Now()
	if err := load(ctx, conn, partitioned, records, first.UnixNano(), step); err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return nil, err
	}
	r.load = time.Since(start)
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&r.diskBytes); err != nil {
		return nil, err
	}
	fmt.Printf("  %s: loaded in %s, %.1f GiB, load average %s\n", map[bool]string{true: "partitioned", false: "plain"}[partitioned],
		r.load.Round(time.Second), float64(r.diskBytes)/(1<<30), loadavg())

	// Records of the oldest and of the newest month.
	perMonth := records / months
	id := func(i int) string { return fmt.Sprintf("r%09d", i) }
	oldest := func() string { return id(rand.IntN(perMonth)) }
	newest := func() string { return id(records - 1 - rand.IntN(perMonth)) }
	timed := func(n int, f func() error) ([]time.Duration, error) {
		for range min(20, n) { // warm-up
			if err := f(); err != nil {
				return nil, err
			}
		}
		d := make([]time.Duration, 0, n)
		for range n {
			t := time.Now()
			if err := f(); err != nil {
				return nil, err
			}
			d = append(d, time.Since(t))
		}
		return d, nil
	}
	page := func(pick func() string) func() error {
		return func() error {
			p, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: tenant, RecordID: pick(), Limit: 60, Segments: true})
			if err == nil && len(p.Sessions) != perRecord {
				err = fmt.Errorf("%d sessions, want %d", len(p.Sessions), perRecord)
			}
			return err
		}
	}
	header := func(pick func() string) func() error {
		return func() error { _, err := db.GetRecord(ctx, tenant, pick()); return err }
	}
	dayRange := func() callvault.TimeRange {
		d := first.AddDate(0, 0, rand.IntN(months*28))
		return callvault.TimeRange{From: d, FromInclusive: true, To: d.Add(24 * time.Hour)}
	}
	year := callvault.TimeRange{From: time.Now().AddDate(-1, 0, 0), FromInclusive: true, To: time.Now()}
	list := func(rng func() callvault.TimeRange) func() error {
		return func() error {
			p, err := db.ListRecords(ctx, callvault.RecordQuery{Tenant: tenant, Start: rng(), Limit: 60})
			if err == nil && len(p.Records) == 0 {
				err = errors.New("an empty page")
			}
			return err
		}
	}
	count := func(rng func() callvault.TimeRange) func() error {
		return func() error {
			_, err := db.CountRecords(ctx, callvault.RecordQuery{Tenant: tenant, Start: rng()})
			return err
		}
	}
	steps := []struct {
		into *[]time.Duration
		n    int
		f    func() error
	}{
		{&r.sessionsNew, reps, page(newest)},
		{&r.sessionsOld, reps, page(oldest)},
		{&r.headerNew, reps, header(newest)},
		{&r.headerOld, reps, header(oldest)},
		{&r.dayPage, reps, list(dayRange)},
		{&r.dayCount, reps / 4, count(dayRange)},
		{&r.yearPage, reps, list(func() callvault.TimeRange { return year })},
		{&r.yearCount, 3, count(func() callvault.TimeRange { return year })},
	}
	for _, s := range steps {
		if *s.into, err = timed(s.n, s.f); err != nil {
			return nil, err
		}
	}

	// Forget the oldest month: every record of it has ended by the start of
	// the next month plus an hour.
	notBefore := first.AddDate(0, 1, 0).Add(time.Hour)
	var before string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::TEXT").Scan(&before); err != nil {
		return nil, err
	}
	start = time.Now()
	if partitioned {
		dropped, err := db.DropExpired(ctx, notBefore)
		if err != nil {
			return nil, err
		} else if len(dropped) != 1 {
			return nil, fmt.Errorf("dropped %v, want the oldest month", dropped)
		}
	} else if r.retentionRows, err = deleteBefore(ctx, conn, notBefore.UnixNano()); err != nil {
		return nil, err
	}
	r.retention = time.Since(start)
	if err := conn.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::TEXT::pg_lsn)::BIGINT", before).Scan(&r.retentionWAL); err != nil {
		return nil, err
	}
	return r, nil
}

// deleteBefore deletes, in one transaction, the records (and their rows)
// that ended before limit: what forgetting a month costs without
// partitions. It returns how many rows it deleted.
func deleteBefore(ctx context.Context, conn *pgx.Conn, limit int64) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, t := range []string{"segments", "sessions", "participants"} {
			tag, err := tx.Exec(ctx, `DELETE FROM `+t+` AS x USING call_records AS c
				WHERE c.tenant = $1 AND c.end_time < $2 AND x.tenant = c.tenant AND x.record_id = c.id`, tenant, limit)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		tag, err := tx.Exec(ctx, `DELETE FROM call_records WHERE tenant = $1 AND end_time < $2`, tenant, limit)
		n += tag.RowsAffected()
		return err
	})
	return n, err
}

// load inserts the records in batches, with the schema's columns.
func load(ctx context.Context, conn *pgx.Conn, partitioned bool, records int, first, step int64) error {
	rt, rtv := "", ""
	if partitioned {
		rt, rtv = "record_time, ", "$3::BIGINT + i * $4::BIGINT, "
	}
	body := func(n int, c byte) []byte { return []byte(`{"x":"` + strings.Repeat(string(c), n-8) + `"}`) }
	id := `'r' || lpad(i::TEXT, 9, '0')`
	stmts := []struct {
		sql  string
		body []byte
	}{
		{`INSERT INTO call_records (tenant, id, version, start_time, end_time, body, organizer, session_count, participant_count)
			SELECT '` + tenant + `', ` + id + `, 1, $3::BIGINT + i * $4::BIGINT, $3::BIGINT + i * $4::BIGINT + 600000000000, $5, NULL, 5, 2
			FROM generate_series($1::BIGINT, $2::BIGINT) AS i`, body(recordBody, 'r')},
		{`INSERT INTO sessions (tenant, record_id, ` + rt + `seq, id, body, render)
			SELECT '` + tenant + `', ` + id + `, ` + rtv + `s, 's' || s, $5, NULL
			FROM generate_series($1::BIGINT, $2::BIGINT) AS i, generate_series(1, 5) AS s
			WHERE $3::BIGINT IS NOT NULL AND $4::BIGINT IS NOT NULL`, body(sessionBody, 's')},
		{`INSERT INTO segments (tenant, record_id, ` + rt + `session_seq, seq, id, body, render)
			SELECT '` + tenant + `', ` + id + `, ` + rtv + `s, 1, 'g', $5, NULL
			FROM generate_series($1::BIGINT, $2::BIGINT) AS i, generate_series(1, 5) AS s
			WHERE $3::BIGINT IS NOT NULL AND $4::BIGINT IS NOT NULL`, body(segmentBody, 'g')},
		{`INSERT INTO participants (tenant, record_id, ` + rt + `seq, id, body, record_start, record_end)
			SELECT '` + tenant + `', ` + id + `, ` + rtv + `p, 'user-' || ((i * 7 + p * 13) % 5000), $5,
				$3::BIGINT + i * $4::BIGINT, $3::BIGINT + i * $4::BIGINT + 600000000000
			FROM generate_series($1::BIGINT, $2::BIGINT) AS i, generate_series(1, 2) AS p`, body(partBody, 'p')},
	}
	start := time.Now()
	for lo := 0; lo < records; lo += batch {
		hi := min(lo+batch, records) - 1
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, s := range stmts {
				if _, err := tx.Exec(ctx, s.sql, lo, hi, first, step, s.body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if (hi+1)%(10*batch) == 0 || hi == records-1 {
			fmt.Fprintf(os.Stderr, "    %d of %d records, %s\n", hi+1, records, time.Since(start).Round(time.Second))
		}
	}
	return nil
}

func report(results map[string]*result, kinds []string) {
	fmt.Println()
	head := "| | " + strings.Join(kinds, " | ") + " |"
	fmt.Println(strings.ReplaceAll(strings.ReplaceAll(head, "part", "partitioned"), "plain", "unpartitioned"))
	fmt.Println("|---" + strings.Repeat("|---", len(kinds)) + "|")
	row := func(label string, f func(r *result) string) {
		cells := []string{label}
		for _, k := range kinds {
			cells = append(cells, f(results[k]))
		}
		fmt.Println("| " + strings.Join(cells, " | ") + " |")
	}
	lat := func(f func(r *result) []time.Duration) func(r *result) string {
		return func(r *result) string { return quantiles(f(r)) }
	}
	row("load (INSERT … SELECT, then VACUUM ANALYZE)", func(r *result) string { return r.load.Round(time.Second).String() })
	row("database size", func(r *result) string { return fmt.Sprintf("%.1f GiB", float64(r.diskBytes)/(1<<30)) })
	row("page of sessions + segments, newest month (median / p95)", lat(func(r *result) []time.Duration { return r.sessionsNew }))
	row("page of sessions + segments, oldest month", lat(func(r *result) []time.Duration { return r.sessionsOld }))
	row("record header, newest month", lat(func(r *result) []time.Duration { return r.headerNew }))
	row("record header, oldest month", lat(func(r *result) []time.Duration { return r.headerOld }))
	row("$filter over a day, first page of 60", lat(func(r *result) []time.Duration { return r.dayPage }))
	row("$count over a day", lat(func(r *result) []time.Duration { return r.dayCount }))
	row("$filter over a year, first page of 60", lat(func(r *result) []time.Duration { return r.yearPage }))
	row("$count over a year", lat(func(r *result) []time.Duration { return r.yearCount }))
	row("forget the oldest month: time", func(r *result) string { return r.retention.Round(time.Millisecond).String() })
	row("forget the oldest month: WAL written", func(r *result) string { return fmt.Sprintf("%.1f MiB", float64(r.retentionWAL)/(1<<20)) })
}

// quantiles formats the median and the 95th percentile of d.
func quantiles(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("%s / %s", round(q(0.5)), round(q(0.95)))
}

func round(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// createDatabase makes the database name anew on the server at admin, and
// returns its URL.
func createDatabase(ctx context.Context, admin, name string) (string, error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String(), nil
}

func dropDatabase(ctx context.Context, admin, name string) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgscale: drop", name+":", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		fmt.Fprintln(os.Stderr, "pgscale: drop", name+":", err)
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
