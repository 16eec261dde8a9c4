package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callvault/callvault/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestLabelsStayBoundedAndCountersAreReadAtEachScrape(t *testing.T) {
	reg := metrics.New("v1.2.3", "abc", "go1.26")
	var n atomic.Int64
	reg.Counter("things_total", "Things.", prometheus.Labels{"kind": "a"}, n.Load)
	reg.Observe(metrics.Request{Route: "", Version: "v1.0", Method: "BREW", Status: 401, Bytes: 10, Duration: time.Millisecond})
	reg.Observe(metrics.Request{Route: "communications/callRecords", Version: "beta", Method: "GET", Status: 200, Bytes: 5, Store: time.Microsecond})
	n.Store(7)

	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, rec.Body.String())
	}
	text := rec.Body.String()
	for _, want := range []string{
		`callvault_http_requests_total{method="other",route="unmatched",status="401",version="v1.0"} 1`,
		`callvault_http_requests_total{method="GET",route="communications/callRecords",status="200",version="beta"} 1`,
		`callvault_http_response_bytes_total{route="unmatched",version="v1.0"} 10`,
		`callvault_things_total{kind="a"} 7`,
		`callvault_build_info{goversion="go1.26",revision="abc",version="v1.2.3"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the exposition lacks %s", want)
		}
	}
	if h := families["callvault_http_request_duration_seconds"]; h == nil || len(h.Metric) != 2 {
		t.Errorf("want a latency histogram per route and version, got %v", h)
	}
	if h := families["callvault_store_duration_seconds"]; h == nil || len(h.Metric) != 1 || h.Metric[0].GetHistogram().GetSampleCount() != 1 {
		t.Errorf("want a store time histogram for the one request that asked the store, got %v", h)
	}
}
