// Package analytics answers callvault's call-quality questions from the
// classified streams a callvault.QualityStore keeps (package quality): the
// counts, poor percentages and averages of CQD's main measures, by time and
// by the dimensions people slice on, and the worst slices. It reads
// columns, never a record's body; the building and endpoint files in CQD's
// format give the Building and Endpoint dimensions.
package analytics

import (
	"context"
	"fmt"

	"slices"
	"sort"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/qualitysql"
)

// Query asks for figures of a tenant's streams that start in [From, To),
// grouped by By (none: one total row), only those whose dimensions equal
// Where's values, of one Media when it is set.
type Query struct {
	From, To   time.Time
	Media      string            // callvault.MediaAudio, …; "" for all
	By         []string          // dimension names (Dimensions)
	Where      map[string]string // dimension name → value
	Top        int               // when > 0: only the Top rows of highest poor %, worst first
	MinStreams int64             // with Top: rows with fewer classified streams are left out
	// NotBefore is the retention horizon (Horizon): streams that started
	// before it are not counted, as Graph forgets their records. Zero
	// counts everything.
	NotBefore time.Time
	// Stale answers from the store's daily rollup as it stands
	// (callvault.QualityAggregate.Stale): the web view's pages, never the
	// API's.
	Stale bool
}

// Horizon is where figures start under a retention (serve --retention):
// the first UTC midnight at or after now - retention, so that whole days
// still come from the daily rollup. Graph forgets a record when the
// retention has passed since it ended; the figures forget its day up to a
// day sooner. A retention of 0 keeps everything: the zero time.
func Horizon(now time.Time, retention time.Duration) time.Time {
	if retention <= 0 {
		return time.Time{}
	}
	t := now.Add(-retention).UTC()
	d := t.Truncate(24 * time.Hour)
	if d.Before(t) {
		d = d.Add(24 * time.Hour)
	}
	return d
}

// Row is the figures of one group of streams. Percentages are nil where
// nothing was classified, averages where no stream reported the metric.
type Row struct {
	Keys []string `json:"keys"` // the group's value of each By dimension

	Streams      int64    `json:"streams"`
	Good         int64    `json:"good"`
	Poor         int64    `json:"poor"`
	Unclassified int64    `json:"unclassified"`
	PoorPercent  *float64 `json:"poorPercent"` // poor / (good + poor) × 100: CQD's "Poor Percentage"

	// Calls (CQD's call legs: a segment) with audio among the streams, and
	// their class by quality.CallClass: "Audio Poor Call Percentage".
	Calls            int64    `json:"calls"`
	GoodCalls        int64    `json:"goodCalls"`
	PoorCalls        int64    `json:"poorCalls"`
	UnclassifiedCall int64    `json:"unclassifiedCalls"`
	PoorCallPercent  *float64 `json:"poorCallPercent"`

	AvgJitterMs    *float64 `json:"avgJitterMs"`
	AvgRoundTripMs *float64 `json:"avgRoundTripMs"`
	AvgPacketLoss  *float64 `json:"avgPacketLoss"`
	AvgDegradation *float64 `json:"avgDegradation"`
	AvgConcealed   *float64 `json:"avgConcealedRatio"`
	AvgFrameRate   *float64 `json:"avgFrameRate"`
}

// Result is the answer to a Query.
type Result struct {
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Media string    `json:"media,omitempty"`
	By    []string  `json:"by"`
	Rows  []Row     `json:"rows"`
	Total Row       `json:"total"` // every stream the query matched, in one row
}

// Files are a tenant's parsed building and endpoint files; either may be
// nil.
type Files struct {
	Buildings *Buildings
	Endpoints Endpoints
}

// dimension reads one value of a stream.
type dimension func(s *callvault.QualityStream, f *Files) string

