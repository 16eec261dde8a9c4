// Package qualitysql writes the SQL of callvault.QualityAggregator once for
// both stores: the statements differ only in placeholders and in how a
// month is told from unix nanoseconds.
package qualitysql

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/callvault/callvault"
)

// Dialect is what differs between the stores.
type Dialect struct {
	Placeholder func(n int) string        // the nth (1-based) parameter
	Month       func(nanos string) string // a YYYY-MM text from an expression of unix nanoseconds
}

// metrics are the columns QualityGroup sums, in its order.
var metrics = []string{"jitter_ms", "round_trip_ms", "packet_loss", "degradation", "concealed", "frame_rate"}

// Build returns the statement counting streams and the one counting audio
// legs (empty when the query's media excludes audio), with their shared
// arguments. It refuses a column that is not one of QualityColumns.
func Build(d Dialect, tenant string, q callvault.QualityAggregate) (streams, legs string, args []any, err error) {
	var keys []string
	for _, b := range q.By {
		switch {
		case b == callvault.BucketDay:
			keys = append(keys, "CAST(start_time / 86400000000000 AS TEXT)")
		case b == callvault.BucketWeek:
			keys = append(keys, "CAST((start_time / 86400000000000 + 3) / 7 AS TEXT)")
		case b == callvault.BucketMonth:
			keys = append(keys, d.Month("start_time"))
		case slices.Contains(callvault.QualityColumns, b):
			keys = append(keys, "CAST("+b+" AS TEXT)")
		default:
			return "", "", nil, fmt.Errorf("qualitysql: no column %q", b)
		}
	}
	from, to := Bounds(q.Start)
	args = []any{tenant, from, to}
	where := []string{"tenant = " + d.Placeholder(1), "start_time >= " + d.Placeholder(2), "start_time <= " + d.Placeholder(3)}
	if q.Media != "" {
		args = append(args, q.Media)
		where = append(where, "media = "+d.Placeholder(len(args)))
	}
	cols := make([]string, 0, len(q.Where))
	for c := range q.Where {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	for _, c := range cols {
		if !slices.Contains(callvault.QualityColumns, c) {
			return "", "", nil, fmt.Errorf("qualitysql: no column %q", c)
		}
		args = append(args, q.Where[c])
		where = append(where, "CAST("+c+" AS TEXT) = "+d.Placeholder(len(args)))
	}
	aliased := make([]string, len(keys))
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = fmt.Sprintf("k%d", i)
		aliased[i] = k + " AS " + names[i]
	}
	group := ""
	if len(keys) > 0 {
		group = " GROUP BY " + strings.Join(names, ", ")
	}
	sel := func(xs []string) string {
		if len(xs) == 0 {
			return ""
		}
		return strings.Join(xs, ", ") + ", "
	}
	var sums []string
	for _, m := range metrics {
		sums = append(sums, "SUM("+m+")", "COUNT("+m+")")
	}
	streams = "SELECT " + sel(aliased) + "COUNT(*), " +
		"COALESCE(SUM(CASE WHEN class = 'good' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN class = 'poor' THEN 1 ELSE 0 END), 0), " +
		"COALESCE(SUM(CASE WHEN class = 'unclassified' THEN 1 ELSE 0 END), 0), " + strings.Join(sums, ", ") +
		" FROM quality_streams WHERE " + strings.Join(where, " AND ") + group
	if q.Media == "" || q.Media == callvault.MediaAudio {
		legWhere := strings.Join(where, " AND ")
		if q.Media == "" {
			legWhere += " AND media = 'audio'"
		}
		legs = "SELECT " + sel(names) + "COUNT(*), COALESCE(SUM(p), 0), COALESCE(SUM(CASE WHEN p = 0 AND g = 1 THEN 1 ELSE 0 END), 0) FROM (SELECT " +
			sel(aliased) + "MAX(CASE WHEN class = 'poor' THEN 1 ELSE 0 END) AS p, MAX(CASE WHEN class = 'good' THEN 1 ELSE 0 END) AS g" +
			" FROM quality_streams WHERE " + legWhere + " GROUP BY " + sel(names) + "record_id, session_seq, segment_seq) AS legs" + group
	}
	return streams, legs, args, nil
}

