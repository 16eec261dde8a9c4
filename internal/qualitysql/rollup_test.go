package qualitysql

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// The cache forgets its oldest answers past n answers or its bound on
// groups, and never keeps one larger than the bound.
func TestCacheBounds(t *testing.T) {
	c := NewCache[int](2)
	c.Put(1, make([]callvault.QualityGroup, 3))
	c.Put(2, make([]callvault.QualityGroup, 3))
	c.Put(3, make([]callvault.QualityGroup, 3))
	if _, ok := c.Get(1); ok {
		t.Error("kept a third answer in a cache of two")
	}
	if g, ok := c.Get(3); !ok || len(g) != 3 {
		t.Errorf("the latest answer: %d groups, %v", len(g), ok)
	}
	c.Put(4, make([]callvault.QualityGroup, maxCachedGroups))
	if _, ok := c.Get(2); ok || c.groups != maxCachedGroups {
		t.Errorf("%d groups kept, the bound is %d", c.groups, maxCachedGroups)
	}
	c.Put(5, make([]callvault.QualityGroup, maxCachedGroups+1))
	if _, ok := c.Get(5); ok {
		t.Error("kept an answer larger than the bound")
	}
}

// The rollup answers whole UTC days, no filter, one bucket and one column.
func TestRollable(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2026, 8, day, 0, 0, 0, 0, time.UTC) }
	whole := callvault.TimeRange{From: d(3), FromInclusive: true, To: d(10)}
	for _, c := range []struct {
		q    callvault.QualityAggregate
		dim  string
		want bool
	}{
		{callvault.QualityAggregate{Start: whole}, "", true},
		{callvault.QualityAggregate{Start: whole, Media: "audio", By: []string{callvault.BucketWeek, "second_subnet"}}, "second_subnet", true},
		{callvault.QualityAggregate{Start: whole, By: []string{"media", callvault.BucketDay}}, "", true},
		{callvault.QualityAggregate{Start: callvault.TimeRange{From: d(3).Add(time.Hour), FromInclusive: true, To: d(10)}}, "", false},
		{callvault.QualityAggregate{Start: callvault.TimeRange{From: d(3), To: d(10)}}, "", false},
		{callvault.QualityAggregate{Start: callvault.TimeRange{To: d(10)}}, "", false},
		{callvault.QualityAggregate{Start: whole, Where: map[string]string{"second_platform": "windows"}}, "", false},
		{callvault.QualityAggregate{Start: whole, By: []string{"second_subnet", "second_platform"}}, "", false},
		{callvault.QualityAggregate{Start: whole, By: []string{callvault.BucketDay, callvault.BucketMonth}}, "", false},
		{callvault.QualityAggregate{Start: whole, By: []string{"first_ip"}}, "", false},
	} {
		from, to, dim, ok := Rollable(c.q)
		if ok != c.want || ok && (dim != c.dim || from != Day(d(3)) || to != Day(d(10))) {
			t.Errorf("%+v: %d %d %q %v", c.q, from, to, dim, ok)
		}
	}
}

// BenchmarkDayRollupOfAMeeting rolls up the day of a meeting of 60,000
// sessions, each a segment of two audio streams and a video one, every
// participant with an endpoint of its own: the memory a refresh holds is
// what it keeps a leg by, under each of some thirty columns.
func BenchmarkDayRollupOfAMeeting(b *testing.B) {
	start := time.Date(2026, 8, 3, 9, 0, 0, 0, time.UTC)
	var streams []callvault.QualityStream
	jitter := 12.0
	for i := range 60000 {
		user := fmt.Sprintf("user-%05d", i)
		for j, media := range []string{callvault.MediaAudio, callvault.MediaAudio, callvault.MediaVideo} {
			class := callvault.ClassGood
			if i%17 == 0 && j == 1 {
				class = callvault.ClassPoor
			}
			streams = append(streams, callvault.QualityStream{RecordID: "meeting", SessionSeq: i + 1, SegmentSeq: 1, Seq: j + 1,
				Start: start.Add(time.Duration(i) * time.Second), Media: media, Class: class, JitterMs: &jitter,
				First:  callvault.QualityEndpoint{UserID: user, Subnet: fmt.Sprintf("10.%d.%d.0", i/256%256, i%256), Platform: "windows"},
				Second: callvault.QualityEndpoint{Kind: "server", Role: "skypeForBusinessAudioVideoMcu"}})
		}
	}
	b.ReportAllocs()
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := NewDayRollup(DayOfNanos(start.UnixNano()))
		for i := range streams {
			r.Add(&streams[i])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(r.Rows()) == 0 {
			b.Fatal("no rows")
		}
	}
	// What the rollup holds once every stream is counted.
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-held")
}

