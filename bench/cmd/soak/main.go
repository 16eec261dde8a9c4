// Command soak runs the real "callvault serve" under mixed load for a long
// time and checks that it holds: no error, flat memory, a clean stop.
//
// It generates -records call records with "callvault generate", imports
// them, starts "callvault serve --ingest --metrics-addr" on loopback and
// drives it with -conns closed-loop connections (each sends its next request
// when the last response is read) for -duration: lists of call records
// followed by @odata.nextLink, records with $expand=sessions, sessions with
// $expand=segments, $count, getPstnCalls, 404s, and ingests of a record
// with a rising version. Every -sample it scrapes /metrics and prints the
// requests served, their rate, the errors and the server's RSS. At the end
// it sends SIGTERM and waits for serve to drain and exit 0.
//
// It fails (exit 1) on any transport error or 5xx, if serve dies or exits
// badly, or if the RSS of the last sample exceeds the largest of the first
// quarter's samples by more than -max-rss-growth percent. Run it at the
// saturation point that "go run ./bench/cmd/loadtest" finds (its sweep).
//
// Every address is a loopback IP literal; serve listens on 127.0.0.1.
//
//	go run ./bench/cmd/soak                   # 10 minutes
//	go run ./bench/cmd/soak -duration 30s     # a quick look
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const tenant = "50a50a50-0000-4000-8000-00000000500a"

type config struct {
	duration, sample time.Duration
	conns, records   int
	maxGrowth        float64
	binary           string
	keep             bool
}

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "how long to load the server")
	flag.DurationVar(&c.sample, "sample", 10*time.Second, "how often to scrape its metrics and print a line")
	flag.IntVar(&c.conns, "conns", 8, "connections (closed loop); the saturation point of loadtest's sweep")
	flag.IntVar(&c.records, "records", 1000, "call records generated and imported before the load")
	flag.Float64Var(&c.maxGrowth, "max-rss-growth", 25, "the most the RSS may grow, in percent, from the first quarter's peak to the end")
	flag.StringVar(&c.binary, "callvault", "", "a callvault `binary` (default: go build ./cmd/callvault)")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	fmt.Println("soak: ok")
}