// Bounds turns a TimeRange into the inclusive bounds of unix nanoseconds
// a stream's start_time is compared with (callvault.TimeRange.Keys); an
// empty range gives from > to, which no row is in.
func Bounds(r callvault.TimeRange) (from, to int64) {
	lo, hi, ok := r.Keys()
	if !ok {
		return 1, 0
	}
	return lo, hi
}

// CallBounds is Bounds for a QualityCallVisitor: with the earliest start,
// callsFrom, of a call whose streams may be in r (callvault.MaxCallDuration
// before from, or as early as there is).
func CallBounds(r callvault.TimeRange) (callsFrom, from, to int64) {
	from, to = Bounds(r)
	callsFrom = from
	if callsFrom > math.MinInt64+int64(callvault.MaxCallDuration) {
		callsFrom -= int64(callvault.MaxCallDuration)
	}
	return callsFrom, from, to
}

// Groups merges the rows of the two statements into groups. scanStreams
// and scanLegs read one row each into the destinations they are given.
type Groups struct {
	n     int
	byKey map[string]*callvault.QualityGroup
	order []*callvault.QualityGroup
}

// NewGroups returns an empty merge for a query of n keys.
func NewGroups(n int) *Groups { return &Groups{n: n, byKey: map[string]*callvault.QualityGroup{}} }

// get returns the group of keys, adding it when new. The keys may be
// memory that is not the caller's to keep (a store's row being read): a
// new group copies them.
func (g *Groups) get(keys []string) *callvault.QualityGroup {
	k := strings.Join(keys, "\x00")
	x := g.byKey[k]
	if x == nil {
		x = &callvault.QualityGroup{Keys: make([]string, len(keys))}
		for i, key := range keys {
			x.Keys[i] = strings.Clone(key)
		}
		g.byKey[strings.Clone(k)] = x
		g.order = append(g.order, x)
	}
	return x
}

// StreamTargets returns the scan destinations of a streams row and a
// function that adds the scanned row.
func (g *Groups) StreamTargets() ([]any, func()) {
	keys := make([]*string, g.n)
	var n, good, poor, unc int64
	var sums [6]*float64
	var counts [6]int64
	var t []any
	for i := range keys {
		keys[i] = new(string)
		t = append(t, keys[i])
	}
	t = append(t, &n, &good, &poor, &unc)
	for i := range sums {
		t = append(t, &sums[i], &counts[i])
	}
	return t, func() {
		x := g.get(deref(keys))
		x.Streams, x.Good, x.Poor, x.Unclassified = n, good, poor, unc
		for i := range sums {
			if sums[i] != nil {
				x.Sums[i] = *sums[i]
			}
			x.Counts[i] = counts[i]
		}
	}
}

// LegTargets is StreamTargets for a legs row.
func (g *Groups) LegTargets() ([]any, func()) {
	keys := make([]*string, g.n)
	var n, poor, good int64
	var t []any
	for i := range keys {
		keys[i] = new(string)
		t = append(t, keys[i])
	}
	t = append(t, &n, &poor, &good)
	return t, func() {
		x := g.get(deref(keys))
		x.Calls, x.PoorCalls, x.GoodCalls = n, poor, good
	}
}

func deref(ps []*string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}

// Result returns the groups, in the order they were first seen; a query
// without keys that matched nothing has none.
func (g *Groups) Result() []callvault.QualityGroup {
	out := make([]callvault.QualityGroup, 0, len(g.order))
	for _, x := range g.order {
		if x.Streams > 0 || x.Calls > 0 {
			out = append(out, *x)
		}
	}
	return out
}
