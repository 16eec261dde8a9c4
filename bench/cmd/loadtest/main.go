// Command loadtest measures callvault serve against the physical limit of
// serving the same responses on the same machine.
//
// In one run it generates a data set with package synth (-records call
// records, a meeting of -sessions sessions and meetings of the -rss sizes),
// imports it into a fresh data directory with the real "callvault import",
// starts the real "callvault serve" and, beside it, a baseline: a bare
// net/http server in a process of its own that answers each request with the
// bytes callvault answered it with, held in memory. Both are driven with the
// same closed-loop load (a fixed number of keep-alive connections for a
// fixed time, in alternating slices) over loopback, for each case:
//
//	page 1 of the big meeting with $expand=segments
//	page 1000 of it (reached by following @odata.nextLink), with $expand=segments
//	page 1 with $expand=segments asked for with Accept-Encoding: gzip (the
//	  baseline serves the same compressed bytes)
//	page 1 without $expand
//	page 1 with $select=id,startDateTime
//	a 404: the sessions of a record that does not exist
//
// It prints requests/s, p50 and p99 latency and the server's CPU per request
// per case and server, the ratio callvault/baseline against issue 17's
// targets, the compressed page's size against gzip -6, callvault's peak RSS
// (VmHWM), the same cases on callvault serve --db against the machine's
// PostgreSQL (-postgres; skipped with a message when it cannot be reached),
// a sweep of connection counts for the first case (to find where the
// baseline saturates), and the peak RSS of a fresh callvault paging through
// each meeting under load.
//
// Every address it listens on or connects to, the database's included, must
// be a loopback IP literal (127.0.0.0/8 or ::1); anything else is refused
// before anything starts.
//
//	go run ./bench/cmd/loadtest                 # the defaults take a few minutes
//	go run ./bench/cmd/loadtest -sweep "" -rss-duration 0 -duration 8s   # the cases only
//	go run ./bench/cmd/loadtest -duration 3s -sessions 6000 -records 200 -postgres ""   # a quick look
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/callvault/callvault/synth"
)

// The data set's fixed names.
const (
	tenant = "5eed1e55-0000-4000-8000-00000000be7c"
	bigID  = "b16b16b1-0000-4000-8000-000000000001"
	// The other meetings are b16b16b1-0000-4000-8000-0000000000NN, NN from 02.
	missingID = "b16b16b1-0000-4000-8000-000000000404"
	pageSize  = 60 // Graph's and callvault's page of sessions
	deepPage  = 1000
)

// Bounds on what one run may ask for: the load is on this machine.
const (
	maxConns    = 256
	maxDuration = 10 * time.Minute
	maxRequests = 20_000_000
	maxRecords  = 200_000
	maxSessions = 200_000
)

type config struct {
	records, sessions int
	rss               []int // sessions of the other meetings, paged to compare peak RSS
	duration, warmup  time.Duration
	sweepDuration     time.Duration
	rssDuration       time.Duration
	conns             int
	sweep             []int
	max               int64
	addr              string
	data              string
	binary            string
	logLevel          string
	keep              bool
	postgres          string // a database URL for the PostgreSQL cases; "" skips them
	rounds            int    // alternating slices of each case per server
}

