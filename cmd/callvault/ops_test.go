package main

import (
	"net/http"
	"strings"
	"testing"

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
	for _, name := range []string{"callvault_build_info", "go_goroutines", "process_resident_memory_bytes", "callvault_notify_posts_total", "callvault_throttle_admitted_total",
		"callvault_page_cache_total", "callvault_page_cache_kept_total", "callvault_page_cache_bytes"} {
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
		{"callvault_store_duration_seconds", map[string]string{"route": "communications/callRecords", "version": "v1.0"}, 3},
		{"callvault_store_duration_seconds", map[string]string{"route": "unmatched"}, -1}, // refused before the store
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