// TestLegRunsMergeALegThatComesBack feeds a counter's legs by id with a
// leg's streams apart (A, B, A): the leg counts once, of the class of all
// its streams, as Add counts it by key.
func TestLegRunsMergeALegThatComesBack(t *testing.T) {
	stream := func(segment int, class string) *callvault.QualityStream {
		return &callvault.QualityStream{RecordID: "r", SessionSeq: 1, SegmentSeq: segment, Media: callvault.MediaAudio, Class: class}
	}
	feed := []struct {
		leg int32
		s   *callvault.QualityStream
	}{
		{0, stream(1, callvault.ClassGood)}, {1, stream(2, callvault.ClassGood)}, {0, stream(1, callvault.ClassPoor)},
		{2, stream(3, "")}, {1, stream(2, "")}, {2, stream(3, callvault.ClassGood)}, {3, stream(4, "")},
	}
	var byID, byKey Counter
	for _, f := range feed {
		byID.addLeg(f.s, f.leg)
		byKey.Add(f.s)
	}
	got, want := byID.Group(), byKey.Group()
	if !reflect.DeepEqual(got, want) || got.Calls != 4 || got.PoorCalls != 1 || got.GoodCalls != 2 {
		t.Errorf("by leg id: %+v\nby key:    %+v\nwant 4 calls, 1 poor, 2 good", got, want)
	}
	if again := byID.Group(); !reflect.DeepEqual(again, got) {
		t.Errorf("a second Group: %+v, the first %+v", again, got)
	}
}

// TestRowsComeInKeyOrder: a day's rows come sorted by dimension, media and
// value (so that stores append them to their index), each once, and the
// rollup lets them go as it hands them out.
func TestRowsComeInKeyOrder(t *testing.T) {
	start := time.Date(2026, 8, 3, 9, 0, 0, 0, time.UTC)
	r := NewDayRollup(DayOfNanos(start.UnixNano()))
	for i := range 50 {
		media := []string{callvault.MediaVideo, callvault.MediaAudio}[i%2]
		r.Add(&callvault.QualityStream{RecordID: "r", SessionSeq: 50 - i, SegmentSeq: 1, Seq: 1, Start: start, Media: media,
			Class: callvault.ClassGood, First: callvault.QualityEndpoint{UserID: fmt.Sprintf("user-%02d", 50-i)}})
	}
	want := len(r.rows)
	rows := r.Rows()
	if len(rows) != want || len(r.rows) != 0 {
		t.Fatalf("%d rows of %d, %d still held", len(rows), want, len(r.rows))
	}
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		if slices.Compare([]string{a.Dim, a.Media, a.Value}, []string{b.Dim, b.Media, b.Value}) >= 0 {
			t.Fatalf("row %d (%s %s %s) after (%s %s %s)", i, b.Dim, b.Value, b.Media, a.Dim, a.Value, a.Media)
		}
	}
}

// TestSplitDaysCoversThePeriodInOrder: the parts are consecutive whole
// days that cover the period exactly, at most n of them and none shorter
// than minDaysAPart unless there is one.
func TestSplitDaysCoversThePeriodInOrder(t *testing.T) {
	for _, c := range []struct {
		from, to int64
		n, want  int
	}{{100, 128, 2, 2}, {100, 128, 8, 7}, {100, 101, 4, 1}, {100, 107, 2, 1}, {100, 108, 2, 2}, {100, 100, 2, 1}, {100, 400, 1, 1}, {100, 131, 3, 3}} {
		parts := splitDays(c.from, c.to, c.n)
		if len(parts) != c.want {
			t.Errorf("[%d, %d) in %d: %d parts %v, want %d", c.from, c.to, c.n, len(parts), parts, c.want)
			continue
		}
		at := c.from
		for _, p := range parts {
			if p[0] != at || (len(parts) > 1 && p[1]-p[0] < minDaysAPart) {
				t.Errorf("[%d, %d) in %d: %v", c.from, c.to, c.n, parts)
				break
			}
			at = p[1]
		}
		if at != c.to {
			t.Errorf("[%d, %d) in %d: %v ends at %d", c.from, c.to, c.n, parts, at)
		}
	}
}