func main() {
	var (
		c         config
		sweep     string
		rss       string
		responses string
	)
	flag.IntVar(&c.records, "records", 2000, "call records of the data set (synth.Write)")
	flag.IntVar(&c.sessions, "sessions", 60000, "sessions of the big meeting (synth.RecordWithSessions); the deep page is page 1000, or the last page when there are fewer")
	flag.StringVar(&rss, "rss", "100,6000", "sessions of the smaller meetings, each paged like the big one by a fresh server to compare peak RSS")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured time of each case, per server")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured load before each measured run")
	flag.IntVar(&c.rounds, "rounds", 2, "measure each case in this many alternating slices per server (baseline, callvault, baseline, …),\nso that other work on the machine weighs on both alike")
	flag.IntVar(&c.conns, "conns", 8, "connections (closed loop: each sends its next request when the last response is read)")
	flag.StringVar(&sweep, "sweep", "1,2,4,8,16,32", "connection counts for the saturation sweep of the first case; empty skips it")
	flag.DurationVar(&c.sweepDuration, "sweep-duration", 4*time.Second, "measured time of each point of the sweep, per server")
	flag.DurationVar(&c.rssDuration, "rss-duration", 10*time.Second, "time each fresh server pages through a meeting for the RSS comparison; 0 skips it")
	flag.Int64Var(&c.max, "max-requests", 5_000_000, "at most this many measured requests per run")
	flag.StringVar(&c.addr, "addr", "127.0.0.1:0", "the loopback `host:port` both servers listen on (port 0: a free one each)")
	flag.StringVar(&c.data, "data", "", "a data `directory` to keep: generated on the first run, reused by runs with the same sizes (default: a fresh temporary one, removed)")
	flag.StringVar(&c.binary, "callvault", "", "a callvault `binary` to measure (default: go build ./cmd/callvault)")
	flag.StringVar(&c.logLevel, "log-level", "info", "callvault serve --log-level; its log goes to a file in the work directory")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary work directory")
	flag.StringVar(&c.postgres, "postgres", defaultPostgres, "measure the cases on callvault serve --db this loopback PostgreSQL `URL` too (the database is created if missing\nand filled on the first run; unreachable: skipped with a message); empty skips them")
	flag.StringVar(&responses, "baseline-responses", "", "internal: serve these captured responses as the baseline")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected argument %q", flag.Arg(0)))
	}
	if responses != "" {
		if err := serveBaseline(responses, c.addr); err != nil {
			fail(err)
		}
		return
	}
	var err error
	if c.sweep, err = parseInts(sweep); err != nil {
		fail(fmt.Errorf("-sweep: %w", err))
	}
	if c.rss, err = parseInts(rss); err != nil {
		fail(fmt.Errorf("-rss: %w", err))
	}
	if err := c.validate(); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout, os.Stderr); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadtest:", err)
	os.Exit(1)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// validate refuses what is not loopback and what is unbounded.
func (c *config) validate() error {
	if err := loopbackAddr(c.addr); err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if c.postgres != "" {
		if _, err := checkPostgresURL(c.postgres); err != nil {
			return fmt.Errorf("-postgres: %w", err)
		}
	}
	for _, n := range append([]int{c.conns}, c.sweep...) {
		if n < 1 || n > maxConns {
			return fmt.Errorf("connections must be 1 to %d, not %d", maxConns, n)
		}
	}
	for name, d := range map[string]time.Duration{"-duration": c.duration, "-sweep-duration": c.sweepDuration} {
		if d <= 0 || d > maxDuration {
			return fmt.Errorf("%s must be more than 0 and at most %s", name, maxDuration)
		}
	}
	for name, d := range map[string]time.Duration{"-warmup": c.warmup, "-rss-duration": c.rssDuration} {
		if d < 0 || d > maxDuration {
			return fmt.Errorf("%s must be 0 to %s", name, maxDuration)
		}
	}
	switch {
	case c.rounds < 1 || c.rounds > 10:
		return fmt.Errorf("-rounds must be 1 to 10")
	case c.max < 1 || c.max > maxRequests:
		return fmt.Errorf("-max-requests must be 1 to %d", maxRequests)
	case c.records < 0 || c.records > maxRecords:
		return fmt.Errorf("-records must be 0 to %d", maxRecords)
	case c.sessions < 2*pageSize || c.sessions > maxSessions:
		return fmt.Errorf("-sessions must be %d to %d", 2*pageSize, maxSessions)
	case len(c.rss) > 8:
		return fmt.Errorf("-rss names at most 8 meetings")
	}
	for _, n := range c.rss {
		if n > maxSessions {
			return fmt.Errorf("-rss: meetings have at most %d sessions", maxSessions)
		}
	}
	return nil
}

// measurement is one case on both servers.
type measurement struct {
	name      string
	conns     int
	baseline  result
	callvault result
	peak      int64 // callvault's VmHWM during its run; 0 when unknown
	bytes     int   // response size
}

