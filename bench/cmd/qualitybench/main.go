// Command qualitybench measures the web view's pages over many sessions:
// the overview's queries and a breakdown, answered from the daily rollup,
// beside the same queries counted by a full scan of the stream rows.
//
//	go run ./bench/cmd/qualitybench -sessions 1000000 -db /tmp/quality-1m.db
//	go run ./bench/cmd/qualitybench -postgres postgres://root@127.0.0.1:5432/qualitybench?sslmode=disable
//
// It generates records (package synth) over the 28 days before -to and
// imports them into a SQLite database, or with -postgres into a
// PostgreSQL database on this machine, unless the database already has
// them (the import of a million sessions takes minutes). Then it times,
// each -runs times and printing the best and the median:
//
//   - the first overview, which computes the rollup of the dirty days;
//   - the overview (its five queries, as ui.OverviewQueries makes them),
//     again (from the answers the store keeps) and over a new period;
//   - a breakdown by the Second endpoint's platform, and by building;
//   - the web view's pages over HTTP (on 127.0.0.1): the overview, a
//     breakdown by building, the list of calls and the latest call's page;
//   - the overview again by a full scan of the rows (the analytics' pass
//     over VisitQualityStreams, as without a rollup).
//
// -cpuprofile FILE writes a CPU profile of the overviews over new periods,
// the cold answers from the rollup.
//
// Everything stays on this machine: the pages are served and asked for on
// 127.0.0.1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/internal/loopback"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
	"github.com/callvault/callvault/ui"
	"github.com/jackc/pgx/v5"
)

const tenant = "9b1c2f4e-0b8a-4c9e-8f3a-5d6e7f8a9b0c"

// buildings maps the generator's client subnets (10.x) onto two buildings.
const buildings = "10.0.0.0,Corp/A,9,Building A,Contoso,Office,Engineering,Seattle,98001,US,WA,NA,1,0,0\n" +
	"10.128.0.0,Corp/B,9,Building B,Contoso,Office,Sales,Paris,75001,FR,,EMEA,1,0\n"