// Dimensions lists the dimension names a query may group or filter by.
func Dimensions() []string {
	names := make([]string, 0, len(dimensions))
	for n := range dimensions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var dimensions = func() map[string]dimension {
	d := map[string]dimension{
		"day":   func(s *callvault.QualityStream, _ *Files) string { return s.Start.UTC().Format(time.DateOnly) },
		"week":  func(s *callvault.QualityStream, _ *Files) string { return weekStart(s.Start).Format(time.DateOnly) },
		"month": func(s *callvault.QualityStream, _ *Files) string { return s.Start.UTC().Format("2006-01") },
		"media": func(s *callvault.QualityStream, _ *Files) string { return s.Media },
		"label": func(s *callvault.QualityStream, _ *Files) string { return s.Label },
		"direction": func(s *callvault.QualityStream, _ *Files) string {
			return s.Direction
		},
		"class":    func(s *callvault.QualityStream, _ *Files) string { return s.Class },
		"callType": func(s *callvault.QualityStream, _ *Files) string { return s.CallType },
		"pstn": func(s *callvault.QualityStream, _ *Files) string {
			if s.PSTN {
				return "PSTN"
			}
			return "VoIP"
		},
		"conference": func(s *callvault.QualityStream, _ *Files) string {
			if s.Conference {
				return "conference"
			}
			return "peerToPeer"
		},
	}
	for _, side := range []string{"first", "second"} {
		end := func(s *callvault.QualityStream) *callvault.QualityEndpoint {
			if side == "first" {
				return &s.First
			}
			return &s.Second
		}
		for name, get := range map[string]func(e *callvault.QualityEndpoint) string{
			"kind":       func(e *callvault.QualityEndpoint) string { return e.Kind },
			"name":       func(e *callvault.QualityEndpoint) string { return e.Name },
			"role":       func(e *callvault.QualityEndpoint) string { return e.Role },
			"platform":   func(e *callvault.QualityEndpoint) string { return e.Platform },
			"family":     func(e *callvault.QualityEndpoint) string { return e.Family },
			"userAgent":  func(e *callvault.QualityEndpoint) string { return e.UserAgent },
			"appVersion": func(e *callvault.QualityEndpoint) string { return e.AppVersion },
			"user":       func(e *callvault.QualityEndpoint) string { return e.UserID },
			"userName":   func(e *callvault.QualityEndpoint) string { return e.UserName },
			"connection": func(e *callvault.QualityEndpoint) string { return e.Connection },
			"wifiBand":   func(e *callvault.QualityEndpoint) string { return e.WifiBand },
			"transport":  func(e *callvault.QualityEndpoint) string { return e.Transport },
			"subnet":     func(e *callvault.QualityEndpoint) string { return e.Subnet },
		} {
			d[side+"."+name] = func(s *callvault.QualityStream, _ *Files) string { return get(end(s)) }
		}
		for name, get := range map[string]func(b *Building) string{
			"building":     func(b *Building) string { return b.BuildingName },
			"network":      func(b *Building) string { return b.NetworkName },
			"city":         func(b *Building) string { return b.City },
			"country":      func(b *Building) string { return b.Country },
			"region":       func(b *Building) string { return b.Region },
			"buildingType": func(b *Building) string { return b.BuildingType },
			"insideCorp": func(b *Building) string {
				if b.InsideCorp {
					return "1"
				}
				return "0"
			},
		} {
			d[side+"."+name] = func(s *callvault.QualityStream, f *Files) string {
				e := end(s)
				if b := f.Buildings.Find(e.Subnet, e.IP); b != nil {
					return get(b)
				}
				return ""
			}
		}
		for name, get := range map[string]func(e Endpoint) string{
			"endpointModel": func(e Endpoint) string { return e.Model },
			"endpointType":  func(e Endpoint) string { return e.Type },
			"endpointLabel1": func(e Endpoint) string {
				return e.Label1
			},
		} {
			d[side+"."+name] = func(s *callvault.QualityStream, f *Files) string {
				if e, ok := f.Endpoints[end(s).Name]; ok {
					return get(e)
				}
				return ""
			}
		}
	}
	return d
}()

// weekStart returns the Monday of t's ISO week, at midnight UTC.
func weekStart(t time.Time) time.Time {
	t = t.UTC().Truncate(24 * time.Hour)
	return t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
}

// Check refuses a query no store could answer.
func (q *Query) Check() error {
	if q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To) {
		return callvault.Errorf(callvault.EINVALID, "A time range is required: from before to.")
	}
	switch q.Media {
	case "", callvault.MediaAudio, callvault.MediaVideo, callvault.MediaVBSS, callvault.MediaOther:
	default:
		return callvault.Errorf(callvault.EINVALID, "The media %q is not one of audio, video, vbss, other.", q.Media)
	}
	if len(q.By) > 4 {
		return callvault.Errorf(callvault.EINVALID, "At most 4 dimensions can be grouped by.")
	}
	for _, n := range append(slices.Clone(q.By), keys(q.Where)...) {
		if _, ok := dimensions[n]; !ok {
			return callvault.Errorf(callvault.EINVALID, "The dimension %q is not known; the dimensions are %s.", n, strings.Join(Dimensions(), ", "))
		}
	}
	return nil
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// acc accumulates a group's figures.
type acc struct {
	keys []string
	c    qualitysql.Counter
}

func (a *acc) add(s *callvault.QualityStream) { a.c.Add(s) }

func (a *acc) finish() Row { return rowOf(a.c.Group(), a.keys) }

func percent(n, d int64) *float64 {
	if d == 0 {
		return nil
	}
	v := float64(n) * 100 / float64(d)
	return &v
}

// Run answers q over the tenant's streams in store.
func Run(ctx context.Context, store callvault.QualityStore, tenant string, files *Files, q Query) (*Result, error) {
	res, err := RunAll(ctx, store, tenant, files, []Query{q})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// withinHorizon answers qs when one of them starts before its NotBefore:
// it moves their starts to it, answers those with nothing left with no
// streams, and runs the others. ok is false when no query needed it.
func withinHorizon(ctx context.Context, store callvault.QualityStore, tenant string, files *Files, qs []Query) (res []*Result, ok bool, err error) {
	if !slices.ContainsFunc(qs, func(q Query) bool { return q.From.Before(q.NotBefore) }) {
		return nil, false, nil
	}
	var kept []Query
	empty := make([]bool, len(qs))
	for i, q := range qs {
		q.From = maxTime(q.From, q.NotBefore)
		q.NotBefore = time.Time{}
		if empty[i] = !q.From.Before(q.To); !empty[i] {
			kept = append(kept, q)
		}
	}
	got, err := RunAll(ctx, store, tenant, files, kept)
	if err != nil {
		return nil, true, err
	}
	for i, q := range qs {
		if empty[i] {
			q.From = q.To // nothing of the period is kept
			res = append(res, (&run{q: q, groups: map[string]*acc{}}).result())
		} else {
			res, got = append(res, got[0]), got[1:]
		}
	}
	return res, true, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// maxInStore is the most queries RunAll has the store count.
const maxInStore = 2

// scanOnly hides a store's QualityAggregator.
type scanOnly struct{ callvault.QualityStore }

// run is one query's state during RunAll's pass.
type run struct {
	q      Query
	from   int64 // q's range in unix nanoseconds, [from, to)
	to     int64
	by     []dimension
	where  []filter
	groups map[string]*acc
	total  acc
}

type filter struct {
	d    dimension
	want string
}

// RunAll answers several queries in one pass over the streams of the
// union of their periods: what a page of several tables costs once.
func RunAll(ctx context.Context, store callvault.QualityStore, tenant string, files *Files, qs []Query) ([]*Result, error) {
	if len(qs) == 0 {
		return nil, nil
	}
	if files == nil {
		files = &Files{}
	}
	for _, q := range qs {
		if err := q.Check(); err != nil {
			return nil, err
		}
	}
	if res, ok, err := withinHorizon(ctx, store, tenant, files, qs); ok {
		return res, err
	}
	// The store counts a query or two faster than one pass over the rows;
	// a page of several queries is cheaper in one pass (the overview's
	// five, over 171,000 streams on SQLite: 2.7 s in one pass, 6.1 s as
	// ten statements).
	// What the store answers from its daily rollup it answers, however
	// many queries there are: the web view's pages, whole days by one
	// dimension, and the building dimensions by subnet.
	if agg, ok := store.(callvault.QualityAggregator); ok {
		// What the store can count it counts; the rest (the building and
		// endpoint dimensions) are counted from the rows, in one pass.
		var inStore, scanned []Query
		var where []bool
		for _, q := range qs {
			p := rollable(q, files) || len(qs) <= maxInStore && pushable([]Query{q})
			where = append(where, p)
			if p {
				inStore = append(inStore, q)
			} else {
				scanned = append(scanned, q)
			}
		}
		if len(scanned) < len(qs) {
			a, err := runInStore(ctx, agg, tenant, files, inStore)
			if err != nil {
				return nil, err
			}
			b, err := RunAll(ctx, scanOnly{store}, tenant, files, scanned)
			if err != nil {
				return nil, err
			}
			out := make([]*Result, 0, len(qs))
			for _, p := range where {
				if p {
					out, a = append(out, a[0]), a[1:]
				} else {
					out, b = append(out, b[0]), b[1:]
				}
			}
			return out, nil
		}
	}
	runs := make([]*run, len(qs))
	span := callvault.TimeRange{FromInclusive: true}
	for i, q := range qs {
		r := &run{q: q, from: q.From.UnixNano(), to: q.To.UnixNano(), groups: map[string]*acc{}}
		for _, n := range q.By {
			r.by = append(r.by, dimensions[n])
		}
		for _, n := range keys(q.Where) {
			r.where = append(r.where, filter{dimensions[n], q.Where[n]})
		}
		runs[i] = r
		if span.From.IsZero() || q.From.Before(span.From) {
			span.From = q.From
		}
		if q.To.After(span.To) {
			span.To = q.To
		}
	}
	keyBuf := []string{}
	err := store.VisitQualityStreams(ctx, tenant, span, func(s *callvault.QualityStream) error {
		at := s.Start.UnixNano()
	next:
		for _, r := range runs {
			if at < r.from || at >= r.to || (r.q.Media != "" && s.Media != r.q.Media) {
				continue
			}
			for _, f := range r.where {
				if f.d(s, files) != f.want {
					continue next
				}
			}
			r.total.add(s)
			keyBuf = keyBuf[:0]
			for _, d := range r.by {
				keyBuf = append(keyBuf, d(s, files))
			}
			k := strings.Join(keyBuf, "\x00")
			g := r.groups[k]
			if g == nil {
				g = &acc{keys: slices.Clone(keyBuf)}
				r.groups[k] = g
			}
			g.add(s)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Result, len(runs))
	for i, r := range runs {
		out[i] = r.result()
	}
	return out, nil
}

func (r *run) result() *Result {
	q := r.q
	res := &Result{From: q.From.UTC(), To: q.To.UTC(), Media: q.Media, By: q.By, Total: r.total.finish(), Rows: []Row{}}
	res.Total.Keys = []string{}
	if q.By == nil {
		res.By = []string{}
	}
	for _, g := range r.groups {
		res.Rows = append(res.Rows, g.finish())
	}
	sort.Slice(res.Rows, func(i, j int) bool { return slices.Compare(res.Rows[i].Keys, res.Rows[j].Keys) < 0 })
	res.Rows = top(res.Rows, q)
	return res
}

// top keeps, when q asks for it, the q.Top rows of highest poor % among
// those with q.MinStreams classified streams or more, worst first (then
// by more poor streams, then in the order of rows). It picks them in one
// pass: the worst subnets of a period are chosen among tens of thousands
// of rows, which sorting whole cost as much as the rest of the answer.
func top(rows []Row, q Query) []Row {
	if q.Top <= 0 {
		return rows
	}
	// worse reports whether a ranks before b.
	worse := func(a, b *Row) bool {
		if *a.PoorPercent != *b.PoorPercent {
			return *a.PoorPercent > *b.PoorPercent
		}
		return a.Poor > b.Poor
	}
	kept := make([]Row, 0, q.Top+1)
	for i := range rows {
		r := &rows[i]
		if r.PoorPercent == nil || r.Good+r.Poor < q.MinStreams {
			continue
		}
		if len(kept) == q.Top && !worse(r, &kept[len(kept)-1]) {
			continue
		}
		// After every kept row r is not worse than: ties keep their order.
		j := len(kept)
		for j > 0 && worse(r, &kept[j-1]) {
			j--
		}
		kept = slices.Insert(kept, j, *r)
		kept = kept[:min(len(kept), q.Top)]
	}
	return kept
}

// LoadFiles reads and parses a tenant's active building and endpoint
// files. A stored file that no longer parses is an error.
func LoadFiles(ctx context.Context, store callvault.QualityStore, tenant string) (*Files, error) {
	f := &Files{}
	b, err := store.GetTenantFile(ctx, tenant, callvault.FileBuildings)
	if err != nil {
		return nil, err
	}
	if b != nil {
		if f.Buildings, err = ParseBuildings(b); err != nil {
			return nil, fmt.Errorf("the stored building file: %w", err)
		}
	}
	e, err := store.GetTenantFile(ctx, tenant, callvault.FileEndpoints)
	if err != nil {
		return nil, err
	}
	if e != nil {
		if f.Endpoints, err = ParseEndpoints(e); err != nil {
			return nil, fmt.Errorf("the stored endpoint file: %w", err)
		}
	}
	return f, nil
}