func (m measurement) ratio() float64 {
	if m.baseline.rate() == 0 {
		return 0
	}
	return m.callvault.rate() / m.baseline.rate()
}

func run(ctx context.Context, c config, stdout, stderr io.Writer) (err error) {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	load0 := loadAverage()
	work, err := os.MkdirTemp("", "callvault-loadtest-")
	if err != nil {
		return err
	}
	if c.keep {
		logf("work directory %s (kept)", work)
	} else {
		defer os.RemoveAll(work)
	}

	bin := c.binary
	if bin == "" {
		bin = filepath.Join(work, "callvault")
		logf("building callvault")
		if err := buildCallvault(ctx, bin); err != nil {
			return err
		}
	}
	data := c.data
	if data == "" {
		data = filepath.Join(work, "data")
	}
	if err := prepareData(ctx, c, bin, data, work, logf); err != nil {
		return err
	}
	if err := migrate(ctx, bin, []string{"--data", data}, logf); err != nil {
		return err
	}
	token, err := output(ctx, bin, "token", "--data", data, "--tenant", tenant, "--ttl", "24h")
	if err != nil {
		return err
	}
	header := http.Header{"Authorization": {"Bearer " + lastLine(token)}}

	serveLog, err := os.Create(filepath.Join(work, "serve.log"))
	if err != nil {
		return err
	}
	defer serveLog.Close()
	startCallvault := func() (*server, error) {
		return startServer("callvault", exec.Command(bin, "serve", "--data", data, "--addr", c.addr, "--log-level", c.logLevel), "callvault listening on ", serveLog)
	}
	cv, err := startCallvault()
	if err != nil {
		return err
	}
	defer cv.stop()
	logf("callvault serve pid %d on %s", cv.cmd.Process.Pid, cv.addr)

	cases, deep, err := capture(ctx, c, cv, header, logf)
	if err != nil {
		return err
	}
	var rs []response
	for _, tc := range cases {
		rs = append(rs, response{RequestURI: tc.uri, AcceptEncoding: tc.acceptEncoding, Status: tc.expect.Status, Body: tc.expect.Body, Header: tc.expect.header})
	}
	respFile := filepath.Join(work, "responses.gob")
	if err := writeResponses(respFile, rs); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	base, err := startServer("baseline", exec.Command(self, "-baseline-responses", respFile, "-addr", c.addr), baselineBanner, stderr)
	if err != nil {
		return err
	}
	defer base.stop()
	logf("baseline pid %d on %s", base.cmd.Process.Pid, base.addr)

	// both measures a case on the baseline and on callvault in c.rounds
	// alternating slices of d/c.rounds each, so that other work on the
	// machine, which comes and goes, weighs on both alike.
	both := func(tc testCase, conns int, d time.Duration) (measurement, error) {
		m := measurement{name: tc.name, conns: conns, bytes: len(tc.expect.Body)}
		resetPeak(cv.cmd.Process.Pid)
		for round := range c.rounds {
			for _, s := range []*server{base, cv} {
				l := &load{url: s.url(tc.uri), pid: s.cmd.Process.Pid, header: tc.headers(header), expect: tc.expect.expected, conns: conns, warmup: c.warmup, duration: d / time.Duration(c.rounds), max: c.max}
				r := l.run(ctx)
				if ctx.Err() != nil {
					return m, ctx.Err()
				}
				if r.errors > 0 {
					return m, fmt.Errorf("%s, %s: %d of %d requests failed; the first: %v", tc.name, s.name, r.errors, r.errors+r.requests, r.firstErr)
				}
				if s == cv {
					m.callvault = m.callvault.add(r)
					if mem, err := readMemory(cv.cmd.Process.Pid); err == nil {
						m.peak = mem.peak
					}
				} else {
					m.baseline = m.baseline.add(r)
				}
				logf("  %-34s %-9s %3d conns %7.0f req/s  p50 %8s  p99 %8s  CPU %s/req  load %.1f  (round %d of %d)", tc.name, s.name, conns, r.rate(), ms(r.quantile(0.5)), ms(r.quantile(0.99)), us(r.cpuPerRequest()), loadAverage(), round+1, c.rounds)
			}
		}
		return m, nil
	}

	var sweep []measurement
	if len(c.sweep) > 0 {
		logf("saturation sweep: %s", cases[0].name)
		for _, n := range c.sweep {
			m, err := both(cases[0], n, c.sweepDuration)
			if err != nil {
				return err
			}
			sweep = append(sweep, m)
		}
	}
	logf("cases at %d connections", c.conns)
	var results []measurement
	for _, tc := range cases {
		m, err := both(tc, c.conns, c.duration)
		if err != nil {
			return err
		}
		results = append(results, m)
	}
	mem, err := readMemory(cv.cmd.Process.Pid)
	if err != nil {
		return err
	}
	// The per-case readings reset VmHWM: the run's peak is the largest.
	for _, m := range append(sweep, results...) {
		mem.peak = max(mem.peak, m.peak)
	}
	base.stop()
	cv.stop()

	pg := postgresRun{skipped: "not asked for (-postgres \"\")"}
	if c.postgres != "" {
		if pg, err = runPostgres(ctx, c, bin, work, cases, results, serveLog, logf); err != nil {
			return err
		}
	}

	var rss []rssRun
	if c.rssDuration > 0 {
		for _, rec := range c.meetings() {
			r, err := pageThrough(ctx, c, startCallvault, rec.ID, rec.Sessions, header, logf)
			if err != nil {
				return err
			}
			rss = append(rss, r)
		}
	}

	report(stdout, c, sweep, results, mem, rss, deep, compressionOf(ctx, cases), pg, [2]float64{load0, loadAverage()})
	return nil
}

