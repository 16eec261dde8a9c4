package analytics

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/qualitysql"
)

// column is how a dimension maps onto a stored column (or time bucket):
// the column's name, and its value as the dimension says it and back.
type column struct {
	name   string
	decode func(string) string
	encode func(string) (string, bool)
}

func same(s string) string             { return s }
func sameBack(s string) (string, bool) { return s, true }
func flag(yes, no string) column {
	return column{decode: func(v string) string {
		if v == "1" {
			return yes
		}
		return no
	}, encode: func(v string) (string, bool) {
		switch v {
		case yes:
			return "1", true
		case no:
			return "0", true
		}
		return "", false
	}}
}

// columns are the dimensions a store can count by itself. The building
// and endpoint dimensions are not: they join the tenant's files.
var columns = func() map[string]column {
	c := map[string]column{
		"day": {name: callvault.BucketDay, decode: func(v string) string {
			n, _ := strconv.ParseInt(v, 10, 64)
			return time.Unix(n*86400, 0).UTC().Format(time.DateOnly)
		}, encode: func(v string) (string, bool) {
			t, err := time.Parse(time.DateOnly, v)
			return strconv.FormatInt(t.Unix()/86400, 10), err == nil
		}},
		"week": {name: callvault.BucketWeek, decode: func(v string) string {
			n, _ := strconv.ParseInt(v, 10, 64)
			return time.Unix((n*7-3)*86400, 0).UTC().Format(time.DateOnly)
		}, encode: func(v string) (string, bool) {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil || weekStart(t) != t {
				return "", false
			}
			return strconv.FormatInt((t.Unix()/86400+3)/7, 10), true
		}},
		"month": {name: callvault.BucketMonth, decode: same, encode: sameBack},
	}
	for dim, col := range map[string]string{"media": "media", "label": "label", "direction": "direction", "class": "class", "callType": "call_type"} {
		c[dim] = column{name: col, decode: same, encode: sameBack}
	}
	pstn, conf := flag("PSTN", "VoIP"), flag("conference", "peerToPeer")
	pstn.name, conf.name = "pstn", "conference"
	c["pstn"], c["conference"] = pstn, conf
	for _, side := range []string{"first", "second"} {
		for dim, col := range map[string]string{"kind": "kind", "name": "name", "role": "role", "platform": "platform", "family": "family",
			"userAgent": "user_agent", "appVersion": "app_version", "user": "user_id", "userName": "user_name",
			"connection": "connection", "wifiBand": "wifi_band", "transport": "transport", "subnet": "subnet"} {
			c[side+"."+dim] = column{name: side + "_" + col, decode: same, encode: sameBack}
		}
	}
	return c
}()

// aggregate turns q into a store's aggregate, or reports that the store
// cannot count it by itself.
func aggregate(q Query, by []string) (callvault.QualityAggregate, []column, bool) {
	a := callvault.QualityAggregate{Start: callvault.TimeRange{From: q.From, FromInclusive: true, To: q.To}, Media: q.Media, Where: map[string]string{}, Stale: q.Stale}
	var cols []column
	for _, d := range by {
		c, ok := columns[d]
		if !ok {
			return a, nil, false
		}
		a.By = append(a.By, c.name)
		cols = append(cols, c)
	}
	for d, v := range q.Where {
		c, ok := columns[d]
		if !ok || c.name == callvault.BucketDay || c.name == callvault.BucketWeek || c.name == callvault.BucketMonth {
			return a, nil, false
		}
		enc, ok := c.encode(v)
		if !ok {
			return a, nil, false
		}
		a.Where[c.name] = enc
	}
	return a, cols, true
}

// buildingDims are the dimensions from the building file, by side.
var buildingDims = map[string]bool{}

func init() {
	for _, side := range []string{"first", "second"} {
		for _, n := range []string{"building", "network", "city", "country", "region", "buildingType", "insideCorp"} {
			buildingDims[side+"."+n] = true
		}
	}
}

// viaSubnet turns a query by one dimension of the building file into the
// same query by the endpoint's subnet and the mapping of a subnet onto the
// dimension's value: the store counts subnets (from its rollup), and the
// groups of the subnets of one building add up. Only when the file has no
// VPN network (which matches an endpoint by its address, not its subnet),
// and the query has no filter.
func viaSubnet(q Query, files *Files) (Query, func(string) string, bool) {
	if len(q.By) != 1 || len(q.Where) > 0 || !buildingDims[q.By[0]] || files == nil || files.Buildings.hasVPN() {
		return q, nil, false
	}
	side, _, _ := strings.Cut(q.By[0], ".")
	d := dimensions[q.By[0]]
	sub := q
	sub.By = []string{side + ".subnet"}
	return sub, func(subnet string) string {
		var s callvault.QualityStream
		s.First.Subnet, s.Second.Subnet = subnet, subnet
		return d(&s, files)
	}, true
}

