package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads the metrics in Prometheus' text format, parsed strictly.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return families
}

// sample is the value of the counter, or the count of the histogram,
// whose labels include want; -1 when there is none.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	return -1
}

func TestMetricsCountRequestsIngestsAndThrottling(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, "--data", data, "--ingest", "--throttle", "graph", "--metrics-addr", "127.0.0.1:0")
	if !srv.lines.Scan() {
		t.Fatal("serve printed nothing after its listening line")
	}
	metricsURL, ok := strings.CutPrefix(srv.lines.Text(), "callvault metrics on ")
	if !ok || !strings.HasPrefix(metricsURL, "http://127.0.0.1:") {
		t.Fatalf("want the metrics URL, got %q", srv.lines.Text())
	}
	before := scrape(t, metricsURL)
	list := map[string]string{"route": "communications/callRecords", "method": "GET", "status": "200", "version": "v1.0"}
	if n := sample(before, "callvault_http_requests_total", list); n > 0 {
		t.Fatalf("%v before any request: %v", list, n)
	}
	for _, name := range []string{"callvault_build_info", "go_goroutines", "process_resident_memory_bytes", "callvault_notify_posts_total", "callvault_throttle_admitted_total"} {
		if before[name] == nil {
			t.Errorf("%s is not exposed", name)
		}
	}

	token := mintToken(t, []string{"--data", data}, "11111111-2222-4333-8444-555555555555")
	if status, b := call(t, "POST", srv.url+"/ingest/v1/callRecords", token, record("rec-m", 2)); status != 200 {
		t.Fatalf("ingest: %d %s", status, b)
	}
	for range 3 {
		if status, b := get(t, srv.url+"/v1.0/communications/callRecords", token); status != 200 {
			t.Fatalf("list: %d %s", status, b)
		}
	}
	get(t, srv.url+"/v1.0/communications/callRecords/rec-m/sessions/x", token)                 // 404, a bounded route
	get(t, srv.url+"/v1.0/communications/callRecords/"+strings.Repeat("z", 40), "not-a-token") // 401, unmatched
	if status, _ := get(t, srv.url+"/metrics", ""); status != 404 {
		t.Errorf("the public port serves /metrics: %d", status)
	}

	after := scrape(t, metricsURL)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"callvault_http_requests_total", list, 3},
		{"callvault_http_request_duration_seconds", map[string]string{"route": "communications/callRecords", "version": "v1.0"}, 3},
		{"callvault_http_requests_total", map[string]string{"route": "communications/callRecords/{}/sessions/{}", "status": "404"}, 1},
		{"callvault_http_requests_total", map[string]string{"route": "unmatched", "status": "401", "version": "v1.0"}, 1},
		{"callvault_http_requests_total", map[string]string{"route": "/metrics"}, -1}, // raw paths are never labels
		{"callvault_http_requests_total", map[string]string{"route": "unmatched", "status": "404", "version": ""}, 1},
		{"callvault_http_requests_total", map[string]string{"route": "/ingest/v1/callRecords", "status": "200"}, 1},
		{"callvault_ingest_requests_total", nil, 1},
		{"callvault_ingest_records_total", map[string]string{"outcome": "inserted"}, 1},
		{"callvault_ingest_records_total", map[string]string{"outcome": "rejected"}, 0},
		{"callvault_ingest_sessions_total", nil, 2},
		// One token: verified once (the ingest), then served from the cache.
		{"callvault_token_cache_total", map[string]string{"result": "miss"}, 2}, // and the bad token
		{"callvault_token_cache_total", map[string]string{"result": "hit"}, 4},
	} {
		if got := sample(after, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := sample(after, "callvault_http_response_bytes_total", map[string]string{"route": "communications/callRecords"}); got <= 0 {
		t.Errorf("no response bytes counted: %v", got)
	}
	if got := sample(after, "callvault_throttle_admitted_total", nil); got < 4 {
		t.Errorf("callvault_throttle_admitted_total = %v, want at least the 4 authenticated API requests", got)
	}
}

// startForSignals starts serve as startServer does, but leaves its
// signals to the test: it returns the process, its URL and a function that
// waits for its end and returns its exit status and standard error.
func startForSignals(t *testing.T, args ...string) (p *os.Process, url string, wait func() (int, string)) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first line says where it listens; the rest is read and dropped.
	r := bufio.NewReader(out)
	line, readErr := r.ReadString('\n')
	done := make(chan struct{})
	var status int
	go func() {
		io.Copy(io.Discard, r)
		cmd.Wait()
		status = cmd.ProcessState.ExitCode()
		close(done)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	wait = func() (int, string) {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("serve did not exit within 60 s:\n%s", logs.String())
		}
		return status, logs.String()
	}
	rest, ok := strings.CutPrefix(line, "callvault listening on ")
	if !ok {
		cmd.Process.Kill()
		_, logs := wait()
		t.Fatalf("serve said nothing of where it listens (%v): %q\n%s", readErr, line, logs)
	}
	url, _, _ = strings.Cut(rest, " ")
	return cmd.Process, url, wait
}