// expectedResponse is a captured response: what the load checks and what the
// baseline replays.
type expectedResponse struct {
	*expected
	header http.Header
}

// capture resolves the cases' URIs (the deep page by following next links)
// and records callvault's response to each.
func capture(ctx context.Context, c config, cv *server, header http.Header, logf func(string, ...any)) ([]testCase, int, error) {
	sessions := "/v1.0/communications/callRecords/" + bigID + "/sessions"
	pages := (c.sessions + pageSize - 1) / pageSize
	deep := min(deepPage, pages)
	logf("following next links to page %d of %d", deep, pages)
	uri := sessions + "?$expand=segments"
	for page := 1; page < deep; page++ {
		status, _, body, err := fetch(ctx, cv.url(uri), header)
		if err != nil {
			return nil, 0, err
		}
		if status != http.StatusOK {
			return nil, 0, fmt.Errorf("page %d: status %d: %.300s", page, status, body)
		}
		next := nextLink(body)
		if next == "" {
			return nil, 0, fmt.Errorf("page %d has no next link", page)
		}
		u, err := loopbackURL(next)
		if err != nil {
			return nil, 0, fmt.Errorf("page %d: next link: %w", page, err)
		}
		if u.Host != cv.addr {
			return nil, 0, fmt.Errorf("page %d: the next link %s leaves the server under test", page, next)
		}
		uri = u.RequestURI()
	}
	cases := []testCase{
		{name: "page 1, $expand=segments", uri: sessions + "?$expand=segments", status: http.StatusOK},
		{name: fmt.Sprintf("page %d, $expand=segments", deep), uri: uri, status: http.StatusOK},
		{name: "page 1, $expand=segments, gzip", uri: sessions + "?$expand=segments", acceptEncoding: "gzip", status: http.StatusOK},
		{name: "page 1, no $expand", uri: sessions, status: http.StatusOK},
		{name: "page 1, $select=id,startDateTime", uri: sessions + "?$select=id,startDateTime", status: http.StatusOK},
		{name: "404, unknown record", uri: "/v1.0/communications/callRecords/" + missingID + "/sessions", status: http.StatusNotFound},
	}
	kept := cases[:0]
	for i := range cases {
		tc := &cases[i]
		status, h, body, err := fetch(ctx, cv.url(tc.uri), tc.headers(header))
		if err != nil {
			return nil, 0, err
		}
		if tc.acceptEncoding != "" && h.Get("Content-Encoding") != "gzip" {
			// A build from before compression (-callvault): nothing to compare.
			logf("  %-34s not compressed (Content-Encoding %q): skipped", tc.name, h.Get("Content-Encoding"))
			continue
		}
		if status != tc.status {
			return nil, 0, fmt.Errorf("%s: status %d, want %d: %.300s", tc.name, status, tc.status, body)
		}
		tc.expect = &expectedResponse{expected: &expected{Status: status, Body: body}, header: h}
		logf("  %-34s %d, %d bytes", tc.name, status, len(body))
		kept = append(kept, *tc)
	}
	return kept, deep, nil
}