// rollable reports whether the store answers q from its daily rollup, in
// a time that does not grow with the streams: q counted as it is, or by
// subnet for a building dimension.
func rollable(q Query, files *Files) bool {
	if sub, _, ok := viaSubnet(q, files); ok {
		q = sub
	}
	a, _, ok := aggregate(q, q.By)
	if !ok {
		return false
	}
	_, _, _, ok = qualitysql.Rollable(a)
	return ok
}

// pushable reports whether every query can be counted by the store.
func pushable(qs []Query) bool {
	for _, q := range qs {
		if _, _, ok := aggregate(q, q.By); !ok {
			return false
		}
	}
	return true
}

// runInStore answers the queries with the store's own counting: a
// statement pair for each query's groups, and one for the totals of the
// queries that share a period, media and filter.
func runInStore(ctx context.Context, agg callvault.QualityAggregator, tenant string, files *Files, qs []Query) ([]*Result, error) {
	totals := map[string]Row{}
	out := make([]*Result, len(qs))
	for i, q := range qs {
		counted, mapping, bySubnet := viaSubnet(q, files)
		if !bySubnet {
			counted = q
		}
		a, cols, _ := aggregate(counted, counted.By)
		groups, err := agg.AggregateQuality(ctx, tenant, a)
		if err != nil {
			return nil, err
		}
		if bySubnet {
			groups = regroup(groups, mapping)
			cols = []column{{decode: same}}
		}
		// Sized at once: a cold overview's worst subnets are tens of
		// thousands of rows, and growing the slice cost 7 % of its CPU.
		res := &Result{From: q.From.UTC(), To: q.To.UTC(), Media: q.Media, By: q.By, Rows: make([]Row, 0, len(groups))}
		if q.By == nil {
			res.By = []string{}
		}
		for _, g := range groups {
			keys := make([]string, len(cols))
			for j, c := range cols {
				keys[j] = c.decode(g.Keys[j])
			}
			res.Rows = append(res.Rows, rowOf(g, keys))
		}
		tk := fmt.Sprint(q.From.UnixNano(), q.To.UnixNano(), q.Media, q.Where)
		total, ok := totals[tk]
		if !ok {
			if len(q.By) == 0 {
				total = Row{Keys: []string{}}
				if len(res.Rows) == 1 {
					total = res.Rows[0]
				}
			} else {
				t, _, _ := aggregate(q, nil)
				tg, err := agg.AggregateQuality(ctx, tenant, t)
				if err != nil {
					return nil, err
				}
				total = Row{Keys: []string{}}
				if len(tg) == 1 {
					total = rowOf(tg[0], []string{})
				}
			}
			totals[tk] = total
		}
		res.Total = total
		if total.PoorPercent == nil && total.Streams == 0 {
			res.Total = finishRow(Row{Keys: []string{}}, [6]float64{}, [6]int64{})
		}
		sort.Slice(res.Rows, func(i, j int) bool { return lessKeys(res.Rows[i].Keys, res.Rows[j].Keys) })
		res.Rows = top(res.Rows, q)
		out[i] = res
	}
	return out, nil
}

func lessKeys(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func rowOf(g callvault.QualityGroup, keys []string) Row {
	r := Row{Keys: keys, Streams: g.Streams, Good: g.Good, Poor: g.Poor, Unclassified: g.Unclassified,
		Calls: g.Calls, GoodCalls: g.GoodCalls, PoorCalls: g.PoorCalls, UnclassifiedCall: g.Calls - g.GoodCalls - g.PoorCalls}
	return finishRow(r, g.Sums, g.Counts)
}

// finishRow sets a row's percentages and averages from its counts.
func finishRow(r Row, sums [6]float64, counts [6]int64) Row {
	r.PoorPercent = percent(r.Poor, r.Good+r.Poor)
	r.PoorCallPercent = percent(r.PoorCalls, r.GoodCalls+r.PoorCalls)
	avgs := []**float64{&r.AvgJitterMs, &r.AvgRoundTripMs, &r.AvgPacketLoss, &r.AvgDegradation, &r.AvgConcealed, &r.AvgFrameRate}
	for i, p := range avgs {
		if counts[i] > 0 {
			v := sums[i] / float64(counts[i])
			*p = &v
		}
	}
	return r
}

// regroup maps each group's one key and adds up the groups that map to
// the same value.
func regroup(groups []callvault.QualityGroup, mapping func(string) string) []callvault.QualityGroup {
	var out []callvault.QualityGroup
	at := map[string]int{}
	for _, g := range groups {
		k := mapping(g.Keys[0])
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, callvault.QualityGroup{Keys: []string{k}})
			i = len(out) - 1
		}
		out[i].Add(&g)
	}
	return out
}
