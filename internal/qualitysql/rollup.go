package qualitysql

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callvault/callvault"
)

// The daily rollup: for each tenant, UTC day, dimension (a column of
// RollupColumns, or "" for the day's total), value of it and media, the
// counts a QualityGroup holds. A store keeps it beside the stream rows,
// recomputes a day from them when the day is dirty (an import marks the
// days of the streams it writes or deletes), and answers from it the
// aggregates Rollable accepts: the pages of the web view and most of the
// analytics API. Counts add up over days and over media; a call leg
// counts in the day of its audio streams, which start together in what
// Graph reports (a leg whose audio streams started on two UTC days would
// count once in each).

// RollupColumns are the columns the rollup counts by, one at a time.
var RollupColumns = []string{
	"label", "direction", "class", "call_type", "pstn", "conference",
	"first_kind", "first_name", "first_role", "first_platform", "first_family", "first_user_agent", "first_app_version",
	"first_user_id", "first_user_name", "first_connection", "first_wifi_band", "first_transport", "first_subnet",
	"second_kind", "second_name", "second_role", "second_platform", "second_family", "second_user_agent", "second_app_version",
	"second_user_id", "second_user_name", "second_connection", "second_wifi_band", "second_transport", "second_subnet",
}

// RollupDims is the rollup's dimensions ("" and RollupColumns) as a list
// of SQL string literals, for "dim IN (…)": a day's rows are deleted
// dimension by dimension, each a range of the key (tenant, dim, day, …);
// "WHERE tenant = ? AND day = ?" alone read every row of the tenant's
// rollup to find them, a cost that grew with the days kept.
var RollupDims = func() string {
	dims := []string{"''"}
	for _, c := range RollupColumns {
		dims = append(dims, "'"+c+"'") // identifiers: no quote to escape
	}
	return strings.Join(dims, ", ")
}()

// Day is a UTC day as days since 1970-01-01, as the rollup keys it (and
// as SQL's integer division of start_time tells it).
func Day(t time.Time) int64 { return DayOfNanos(t.UnixNano()) }

// DayOfNanos is Day of a start_time column's value.
func DayOfNanos(n int64) int64 { return n / int64(24*time.Hour) }

// RollupRow is one row of the rollup.
type RollupRow struct {
	Day        int64
	Dim, Value string
	Media      string
	Group      callvault.QualityGroup // Keys unused
}

// The rollup's table keys a row by (tenant, dim, day, media, value) and
// keeps its counts in one column, counts, packed (PackCounts): a period
// adds up hundreds of thousands of rows in Go, one day's rows of one media
// a statement, and reading nineteen columns a row, or SQLite's nineteen
// SUMs, cost three times more than reading one.

// Values returns the row's values for the columns day, media, value and
// counts.
func (r *RollupRow) Values() []any {
	return []any{r.Day, r.Media, r.Value, PackCounts(nil, &r.Group)}
}

// countsFloats is the length of the sums at the end of packed counts.
const countsFloats = 6 * 8