// meeting is one generated meeting.
type meeting struct {
	ID       string `json:"id"`
	Sessions int    `json:"sessions"`
}

// meetings returns the meetings of the data set, the big one last.
func (c *config) meetings() []meeting {
	var ms []meeting
	for i, n := range c.rss {
		ms = append(ms, meeting{fmt.Sprintf("b16b16b1-0000-4000-8000-0000000000%02d", i+2), n})
	}
	return append(ms, meeting{bigID, c.sessions})
}

// testCase is one request both servers are driven with.
type testCase struct {
	name           string
	uri            string // path and query, as sent
	acceptEncoding string // sent as Accept-Encoding when not empty; the body is then compared compressed
	status         int
	expect         *expectedResponse
}

// headers returns the request headers of the case: common and its own.
func (tc *testCase) headers(common http.Header) http.Header {
	h := common.Clone()
	if tc.acceptEncoding != "" {
		h.Set("Accept-Encoding", tc.acceptEncoding)
	}
	return h
}

// rssRun is a fresh callvault paging through one meeting under load.
type rssRun struct {
	sessions int
	pages    int64
	rate     float64
	mem      memory
}

// pageThrough starts a fresh callvault and has every connection walk all
// pages of a meeting ($expand=segments), again and again, for c.rssDuration;
// then it reads the process's peak RSS.
func pageThrough(ctx context.Context, c config, start func() (*server, error), id string, sessions int, header http.Header, logf func(string, ...any)) (rssRun, error) {
	s, err := start()
	if err != nil {
		return rssRun{}, err
	}
	defer s.stop()
	first := s.url("/v1.0/communications/callRecords/" + id + "/sessions?$expand=segments")
	l := &load{url: first, pid: s.cmd.Process.Pid, header: header, conns: c.conns, duration: c.rssDuration, max: c.max,
		next: func(body []byte) string {
			next := nextLink(body)
			if u, err := loopbackURL(next); err != nil || u.Host != s.addr {
				return "" // the end of the walk (or a link this program will not follow)
			}
			return next
		}}
	r := l.run(ctx)
	if r.errors > 0 {
		return rssRun{}, fmt.Errorf("paging %d sessions: %d requests failed; the first: %v", sessions, r.errors, r.firstErr)
	}
	mem, err := readMemory(s.cmd.Process.Pid)
	if err != nil {
		return rssRun{}, err
	}
	logf("  paging a %d-session meeting: %.0f pages/s, peak RSS %s", sessions, r.rate(), mib(mem.peak))
	return rssRun{sessions: sessions, pages: r.requests, rate: r.rate(), mem: mem}, nil
}

// prepareData generates and imports the data set, unless dir already holds
// the same one.
func prepareData(ctx context.Context, c config, bin, dir, work string, logf func(string, ...any)) error {
	marker := filepath.Join(dir, "loadtest.json")
	want, _ := json.Marshal(map[string]any{"tenant": tenant, "records": c.records, "meetings": c.meetings()})
	if have, err := os.ReadFile(marker); err == nil {
		if string(have) == string(want) {
			logf("reusing the data set in %s", dir)
			return nil
		}
		return fmt.Errorf("%s holds another data set (%s); use another -data", dir, have)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("-data %s is not empty and holds no data set of this program", dir)
	}
	if err := importDataSet(ctx, c, bin, filepath.Join(work, "gen"), []string{"--data", dir}, logf); err != nil {
		return err
	}
	return os.WriteFile(marker, want, 0o600)
}