// halfSentIngest opens a connection and sends an ingest request but only
// the first half of its body: the request is in flight until finish sends
// the rest and reads the response.
func halfSentIngest(t *testing.T, base, token, body string) (finish func() (*http.Response, error)) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	head := "POST /ingest/v1/callRecords HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	half := len(body) / 2
	if _, err := io.WriteString(conn, head+body[:half]); err != nil {
		t.Fatal(err)
	}
	return func() (*http.Response, error) {
		if _, err := io.WriteString(conn, body[half:]); err != nil {
			return nil, err
		}
		return http.ReadResponse(bufio.NewReader(conn), nil)
	}
}

// refusedWithin polls until a new connection to base is refused, for at
// most d.
func refusedWithin(base string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
		if err != nil {
			return true
		}
		c.Close()
	}
	return false
}

func TestSIGTERMDrainsTheRequestsInFlightAndRefusesNewOnes(t *testing.T) {
	data := t.TempDir()
	token := mintToken(t, []string{"--data", data}, "11111111-2222-4333-8444-555555555555")
	p, base, wait := startForSignals(t, "--data", data, "--ingest", "--shutdown-timeout", "90s")
	finish := halfSentIngest(t, base, token, record("in-flight", 3))
	// Let the server take the request in (its headers read) before the
	// signal: a call that answers shows that it is serving.
	if status, _ := get(t, base+"/healthz", ""); status != 200 {
		t.Fatalf("healthz: %d", status)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !refusedWithin(base, 30*time.Second) {
		t.Error("new connections are still accepted 30 s after SIGTERM")
	}
	resp, err := finish()
	if err != nil {
		t.Fatalf("the request in flight was cut off by SIGTERM: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "in-flight") {
		t.Errorf("the request in flight: %d %s", resp.StatusCode, b)
	}
	status, logs := wait()
	if status != 0 || !strings.Contains(logs, "every request in flight finished") {
		t.Errorf("serve exits %d after draining:\n%s", status, logs)
	}
}

func TestShutdownTimeoutCutsOffWhatDoesNotFinish(t *testing.T) {
	data := t.TempDir()
	token := mintToken(t, []string{"--data", data}, "11111111-2222-4333-8444-555555555555")
	p, base, wait := startForSignals(t, "--data", data, "--ingest", "--shutdown-timeout", "1s")
	halfSentIngest(t, base, token, record("never-finished", 3)) // never finished
	if status, _ := get(t, base+"/healthz", ""); status != 200 {
		t.Fatalf("healthz: %d", status)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	status, logs := wait()
	if status != 1 || !strings.Contains(logs, "cut off") {
		t.Errorf("serve exits %d when a request outlives --shutdown-timeout:\n%s", status, logs)
	}
}