// PackCounts appends g's counts as the rollup's counts column holds them:
// Streams, Good, Poor, Unclassified, Counts[0..5], Calls, GoodCalls and
// PoorCalls as unsigned varints, then Sums[0..5] as IEEE 754 doubles,
// little-endian.
func PackCounts(b []byte, g *callvault.QualityGroup) []byte {
	for _, n := range [...]int64{g.Streams, g.Good, g.Poor, g.Unclassified,
		g.Counts[0], g.Counts[1], g.Counts[2], g.Counts[3], g.Counts[4], g.Counts[5], g.Calls, g.GoodCalls, g.PoorCalls} {
		b = binary.AppendUvarint(b, uint64(n))
	}
	for _, f := range g.Sums {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

// UnpackCounts reads counts that PackCounts wrote into g (all but Keys).
func UnpackCounts(g *callvault.QualityGroup, b []byte) error {
	var ns [13]int64
	for i := range ns {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > math.MaxInt64 {
			return fmt.Errorf("a rollup row's counts are not in this build's format (%d bytes)", len(b))
		}
		ns[i], b = int64(n), b[k:]
	}
	if len(b) != countsFloats {
		return fmt.Errorf("a rollup row's counts are not in this build's format (%d bytes of sums)", len(b))
	}
	g.Streams, g.Good, g.Poor, g.Unclassified = ns[0], ns[1], ns[2], ns[3]
	copy(g.Counts[:], ns[4:10])
	g.Calls, g.GoodCalls, g.PoorCalls = ns[10], ns[11], ns[12]
	for i := range g.Sums {
		g.Sums[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[i*8:]))
	}
	return nil
}

// Counter counts streams as a QualityGroup: by class, the metrics' sums
// and counts, and the audio call legs by CQD's call class (poor when one
// of its audio streams is, good when one is good and none poor). The one
// counting of both the rollup and the analytics' pass over the rows.
type Counter struct {
	g    callvault.QualityGroup
	legs map[legKey]uint8 // by Add: 0 unclassified, 1 good, 2 poor
	runs []legRun         // by addLeg: the same by the DayRollup's leg ids
}

// legRun is the class of a leg after a run of its streams that a counter
// counted one after the other. A leg's streams come together, so a leg has
// one run a counter, and a slice of them holds what a map of legs did in a
// fifth of the memory; a leg that comes back later has another run, which
// Group merges.
type legRun struct {
	leg   int32
	class uint8
}

type legKey struct {
	record           string
	session, segment int
}

// Add counts s.
func (c *Counter) Add(s *callvault.QualityStream) {
	c.count(s)
	if s.Media == callvault.MediaAudio {
		if c.legs == nil {
			c.legs = map[legKey]uint8{}
		}
		k := legKey{s.RecordID, s.SessionSeq, s.SegmentSeq}
		c.legs[k] = legClass(c.legs[k], s)
	}
}

// addLeg is Add for a stream whose audio leg has the id leg: a day's
// rollup counts each leg under some thirty dimensions, and an int32 per
// leg and counter holds a tenth of what a record id and two ints do.
func (c *Counter) addLeg(s *callvault.QualityStream, leg int32) {
	c.count(s)
	if s.Media == callvault.MediaAudio {
		if n := len(c.runs); n > 0 && c.runs[n-1].leg == leg {
			c.runs[n-1].class = legClass(c.runs[n-1].class, s)
		} else {
			c.runs = append(c.runs, legRun{leg, legClass(0, s)})
		}
	}
}

// count counts s's class and metrics.
func (c *Counter) count(s *callvault.QualityStream) {
	g := &c.g
	g.Streams++
	switch s.Class {
	case callvault.ClassGood:
		g.Good++
	case callvault.ClassPoor:
		g.Poor++
	default:
		g.Unclassified++
	}
	for i, v := range [...]*float64{s.JitterMs, s.RoundTripMs, s.PacketLoss, s.Degradation, s.Concealed, s.FrameRate} {
		if v != nil && !math.IsNaN(*v) {
			g.Sums[i] += *v
			g.Counts[i]++
		}
	}
}

// legClass is a leg's class l (0 unclassified, 1 good, 2 poor) after one
// more of its audio streams, s.
func legClass(l uint8, s *callvault.QualityStream) uint8 {
	switch {
	case s.Class == callvault.ClassPoor:
		return 2
	case s.Class == callvault.ClassGood && l == 0:
		return 1
	}
	return l
}

// Group returns the counts so far.
func (c *Counter) Group() callvault.QualityGroup {
	g := c.g
	for _, l := range c.legs {
		tallyLeg(&g, l)
	}
	c.mergeRuns()
	for _, r := range c.runs {
		tallyLeg(&g, r.class)
	}
	return g
}

// mergeRuns leaves one run a leg, of the class of all its runs: the higher
// of their classes, as legClass's order is unclassified, good, poor.
func (c *Counter) mergeRuns() {
	if slices.IsSortedFunc(c.runs, func(a, b legRun) int { return cmp.Compare(a.leg, b.leg) }) && !hasRepeats(c.runs) {
		return
	}
	slices.SortFunc(c.runs, func(a, b legRun) int { return cmp.Compare(a.leg, b.leg) })
	out := c.runs[:0]
	for _, r := range c.runs {
		if n := len(out); n > 0 && out[n-1].leg == r.leg {
			out[n-1].class = max(out[n-1].class, r.class)
			continue
		}
		out = append(out, r)
	}
	c.runs = out
}

// hasRepeats reports whether runs, sorted by leg, has a leg twice.
func hasRepeats(runs []legRun) bool {
	for i := 1; i < len(runs); i++ {
		if runs[i].leg == runs[i-1].leg {
			return true
		}
	}
	return false
}

// tallyLeg counts a leg of class l (legClass) in g's calls.
func tallyLeg(g *callvault.QualityGroup, l uint8) {
	g.Calls++
	switch l {
	case 2:
		g.PoorCalls++
	case 1:
		g.GoodCalls++
	}
}

// DayRollup computes one day's rollup rows from its streams.
type DayRollup struct {
	day  int64
	rows map[[3]string]*Counter
	legs map[legKey]int32 // each audio leg of the day, numbered
}

// NewDayRollup starts the rollup of a day.
func NewDayRollup(day int64) *DayRollup {
	return &DayRollup{day: day, rows: map[[3]string]*Counter{}, legs: map[legKey]int32{}}
}

// Add counts a stream of the day in the total and under each column.
func (d *DayRollup) Add(s *callvault.QualityStream) {
	leg := int32(-1)
	if s.Media == callvault.MediaAudio {
		k := legKey{s.RecordID, s.SessionSeq, s.SegmentSeq}
		var ok bool
		if leg, ok = d.legs[k]; !ok {
			leg = int32(len(d.legs))
			d.legs[k] = leg
		}
	}
	d.add("", "", s, leg)
	for _, c := range RollupColumns {
		d.add(c, ColumnText(s, c), s, leg)
	}
}

func (d *DayRollup) add(dim, value string, s *callvault.QualityStream, leg int32) {
	k := [3]string{dim, value, s.Media}
	c := d.rows[k]
	if c == nil {
		c = &Counter{}
		d.rows[k] = c
	}
	c.addLeg(s, leg)
}

// Rows returns the day's rows, in the order of All.
func (d *DayRollup) Rows() []RollupRow {
	out := make([]RollupRow, 0, len(d.rows))
	for r := range d.All() {
		out = append(out, *r)
	}
	return out
}

// All yields the day's rows in the order of the rollup's key (dimension,
// media, value), so that a store appends them to its index rather than
// inserting each at a random place in it: on SQLite's writer, whose cache
// holds a few MB, that is the difference between reading the index's pages
// back for each row and writing each page once. The row yielded is reused.
//
// Each row's counter is let go once yielded, so that the rollup holds less
// as it is written: a day of a big meeting has hundreds of thousands of
// rows, and a slice of them all beside the counters doubled what a refresh
// held. The rows can be had once.
func (d *DayRollup) All() iter.Seq[*RollupRow] {
	return func(yield func(*RollupRow) bool) {
		keys := make([][3]string, 0, len(d.rows))
		for k := range d.rows {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b [3]string) int {
			return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[2], b[2]), cmp.Compare(a[1], b[1]))
		})
		var row RollupRow
		for _, k := range keys {
			c := d.rows[k]
			if c == nil {
				continue
			}
			delete(d.rows, k)
			row = RollupRow{Day: d.day, Dim: k[0], Value: k[1], Media: k[2], Group: c.Group()}
			if !yield(&row) {
				return
			}
		}
	}
}