func main() {
	sessions := flag.Int("sessions", 1000000, "generate records until they hold at least this many sessions")
	path := flag.String("db", "", "the SQLite database: used as it is when it has records, else filled (default: a temporary file)")
	toFlag := flag.String("to", "2026-08-03", "the day after the 28 days the records span")
	runs := flag.Int("runs", 5, "times each measurement runs")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the overviews over new periods to this file")
	pgURL := flag.String("postgres", "", "measure PostgreSQL instead of SQLite: an existing database on this machine, by `URL` (filled when it has no records)")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()
	to, err := time.Parse(time.DateOnly, *toFlag)
	if err != nil {
		log.Fatal(err)
	}
	from := to.AddDate(0, 0, -28)
	var db benchStore
	if *pgURL != "" {
		if err := loopback.PostgresURL(*pgURL); err != nil {
			log.Fatalf("-postgres: %v", err)
		}
		pg, err := postgres.Open(ctx, *pgURL)
		if err != nil {
			log.Fatal(err)
		}
		db = pg
	} else if *path == "" {
		d, err := os.MkdirTemp("", "qualitybench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*path = d + "/quality.db"
	}
	if db == nil {
		lite, err := sqlite.Open(ctx, *path)
		if err != nil {
			log.Fatal(err)
		}
		db = lite
	}
	defer db.Close()
	var n int
	if err := db.VisitQualityStreams(ctx, tenant, callvault.TimeRange{}, func(*callvault.QualityStream) error {
		n++
		return io.EOF
	}); err != nil && !errors.Is(err, io.EOF) {
		log.Fatal(err)
	}
	if n == 0 {
		if err := fill(ctx, db, *sessions, from, to); err != nil {
			log.Fatal(err)
		}
	}
	if *pgURL != "" {
		// The planner's statistics, as autovacuum keeps them (a server
		// with it off has none after the import).
		if err := analyze(ctx, *pgURL); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := analytics.ImportFile(ctx, db, tenant, callvault.FileBuildings, []byte(buildings)); err != nil {
		log.Fatal(err)
	}
	files, err := analytics.LoadFiles(ctx, db, tenant)
	if err != nil {
		log.Fatal(err)
	}
	var streams int
	if err := db.VisitQualityStreams(ctx, tenant, callvault.TimeRange{From: from, FromInclusive: true, To: to}, func(*callvault.QualityStream) error {
		streams++
		return nil
	}); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d streams from %s to %s, GOMAXPROCS %d\n", streams, from.Format(time.DateOnly), to.Format(time.DateOnly), runtime.GOMAXPROCS(0))

	overview := ui.OverviewQueries(from, to)
	run := func(store callvault.QualityStore, qs []analytics.Query) {
		if _, err := analytics.RunAll(ctx, store, tenant, files, qs); err != nil {
			log.Fatal(err)
		}
	}
	// Wall time on a shared machine waits for the processor; the CPU time
	// (user and system, of the whole process) is printed beside it.
	measure := func(name string, runs int, fn func()) {
		var ds, cs []time.Duration
		for range runs {
			t0, c0 := time.Now(), cpu()
			fn()
			ds, cs = append(ds, time.Since(t0)), append(cs, cpu()-c0)
		}
		slices.Sort(ds)
		slices.Sort(cs)
		r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
		fmt.Printf("%-36s wall best %8s median %8s, CPU best %8s median %8s (%d runs)\n", name, r(ds[0]), r(ds[len(ds)/2]), r(cs[0]), r(cs[len(cs)/2]), runs)
	}
	measure("first overview (computes the rollup)", 1, func() { run(db, overview) })
	measure("overview, rollup", *runs, func() { run(db, overview) })
	// Each run a period not asked before: the answer is added up from the
	// rollup's days, not taken from the answers kept in memory.
	shift := 0
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	measure("overview, rollup, a new period", *runs, func() {
		shift++
		run(db, ui.OverviewQueries(from.AddDate(0, 0, shift), to))
	})
	if *profile != "" {
		pprof.StopCPUProfile()
	}
	for _, dim := range []string{"second.platform", "second.building"} {
		q := []analytics.Query{{From: from, To: to, Media: callvault.MediaAudio, By: []string{dim}}}
		measure("breakdown "+dim+", rollup", *runs, func() { run(db, q) })
	}
	pages(ctx, db, from, to, measure, *runs)
	measure("overview, full scan", 1, func() { run(scanOnly{db}, overview) })
}

// pages times the web view's pages over HTTP, on a server on 127.0.0.1
// that this process runs: the overview, a breakdown, the list of calls and
// the page of the latest call.
func pages(ctx context.Context, db benchStore, from, to time.Time, measure func(string, int, func()), runs int) {
	keys, err := os.MkdirTemp("", "qualitybench-keys-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(keys)
	signer, err := auth.LoadOrCreateSigner(keys)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	web := &ui.Server{Store: db, Quality: db, Signer: signer}
	if err := web.Mount(mux); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // loopback only
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	link, err := ui.Link(signer, base, tenant)
	if err != nil {
		log.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Minute}
	get := func(path string) string {
		res, err := client.Get(base + path)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			log.Fatalf("GET %s: %s", path, res.Status)
		}
		return string(b)
	}
	get(strings.TrimPrefix(link, base))
	q := "?from=" + from.Format(time.DateOnly) + "&to=" + to.Format(time.DateOnly)
	var latest string
	measure("page /ui/ (overview)", runs, func() { get("/ui/" + q) })
	measure("page /ui/breakdown (by building)", runs, func() { get("/ui/breakdown" + q + "&by=second.building") })
	measure("page /ui/calls (the latest 500)", runs, func() {
		body := get("/ui/calls" + q)
		if i := strings.Index(body, `href="/ui/calls/`); i >= 0 {
			latest, _, _ = strings.Cut(body[i+len(`href="/ui/calls/`):], `"`)
		}
	})
	if latest != "" {
		measure("page /ui/calls/{id} (the latest call)", runs, func() { get("/ui/calls/" + latest) })
	}
}

// benchStore is what both stores are to this program.
type benchStore interface {
	callvault.Store
	callvault.QualityStore
	Close() error
}

// analyze runs ANALYZE on the database of url.
func analyze(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "ANALYZE")
	return err
}

// scanOnly hides the store's aggregation: the analytics count the rows.
type scanOnly struct{ callvault.QualityStore }

// cpu returns the process's user and system time so far.
func cpu() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// fill imports generated records straight from the generator.
func fill(ctx context.Context, db callvault.Store, sessions int, from, to time.Time) error {
	probe, err := synth.Write(io.Discard, synth.Config{Tenant: tenant, Seed: 1, Records: 2000, From: from, To: to})
	if err != nil {
		return err
	}
	records := int(float64(sessions)/float64(probe.Sessions)*2000*1.02) + 1
	pr, pw := io.Pipe()
	go func() {
		_, err := synth.Write(pw, synth.Config{Tenant: tenant, Seed: 1, Records: records, From: from, To: to})
		pw.CloseWithError(err)
	}()
	t0 := time.Now()
	var st ingest.Stats
	im := &ingest.Importer{Store: db, Tenant: tenant}
	if err := im.Import(ctx, "generated", pr, &st); err != nil {
		return err
	}
	fmt.Printf("imported %d records in %s\n", records, time.Since(t0).Round(time.Second))
	return nil
}