func run(c config) error {
	if c.conns < 1 || c.duration <= 0 || c.sample <= 0 {
		return errors.New("-conns, -duration and -sample must be positive")
	}
	work, err := os.MkdirTemp("", "callvault-soak-")
	if err != nil {
		return err
	}
	if c.keep {
		fmt.Println("work directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	bin := c.binary
	if bin == "" {
		bin = filepath.Join(work, "callvault")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/callvault").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	data, records := filepath.Join(work, "data"), filepath.Join(work, "records.jsonl")
	if out, err := exec.Command(bin, "generate", "--tenant", tenant, "--records", fmt.Sprint(c.records), "--out", records, "--progress", "0").CombinedOutput(); err != nil {
		return fmt.Errorf("generate: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "import", "--data", data, "--tenant", tenant, records).CombinedOutput(); err != nil {
		return fmt.Errorf("import: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "token", "--data", data, "--tenant", tenant, "--ttl", "48h", "--roles", "CallRecords.Read.All,CallRecords.Ingest.All").Output()
	if err != nil {
		return fmt.Errorf("token: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	token := lines[len(lines)-1]

	logFile, err := os.Create(filepath.Join(work, "serve.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	serve := exec.Command(bin, "serve", "--data", data, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--ingest", "--log-level", "warn", "--max-requests", "100000", "--max-connections", "100000")
	serve.Stderr = logFile
	stdout, err := serve.StdoutPipe()
	if err != nil {
		return err
	}
	if err := serve.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	defer serve.Process.Kill()
	base, metricsURL, err := addresses(stdout)
	if err != nil {
		return err
	}
	go func() { io.Copy(io.Discard, stdout); exited <- serve.Wait() }()
	fmt.Printf("serve %s, metrics %s, %d records, %d connections for %s\n", base, metricsURL, c.records, c.conns, c.duration)

	l := &load{base: base, token: token, client: &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: c.conns, MaxConnsPerHost: c.conns},
	}}
	if err := l.discover(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()
	var wg sync.WaitGroup
	for i := range c.conns {
		wg.Add(1)
		go func() { defer wg.Done(); l.loop(ctx, i) }()
	}

	var rss []float64
	var server5xx float64
	start, last, lastN := time.Now(), time.Now(), 0.0
	tick := time.NewTicker(c.sample)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case err := <-exited:
			cancel()
			wg.Wait()
			return fmt.Errorf("serve exited under load: %v (log: %s)", err, logFile.Name())
		case <-tick.C:
		}
		m, err := scrape(metricsURL)
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		now := time.Now()
		rss = append(rss, m.rss)
		server5xx = m.server5xx
		fmt.Printf("%7s  %9.0f requests  %7.0f/s  %d errors  %d 5xx  RSS %.1f MB\n", now.Sub(start).Round(time.Second),
			m.requests, (m.requests-lastN)/now.Sub(last).Seconds(), l.errors.Load(), int(m.server5xx), m.rss/1e6)
		last, lastN = now, m.requests
	}
	wg.Wait()

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("serve did not stop cleanly on SIGTERM: %v (log: %s)", err, logFile.Name())
		}
	case <-time.After(2 * time.Minute):
		return errors.New("serve did not stop within 2 minutes of SIGTERM")
	}

	var failures []string
	if n := l.errors.Load(); n > 0 {
		failures = append(failures, fmt.Sprintf("%d errors (first: %v)", n, l.firstError.Load()))
	}
	if server5xx > 0 {
		failures = append(failures, fmt.Sprintf("%.0f responses were 5xx", server5xx))
	}
	if len(rss) >= 4 {
		peak := 0.0
		for _, v := range rss[:len(rss)/4] {
			peak = max(peak, v)
		}
		end := rss[len(rss)-1]
		growth := (end/peak - 1) * 100
		fmt.Printf("RSS: first quarter's peak %.1f MB, end %.1f MB (%+.1f %%)\n", peak/1e6, end/1e6, growth)
		if growth > c.maxGrowth {
			failures = append(failures, fmt.Sprintf("RSS grew %.1f %%, more than -max-rss-growth %.0f", growth, c.maxGrowth))
		}
	} else {
		fmt.Println("RSS: too few samples to judge its trend (use a longer -duration or a shorter -sample)")
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

// addresses reads serve's URL and its metrics URL from its first lines.
func addresses(stdout io.Reader) (base, metrics string, err error) {
	sc := bufio.NewScanner(stdout)
	for (base == "" || metrics == "") && sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "callvault listening on "); ok {
			base, _, _ = strings.Cut(rest, " ")
		}
		if rest, ok := strings.CutPrefix(sc.Text(), "callvault metrics on "); ok {
			metrics = rest
		}
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasPrefix(metrics, "http://127.0.0.1:") {
		return "", "", fmt.Errorf("serve did not say where it listens on loopback (%q, %q)", base, metrics)
	}
	return base, metrics, nil
}

type sample struct{ requests, server5xx, rss float64 }

func scrape(url string) (sample, error) {
	var s sample
	resp, err := http.Get(url)
	if err != nil {
		return s, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return s, fmt.Errorf("scrape: %w", err)
	}
	if f := families["callvault_http_requests_total"]; f != nil {
		for _, m := range f.Metric {
			s.requests += m.Counter.GetValue()
			for _, l := range m.Label {
				if l.GetName() == "status" && strings.HasPrefix(l.GetValue(), "5") {
					s.server5xx += m.Counter.GetValue()
				}
			}
		}
	}
	if f := families["process_resident_memory_bytes"]; f != nil && len(f.Metric) == 1 {
		s.rss = f.Metric[0].Gauge.GetValue()
	}
	return s, nil
}

// load is the mix of requests.
type load struct {
	base, token string
	client      *http.Client
	ids         []string // of stored records

	errors     atomic.Int64
	firstError atomic.Value
	version    atomic.Int64 // of the ingested record
}

// discover lists the records' ids, through every page.
func (l *load) discover() error {
	next := l.base + "/v1.0/communications/callRecords?$select=id"
	for next != "" {
		var page struct {
			Value []struct{ ID string }
			Next  string `json:"@odata.nextLink"`
		}
		if err := l.getJSON(next, &page); err != nil {
			return fmt.Errorf("list the records: %w", err)
		}
		for _, r := range page.Value {
			l.ids = append(l.ids, r.ID)
		}
		next = page.Next
	}
	if len(l.ids) == 0 {
		return errors.New("the imported records are not listed")
	}
	return nil
}

func (l *load) loop(ctx context.Context, worker int) {
	api := l.base + "/v1.0/communications/callRecords"
	for i := worker; ctx.Err() == nil; i++ {
		id := l.ids[i%len(l.ids)]
		var err error
		switch i % 8 {
		case 0:
			err = l.pages(ctx, api+"?$count=true", 3)
		case 1:
			err = l.expect(ctx, api+"/"+id+"?$expand=sessions($expand=segments)", 200)
		case 2:
			err = l.pages(ctx, api+"/"+id+"/sessions?$expand=segments", 5)
		case 3:
			err = l.expect(ctx, api+"/"+id+"/sessions/$count", 200)
		case 4:
			err = l.expect(ctx, api+"/getPstnCalls(fromDateTime=2026-08-03T00:00:00Z,toDateTime=2026-08-10T00:00:00Z)", 200)
		case 5:
			err = l.expect(ctx, api+"/00000000-0000-4000-8000-000000000404/sessions", 404)
		case 6:
			err = l.ingest(ctx)
		case 7:
			err = l.expect(ctx, api+"?$filter=startDateTime%20ge%202026-08-04T00:00:00Z%20and%20startDateTime%20lt%202026-08-05T00:00:00Z", 200)
		}
		if err != nil && ctx.Err() == nil {
			if l.errors.Add(1) == 1 {
				l.firstError.Store(err.Error())
			}
		}
	}
}

func (l *load) do(ctx context.Context, method, url, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (l *load) expect(ctx context.Context, url string, status int) error {
	got, b, err := l.do(ctx, http.MethodGet, url, "")
	if err == nil && got != status {
		err = fmt.Errorf("GET %s: %d, want %d: %.200s", url, got, status, b)
	}
	return err
}

func (l *load) getJSON(url string, v any) error {
	status, b, err := l.do(context.Background(), http.MethodGet, url, "")
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("GET %s: %d %.200s", url, status, b)
	}
	return json.Unmarshal(b, v)
}

// pages follows @odata.nextLink for at most n pages.
func (l *load) pages(ctx context.Context, url string, n int) error {
	for ; url != "" && n > 0; n-- {
		status, b, err := l.do(ctx, http.MethodGet, url, "")
		if err != nil {
			return err
		}
		if status != 200 {
			return fmt.Errorf("GET %s: %d %.200s", url, status, b)
		}
		var page struct {
			Next string `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return fmt.Errorf("GET %s: %v", url, err)
		}
		url = page.Next
	}
	return nil
}

// ingest stores one record again with a higher version: a write that
// replaces, and a notification-free outbox row when nobody subscribed.
func (l *load) ingest(ctx context.Context) error {
	v := l.version.Add(1)
	body := fmt.Sprintf(`{"id":"50a50a50-0000-4000-8000-0000000000aa","version":%d,"type":"groupCall","modalities":["audio"],`+
		`"startDateTime":"2026-08-04T10:00:00Z","endDateTime":"2026-08-04T11:00:00Z","lastModifiedDateTime":"2026-08-04T11:05:00Z",`+
		`"sessions":[{"id":"s1","modalities":["audio"],"startDateTime":"2026-08-04T10:00:00Z","endDateTime":"2026-08-04T11:00:00Z",`+
		`"segments":[{"id":"g1","startDateTime":"2026-08-04T10:00:00Z","endDateTime":"2026-08-04T11:00:00Z"}]}]}`, v)
	status, b, err := l.do(ctx, http.MethodPost, l.base+"/ingest/v1/callRecords", body)
	if err == nil && status != 200 {
		err = fmt.Errorf("ingest: %d %.200s", status, b)
	}
	return err
}