// importDataSet generates the data set's files in gen (removed after) and
// imports them with callvault import and the store flags given.
func importDataSet(ctx context.Context, c config, bin, gen string, store []string, logf func(string, ...any)) error {
	if err := os.MkdirAll(gen, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(gen)
	files, err := generate(c, gen, logf)
	if err != nil {
		return err
	}
	logf("importing with callvault import %s", store[0])
	args := append(append([]string{"import"}, store...), "--tenant", tenant, "--progress", "0")
	out, err := output(ctx, bin, append(args, files...)...)
	if err != nil {
		return err
	}
	logf("  %s", strings.TrimSpace(out))
	return nil
}

// migrate runs callvault migrate on a store before a server starts on it.
// serve migrates a store it opens, and computes the daily rollup of call
// quality in the background (a migration may have made every day of it
// dirty); migrate does both now, so that the first case does not measure
// them beside its requests, on a new data set or a reused one.
func migrate(ctx context.Context, bin string, store []string, logf func(string, ...any)) error {
	start := time.Now()
	if _, err := output(ctx, bin, append([]string{"migrate"}, store...)...); err != nil {
		return err
	}
	logf("  migrated, and the quality rollup computed (callvault migrate), in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// generate writes the data set's files into gen and returns their paths.
func generate(c config, gen string, logf func(string, ...any)) ([]string, error) {
	logf("generating %d records", c.records)
	recs := filepath.Join(gen, "records.jsonl")
	f, err := os.Create(recs)
	if err != nil {
		return nil, err
	}
	st, err := synth.Write(f, synth.Config{Tenant: tenant, Seed: 1, Records: c.records})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	logf("  %d records, %d sessions, %d segments, %s", st.Records, st.Sessions, st.Segments, mib(st.Bytes))
	files := []string{recs}
	for _, m := range c.meetings() {
		logf("generating a meeting of %d sessions", m.Sessions)
		path := filepath.Join(gen, m.ID+".json")
		if err := os.WriteFile(path, synth.RecordWithSessions(tenant, 2, m.ID, m.Sessions), 0o600); err != nil {
			return nil, err
		}
		runtime.GC() // the big one is hundreds of MiB
		files = append(files, path)
	}
	return files, nil
}

// compression is the gzip case's body against gzip -6 of the same page.
type compression struct {
	plain, served, reference int
	tool                     string // what made reference
}

// compressionOf compares the compressed page callvault served with what
// gzip -6 makes of the plain one (GNU gzip when on PATH, else Go's
// compress/gzip at level 6).
func compressionOf(ctx context.Context, cases []testCase) compression {
	var plain, served []byte
	for _, tc := range cases {
		if tc.uri == cases[0].uri && tc.acceptEncoding == "" {
			plain = tc.expect.Body
		} else if tc.uri == cases[0].uri && tc.acceptEncoding != "" {
			served = tc.expect.Body
		}
	}
	c := compression{plain: len(plain), served: len(served)}
	if path, err := exec.LookPath("gzip"); err == nil {
		cmd := exec.CommandContext(ctx, path, "-6", "-n", "-c")
		cmd.Stdin = bytes.NewReader(plain)
		if out, err := cmd.Output(); err == nil {
			c.reference, c.tool = len(out), "gzip -6 -n"
			return c
		}
	}
	var b bytes.Buffer
	z, _ := gzip.NewWriterLevel(&b, 6)
	z.Write(plain)
	z.Close()
	c.reference, c.tool = b.Len(), "Go's compress/gzip at level 6 (no gzip on PATH)"
	return c
}

// buildCallvault builds ./cmd/callvault of the module this program belongs to.
func buildCallvault(ctx context.Context, out string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return errors.New("run loadtest from inside the callvault module, or pass -callvault")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/callvault")
	cmd.Dir = filepath.Dir(mod)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// output runs the callvault binary to completion and returns its standard
// output.
func output(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("callvault %s: %v\n%s", args[0], err, stderr.String())
	}
	return string(out), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + " µs"
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}