// TestMergeAddsAsOneSumWould: a query's rows added in two sums and merged
// give the groups, in the order, that one sum of all the rows gives.
func TestMergeAddsAsOneSumWould(t *testing.T) {
	q := callvault.QualityAggregate{Media: callvault.MediaAudio, By: []string{callvault.BucketWeek, "second_subnet"}}
	var rows []RollupRow
	for day := int64(20600); day < 20614; day++ {
		for v := range 5 {
			if (int(day)+v)%3 == 0 {
				continue
			}
			g := callvault.QualityGroup{Streams: day - 20590, Good: int64(v), Poor: 1, Calls: 2, PoorCalls: 1, Sums: [6]float64{float64(v) / 3}, Counts: [6]int64{1}}
			rows = append(rows, RollupRow{Day: day, Dim: "second_subnet", Value: fmt.Sprintf("10.0.%d.0", v), Media: callvault.MediaAudio, Group: g})
		}
	}
	one := newRollupSum(q)
	for i := range rows {
		one.add(&rows[i])
	}
	a, b := newRollupSum(q), newRollupSum(q)
	for i := range rows {
		if rows[i].Day < 20607 {
			a.add(&rows[i])
		} else {
			b.add(&rows[i])
		}
	}
	a.merge(b)
	if got, want := a.result(), one.result(); !reflect.DeepEqual(got, want) {
		t.Errorf("merged:\n%+v\none sum:\n%+v", got, want)
	}
}

// TestCountsPackAndUnpack: a group's counts come back as they were packed,
// and counts in another format are an error, not a panic.
func TestCountsPackAndUnpack(t *testing.T) {
	g := callvault.QualityGroup{Streams: 1 << 40, Good: 3, Poor: 0, Unclassified: 127, Sums: [6]float64{1.5, -0, 1e300, 0.1, 7, 8},
		Counts: [6]int64{1, 2, 128, 300, 1 << 20, 6}, Calls: 9, GoodCalls: 8, PoorCalls: 1}
	b := PackCounts(nil, &g)
	var got callvault.QualityGroup
	if err := UnpackCounts(&got, b); err != nil || !reflect.DeepEqual(got, g) {
		t.Fatalf("unpacked %+v, %v; want %+v", got, err, g)
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(slices.Clone(b), 0), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if err := UnpackCounts(&got, bad); err == nil {
			t.Errorf("%x unpacked without an error", bad)
		}
	}
}

// TestSumIsTheGroupsOfAMap: rows added in runs in key order, in runs out
// of it, with keys repeated within a run and in any mix of buckets and
// columns, give the groups a map of their keys gives, sorted by key, each
// sum added in the order of the rows.
func TestSumIsTheGroupsOfAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 3))
	medias := []string{callvault.MediaAudio, callvault.MediaVideo, "screenSharing"}
	for _, by := range [][]string{
		{"second_subnet"},
		{"media", "second_subnet"},
		{"second_subnet", "media"},
		{callvault.BucketWeek, "second_subnet"},
		{"second_subnet", callvault.BucketDay},
		{callvault.BucketMonth},
		{callvault.BucketDay, "media"},
		nil,
	} {
		for _, media := range []string{"", callvault.MediaAudio} {
			q := callvault.QualityAggregate{Media: media, By: by}
			var rows []RollupRow
			for day := int64(20600); day < 20640; day++ {
				var today []RollupRow
				for _, m := range medias {
					for v := range 200 {
						// Some days have a row for most values, some for
						// few, far apart.
						if rng.IntN(10) < int(day%3)*4 {
							continue
						}
						g := callvault.QualityGroup{Streams: rng.Int64N(9) + 1, Poor: rng.Int64N(3), Calls: rng.Int64N(4),
							Sums: [6]float64{rng.Float64(), rng.Float64() * 1e6}, Counts: [6]int64{1, 2}}
						today = append(today, RollupRow{Day: day, Value: fmt.Sprintf("10.%d.%d.0", v%7, v), Media: m, Group: g})
					}
				}
				// The store's order (media, value), but for some days,
				// whose rows come in any order.
				slices.SortFunc(today, func(a, b RollupRow) int {
					return slices.Compare([]string{a.Media, a.Value}, []string{b.Media, b.Value})
				})
				if day%5 == 0 {
					rng.Shuffle(len(today), func(i, j int) { today[i], today[j] = today[j], today[i] })
				}
				rows = append(rows, today...)
			}
			want := NewGroups(len(by))
			keyed := newRollupSum(q) // for its keys only
			for i := range rows {
				if media != "" && rows[i].Media != media {
					continue
				}
				keyed.add(&RollupRow{Day: rows[i].Day, Value: rows[i].Value, Media: rows[i].Media}) // sets keyed.keys
				want.get(keyed.keys).Add(&rows[i].Group)
			}
			wanted := want.Result()
			slices.SortFunc(wanted, func(a, b callvault.QualityGroup) int { return slices.Compare(a.Keys, b.Keys) })
			one := newRollupSum(q)
			for i := range rows {
				one.add(&rows[i])
			}
			if got := one.result(); !reflect.DeepEqual(got, wanted) {
				t.Errorf("by %v, media %q: %d groups, want %d", by, media, len(got), len(wanted))
			}
		}
	}
}