// ColumnText is a stream's column as CAST(column AS TEXT) reads it.
func ColumnText(s *callvault.QualityStream, column string) string {
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	switch column {
	case "media":
		return s.Media
	case "label":
		return s.Label
	case "direction":
		return s.Direction
	case "class":
		return s.Class
	case "call_type":
		return s.CallType
	case "pstn":
		return flag(s.PSTN)
	case "conference":
		return flag(s.Conference)
	}
	e := &s.First
	rest, ok := cutPrefix(column, "first_")
	if !ok {
		e = &s.Second
		rest, _ = cutPrefix(column, "second_")
	}
	switch rest {
	case "kind":
		return e.Kind
	case "name":
		return e.Name
	case "role":
		return e.Role
	case "platform":
		return e.Platform
	case "family":
		return e.Family
	case "user_agent":
		return e.UserAgent
	case "app_version":
		return e.AppVersion
	case "user_id":
		return e.UserID
	case "user_name":
		return e.UserName
	case "connection":
		return e.Connection
	case "wifi_band":
		return e.WifiBand
	case "transport":
		return e.Transport
	case "subnet":
		return e.Subnet
	case "ip":
		return e.IP
	}
	return ""
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

// Rollable tells whether the rollup answers q, and if so the days it
// reads, [from, to), and the rollup dimension to read ("" for the totals,
// which media also reads). It answers a query over whole UTC days, with no
// filter but media, grouped by at most one time bucket and one column of
// RollupColumns or media.
func Rollable(q callvault.QualityAggregate) (from, to int64, dim string, ok bool) {
	if len(q.Where) > 0 || q.Start.From.IsZero() || q.Start.To.IsZero() || !q.Start.FromInclusive || q.Start.ToInclusive {
		return 0, 0, "", false
	}
	if !midnight(q.Start.From) || !midnight(q.Start.To) {
		return 0, 0, "", false
	}
	buckets, columns := 0, 0
	for _, b := range q.By {
		switch {
		case b == callvault.BucketDay || b == callvault.BucketWeek || b == callvault.BucketMonth:
			buckets++
		case b == "media":
			columns++
		case slices.Contains(RollupColumns, b):
			columns++
			dim = b
		default:
			return 0, 0, "", false
		}
	}
	if buckets > 1 || columns > 1 {
		return 0, 0, "", false
	}
	return Day(q.Start.From), Day(q.Start.To), dim, true
}

func midnight(t time.Time) bool { return t.UnixNano()%int64(24*time.Hour) == 0 }

// rollupSum adds up rollup rows into the groups of a query, a row at a
// time: Aggregate adds each row as it scans it, rather than keeping a
// slice of hundreds of thousands (a fifth of a cold overview's CPU went
// to growing it).
//
// The groups are kept in the order of their keys, and a row's group is
// found from the last row's by a search that gallops forward, rather than
// by hashing its keys: the rollup hands out a day's rows of a media in the
// order of their values, so for the queries it answers the rows come in
// runs already in the order of their keys, each row a comparison or a few
// from the last. A row whose keys come before the last row's starts a new
// run. Hashing tens of thousands of subnets' keys, a lookup at a random
// place of memory a row, was a third of a cold overview's CPU, and the
// groups still had to be sorted at the end.
type rollupSum struct {
	q    callvault.QualityAggregate
	keys []string
	// groups are in the order of their keys. fresh are the groups new in
	// the present run, each with the place in groups it goes to, merged
	// into them when the run ends (spare is the memory for the next
	// merge). at is the run's place in groups, last the group the last row
	// was added to.
	groups, spare []*callvault.QualityGroup
	fresh         []freshGroup
	at            int
	last          *callvault.QualityGroup
	// day and dayKey keep the text of the last day's bucket: a day's rows
	// come together.
	day    int64
	dayKey string
}

// freshGroup is a group new in a run, which goes before groups[at].
type freshGroup struct {
	at int
	g  *callvault.QualityGroup
}

func newRollupSum(q callvault.QualityAggregate) *rollupSum {
	return &rollupSum{q: q, keys: make([]string, len(q.By)), day: -1}
}

// add adds r, unless it is of another media than the query's.
func (s *rollupSum) add(r *RollupRow) {
	if s.q.Media != "" && r.Media != s.q.Media {
		return
	}
	for j, b := range s.q.By {
		switch b {
		case callvault.BucketDay, callvault.BucketWeek, callvault.BucketMonth:
			s.keys[j] = s.bucket(b, r.Day)
		case "media":
			s.keys[j] = r.Media
		default:
			s.keys[j] = r.Value
		}
	}
	// A row of another media than audio has no call legs (a Counter
	// counts legs by their audio streams), so its calls add nothing.
	s.group(s.keys).Add(&r.Group)
}

// bucket is the text of day's time bucket b.
func (s *rollupSum) bucket(b string, day int64) string {
	if day != s.day {
		s.day = day
		switch b {
		case callvault.BucketDay:
			s.dayKey = strconv.FormatInt(day, 10)
		case callvault.BucketWeek:
			s.dayKey = strconv.FormatInt((day+3)/7, 10)
		default:
			s.dayKey = time.Unix(day*86400, 0).UTC().Format("2006-01")
		}
	}
	return s.dayKey
}

// group returns the group of keys, adding it when new. The keys may be
// memory that is not the caller's to keep (a store's row being read): a
// new group copies them.
func (s *rollupSum) group(keys []string) *callvault.QualityGroup {
	if s.last != nil {
		switch c := slices.Compare(keys, s.last.Keys); {
		case c == 0:
			return s.last
		case c < 0:
			s.endRun()
		}
	}
	s.at = s.seek(keys)
	if s.at < len(s.groups) && slices.Equal(s.groups[s.at].Keys, keys) {
		s.last = s.groups[s.at]
		return s.last
	}
	x := &callvault.QualityGroup{Keys: make([]string, len(keys))}
	for i, k := range keys {
		x.Keys[i] = strings.Clone(k)
	}
	s.fresh = append(s.fresh, freshGroup{s.at, x})
	s.last = x
	return x
}

// seek returns the place of the first of groups, from at on, whose keys
// are not before keys: it steps 1, 2, 4... groups forward until it passes
// them, then searches the last step by halves, so that a row next to the
// last costs a comparison, and one far from it a few.
func (s *rollupSum) seek(keys []string) int {
	lo, n := s.at, len(s.groups)
	if lo >= n || slices.Compare(s.groups[lo].Keys, keys) >= 0 {
		return lo
	}
	// groups[lo] is before keys; find hi that is not, or n.
	hi := lo + 1
	for step := 1; hi < n && slices.Compare(s.groups[hi].Keys, keys) < 0; step *= 2 {
		lo, hi = hi, min(hi+step*2, n)
	}
	i, _ := slices.BinarySearchFunc(s.groups[lo+1:hi], keys, func(g *callvault.QualityGroup, k []string) int { return slices.Compare(g.Keys, k) })
	return lo + 1 + i
}

// endRun merges the run's new groups into the others, each at its place,
// and puts the run's place back at the start.
func (s *rollupSum) endRun() {
	s.at, s.last = 0, nil
	if len(s.fresh) == 0 {
		return
	}
	merged, from := s.spare[:0], 0
	for _, f := range s.fresh {
		merged = append(append(merged, s.groups[from:f.at]...), f.g)
		from = f.at
	}
	merged = append(merged, s.groups[from:]...)
	s.groups, s.spare, s.fresh = merged, s.groups, s.fresh[:0]
}

// merge adds the groups of o, a sum of the same query over later days:
// its groups are one run.
func (s *rollupSum) merge(o *rollupSum) {
	o.endRun()
	s.endRun()
	for _, y := range o.groups {
		s.group(y.Keys).Add(y)
	}
	s.endRun()
}

// result returns the groups in the order of their keys, but those that
// counted nothing.
func (s *rollupSum) result() []callvault.QualityGroup {
	s.endRun()
	out := make([]callvault.QualityGroup, 0, len(s.groups))
	for _, x := range s.groups {
		if x.Streams > 0 || x.Calls > 0 {
			out = append(out, *x)
		}
	}
	return out
}

// Key is q as text, for a cache of answers.
func Key(q callvault.QualityAggregate) string {
	return fmt.Sprintf("%d/%v/%d/%v/%s/%q/%v", q.Start.From.UnixNano(), q.Start.FromInclusive, q.Start.To.UnixNano(), q.Start.ToInclusive,
		q.Media, q.By, q.Where)
}

// Cache keeps the latest answers put in it, at most n of them and at
// most maxCachedGroups groups in all (an answer by subnet or user over a
// month of a million sessions has hundreds of thousands), safe for
// concurrent use.
type Cache[K comparable] struct {
	mu     sync.Mutex
	n      int
	groups int
	items  map[K][]callvault.QualityGroup
	order  []K
}

// maxCachedGroups bounds the memory a Cache holds: some 100 bytes a group.
const maxCachedGroups = 1 << 20

// NewCache returns a cache of n answers.
func NewCache[K comparable](n int) *Cache[K] {
	return &Cache[K]{n: n, items: map[K][]callvault.QualityGroup{}}
}

// Get returns the answer kept for k, shared with every other caller, who
// read it and do not change it (callvault.QualityAggregator).
func (c *Cache[K]) Get(k K) ([]callvault.QualityGroup, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.items[k]
	return g, ok
}

// Put keeps g for k, forgetting the oldest answers when full. An answer
// larger than the whole cache is not kept. g is kept as it is, not
// copied: no one changes it after.
func (c *Cache[K]) Put(k K, g []callvault.QualityGroup) {
	if len(g) > maxCachedGroups {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.items[k]; ok {
		c.groups -= len(old)
	} else {
		c.order = append(c.order, k)
	}
	c.items[k] = g
	c.groups += len(g)
	for len(c.order) > c.n || c.groups > maxCachedGroups {
		c.groups -= len(c.items[c.order[0]])
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
}
