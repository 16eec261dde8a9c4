package analytics

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/callvault/callvault"
)

// MetricsWindow is the period the gauges of /analytics/v1/metrics cover by
// default: the streams that started in the last day.
const MetricsWindow = 24 * time.Hour

// metricDims are the bounded dimensions the gauges are labelled by: few
// values each, so that the series stay few.
var metricDims = []struct{ dim, label string }{
	{"", ""}, {"media", "media"}, {"pstn", "pstn"}, {"conference", "conference"},
	{"second.connection", "connection"}, {"second.platform", "platform"},
}

// metrics serves the figures as Prometheus gauges (text format 0.0.4) for
// the token's tenant: a scrape job with the app's token as its bearer
// token. window=DURATION changes the period (at most 31 days).
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request, tenant string) error {
	window := MetricsWindow
	if s := r.URL.Query().Get("window"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > 31*24*time.Hour {
			return callvault.Errorf(callvault.EINVALID, "window %q is not a duration up to 744h.", s)
		}
		window = d
	}
	to := h.now()
	from := to.Add(-window)
	files, err := LoadFiles(r.Context(), h.Store, tenant)
	if err != nil {
		return err
	}
	var qs []Query
	for _, d := range metricDims {
		q := Query{From: from, To: to, NotBefore: Horizon(to, h.Retention)}
		if d.dim != "" {
			q.By = []string{d.dim}
		}
		qs = append(qs, q)
	}
	res, err := RunAll(r.Context(), h.Store, tenant, files, qs)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	return WriteMetrics(w, tenant, window, res)
}

// WriteMetrics writes results of the metricDims queries as gauges.
func WriteMetrics(w io.Writer, tenant string, window time.Duration, res []*Result) error {
	type series struct {
		name, help string
		value      func(r *Row) (float64, bool)
	}
	count := func(f func(r *Row) int64) func(r *Row) (float64, bool) {
		return func(r *Row) (float64, bool) { return float64(f(r)), true }
	}
	pct := func(f func(r *Row) *float64) func(r *Row) (float64, bool) {
		return func(r *Row) (float64, bool) {
			if p := f(r); p != nil {
				return *p, true
			}
			return 0, false
		}
	}
	all := []series{
		{"callvault_quality_streams", "Media streams that started in the window, of every class.", count(func(r *Row) int64 { return r.Streams })},
		{"callvault_quality_poor_streams", "Streams CQD's rules classify as poor.", count(func(r *Row) int64 { return r.Poor })},
		{"callvault_quality_unclassified_streams", "Streams without the metrics to classify them.", count(func(r *Row) int64 { return r.Unclassified })},
		{"callvault_quality_poor_stream_percent", "Poor streams over classified streams, in percent.", pct(func(r *Row) *float64 { return r.PoorPercent })},
		{"callvault_quality_audio_calls", "Call legs with audio.", count(func(r *Row) int64 { return r.Calls })},
		{"callvault_quality_audio_poor_call_percent", "CQD's Audio Poor Call Percentage.", pct(func(r *Row) *float64 { return r.PoorCallPercent })},
	}
	var b strings.Builder
	win := strconv.FormatFloat(window.Seconds(), 'f', -1, 64)
	for _, s := range all {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", s.name, s.help, s.name)
		for i, d := range metricDims {
			if i >= len(res) {
				break
			}
			rows := res[i].Rows
			if d.dim == "" {
				rows = []Row{res[i].Total}
			}
			sort.Slice(rows, func(a, b int) bool { return strings.Join(rows[a].Keys, ",") < strings.Join(rows[b].Keys, ",") })
			for j := range rows {
				v, ok := s.value(&rows[j])
				if !ok {
					continue
				}
				labels := fmt.Sprintf(`tenant=%q,window_seconds=%q`, tenant, win)
				if d.label != "" {
					labels += fmt.Sprintf(`,%s=%q`, d.label, rows[j].Keys[0])
				}
				fmt.Fprintf(&b, "%s{%s} %s\n", s.name, labels, strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
