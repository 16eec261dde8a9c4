package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// RunQuality runs the conformance suite of the optional
// callvault.QualityStore capability. Each subtest uses tenants of its own.
func RunQuality(t *testing.T, open func(t *testing.T) callvault.Store) {
	s := &qualitySuite{open: open}
	t.Run("a record's streams are stored with it and read back column for column", s.testRoundTrip)
	t.Run("a new version replaces the streams; one without quality drops them", s.testReplace)
	t.Run("streams are read per tenant and start time", s.testWalls)
	t.Run("FillQuality classifies the records stored without quality, once", s.testFill)
	t.Run("tenant files are kept per tenant and kind, the last one active", s.testFiles)
	t.Run("AggregateQuality counts a tenant's streams and audio legs by columns", s.testAggregate)
	t.Run("RefreshQualityRollup computes the dirty days, which the rollup then answers from", s.testRefreshRollup)
	t.Run("VisitQualityStreamsByCall hands out a period's streams call by call, the latest first", s.testByCall)
}

type qualitySuite struct {
	open func(t *testing.T) callvault.Store
}

type qualityStore interface {
	callvault.Store
	callvault.QualityStore
}

func (s *qualitySuite) store(t *testing.T) qualityStore {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() { st.Close() })
	qs, ok := st.(qualityStore)
	if !ok {
		t.Skip("the store keeps no quality")
	}
	return qs
}

var qualityT0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func fp(v float64) *float64 { return &v }

// qualityRecord is a record of one session of segments segments, each with
// the session and segment bodies FillQuality hands the QualityFunc.
func qualityRecord(tenant, id string, version int64, start time.Time, segments int) *callvault.Record {
	r := &callvault.Record{Tenant: tenant, ID: id, Version: version, StartDateTime: start, EndDateTime: start.Add(time.Hour),
		Body: []byte(fmt.Sprintf(`{"id":%q,"version":%d}`, id, version))}
	ses := callvault.Session{ID: "s1", Body: []byte(`{"id":"s1"}`)}
	for i := range segments {
		ses.Segments = append(ses.Segments, callvault.Segment{ID: fmt.Sprint("g", i+1), Body: []byte(fmt.Sprintf(`{"id":"g%d"}`, i+1))})
	}
	r.Sessions = []callvault.Session{ses}
	return r
}

// fakeQuality classifies a record as a test can predict: one stream per
// segment, poor on the even ones, every column set, its label naming the
// record's version and segment body.
func fakeQuality(r *callvault.Record) *callvault.RecordQuality {
	q := &callvault.RecordQuality{}
	for i, ses := range r.Sessions {
		for j, g := range ses.Segments {
			class, due := callvault.ClassGood, callvault.PoorDue(0)
			var jitter *float64
			if j%2 == 1 {
				class, due, jitter = callvault.ClassPoor, callvault.DueJitter|callvault.DueRoundTrip, fp(45.5)
			}
			q.Streams = append(q.Streams, callvault.QualityStream{
				RecordID: r.ID, SessionSeq: i + 1, SegmentSeq: j + 1, Seq: 1,
				Start: r.StartDateTime.Add(time.Duration(j) * time.Minute), Media: callvault.MediaAudio,
				Label: fmt.Sprintf("v%d %s", r.Version, g.Body), Direction: "firstToSecond", FirstIsCaller: j%2 == 0,
				Class: class, PoorDue: due, JitterMs: jitter, RoundTripMs: fp(612.25), PacketLoss: fp(0.01),
				Degradation: nil, Concealed: fp(0.07), FrameLoss: nil, FrameRate: fp(29.97), PostFECPLR: nil,
				CallType: "groupCall", PSTN: j == 0, Conference: true,
				First: callvault.QualityEndpoint{Kind: "server", Role: "skypeForBusinessAudioVideoMcu", UserAgent: "AVMCU/1", Subnet: "52.1.0.0", IP: "52.1.0.9"},
				Second: callvault.QualityEndpoint{Kind: "client", Name: "LAPTOP-1", Platform: "windows", Family: "teams", UserAgent: "Teams/1 (é)", AppVersion: "1.2.3",
					UserID: "u1", UserName: "Zoë", Connection: "wifi", WifiBand: "frequency50GHz", Transport: "udp", Subnet: "10.1.2.0", IP: "10.1.2.7"},
			})
		}
	}
	return q
}

// streams reads a tenant's streams in a range, sorted by position.
func streams(t *testing.T, st qualityStore, tenant string, r callvault.TimeRange) []callvault.QualityStream {
	t.Helper()
	var out []callvault.QualityStream
	err := st.VisitQualityStreams(t.Context(), tenant, r, func(s *callvault.QualityStream) error {
		c := *s
		for _, p := range []**float64{&c.JitterMs, &c.RoundTripMs, &c.PacketLoss, &c.Degradation, &c.Concealed, &c.FrameLoss, &c.FrameRate, &c.PostFECPLR} {
			if *p != nil {
				v := **p
				*p = &v
			}
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.RecordID != b.RecordID {
			return a.RecordID < b.RecordID
		}
		return a.SessionSeq*1000+a.SegmentSeq < b.SessionSeq*1000+b.SegmentSeq
	})
	return out
}

func (s *qualitySuite) testRoundTrip(t *testing.T) {
	st := s.store(t)
	tenant := "quality-roundtrip"
	r := qualityRecord(tenant, "r1", 1, qualityT0, 3)
	r.Quality = fakeQuality(r)
	put(t, st, r)
	got := streams(t, st, tenant, callvault.TimeRange{})
	if !reflect.DeepEqual(got, r.Quality.Streams) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, r.Quality.Streams)
	}
}

func (s *qualitySuite) testReplace(t *testing.T) {
	st := s.store(t)
	tenant := "quality-replace"
	r := qualityRecord(tenant, "r1", 1, qualityT0, 3)
	r.Quality = fakeQuality(r)
	put(t, st, r)

	r2 := qualityRecord(tenant, "r1", 2, qualityT0, 1)
	r2.Quality = fakeQuality(r2)
	put(t, st, r2)
	if got := streams(t, st, tenant, callvault.TimeRange{}); !reflect.DeepEqual(got, r2.Quality.Streams) {
		t.Fatalf("after version 2: %+v", got)
	}

	stale := qualityRecord(tenant, "r1", 1, qualityT0, 4)
	stale.Quality = fakeQuality(stale)
	put(t, st, stale)
	if got := streams(t, st, tenant, callvault.TimeRange{}); len(got) != 1 || got[0].Label != r2.Quality.Streams[0].Label {
		t.Fatalf("a stale version changed the streams: %+v", got)
	}

	put(t, st, qualityRecord(tenant, "r1", 3, qualityT0, 2)) // no Quality
	if got := streams(t, st, tenant, callvault.TimeRange{}); len(got) != 0 {
		t.Fatalf("version 3 without quality kept %d streams", len(got))
	}
	if _, err := st.FillQuality(t.Context(), fakeQuality, nil); err != nil {
		t.Fatal(err)
	}
	got := streams(t, st, tenant, callvault.TimeRange{})
	if len(got) != 2 || got[0].Label != `v3 {"id":"g1"}` {
		t.Fatalf("FillQuality after version 3: %+v", got)
	}
}

func (s *qualitySuite) testWalls(t *testing.T) {
	st := s.store(t)
	a, b := "quality-walls-a", "quality-walls-b"
	for i, tenant := range []string{a, b} {
		for d := range 3 {
			r := qualityRecord(tenant, fmt.Sprint("r", d), 1, qualityT0.Add(time.Duration(d)*24*time.Hour), 1+i)
			r.Quality = fakeQuality(r)
			put(t, st, r)
		}
	}
	if got := streams(t, st, a, callvault.TimeRange{}); len(got) != 3 {
		t.Fatalf("tenant a has %d streams, want 3", len(got))
	}
	if got := streams(t, st, b, callvault.TimeRange{}); len(got) != 6 {
		t.Fatalf("tenant b has %d streams, want 6", len(got))
	}
	day2 := qualityT0.Add(24 * time.Hour)
	for _, tt := range []struct {
		name string
		r    callvault.TimeRange
		want []string
	}{
		{"from day 2 inclusive", callvault.TimeRange{From: day2, FromInclusive: true}, []string{"r1", "r2"}},
		{"after day 2", callvault.TimeRange{From: day2}, []string{"r2"}},
		{"before day 2", callvault.TimeRange{To: day2}, []string{"r0"}},
		{"to day 2 inclusive", callvault.TimeRange{To: day2, ToInclusive: true}, []string{"r0", "r1"}},
	} {
		var ids []string
		for _, s := range streams(t, st, a, tt.r) {
			ids = append(ids, s.RecordID)
		}
		if !reflect.DeepEqual(ids, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, ids, tt.want)
		}
	}
	if err := st.VisitQualityStreams(t.Context(), "", callvault.TimeRange{}, func(*callvault.QualityStream) error { return nil }); callvault.ErrorCode(err) != callvault.EINVALID {
		t.Errorf("no tenant: %v, want EINVALID", err)
	}
}

func (s *qualitySuite) testFill(t *testing.T) {
	st := s.store(t)
	tenant := "quality-fill"
	const n = 150 // more than a chunk
	for i := range n {
		r := qualityRecord(tenant, fmt.Sprintf("r%03d", i), 1, qualityT0.Add(time.Duration(i)*time.Minute), 1+i%3)
		if i%10 == 0 {
			r.Quality = fakeQuality(r) // classified at import
		}
		put(t, st, r)
	}
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	_, err := st.FillQuality(ctx, fakeQuality, func(callvault.QualityStats) {
		if calls++; calls == 1 {
			cancel() // interrupted after its first chunk
		}
	})
	if err == nil {
		t.Fatal("an interrupted FillQuality returned no error")
	}
	stats, err := st.FillQuality(t.Context(), fakeQuality, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := streams(t, st, tenant, callvault.TimeRange{})
	wantStreams := 0
	for i := range n {
		wantStreams += 1 + i%3
	}
	if len(got) != wantStreams {
		t.Fatalf("%d streams after FillQuality, want %d", len(got), wantStreams)
	}
	if stats.Records == 0 || stats.Records >= n-n/10 {
		t.Errorf("the resumed run classified %d records; want fewer than the %d unclassified, more than 0", stats.Records, n-n/10)
	}
	again, err := st.FillQuality(t.Context(), fakeQuality, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Records != 0 {
		t.Errorf("a second run classified %d records again", again.Records)
	}
	for _, s := range got {
		if s.Label != fmt.Sprintf(`v1 {"id":"g%d"}`, s.SegmentSeq) {
			t.Fatalf("stream %+v: the QualityFunc did not get the segment bodies in order", s)
		}
	}
}

func (s *qualitySuite) testFiles(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a, b := "quality-files-a", "quality-files-b"
	if got, err := st.GetTenantFile(ctx, a, callvault.FileBuildings); err != nil || got != nil {
		t.Fatalf("before any: %q, %v", got, err)
	}
	for _, body := range []string{"10.0.0.0,HQ,24,HQ\n", "10.1.0.0,Branch,24,Branch\n"} {
		if err := st.PutTenantFile(ctx, a, callvault.FileBuildings, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutTenantFile(ctx, a, callvault.FileEndpoints, []byte("PC1,Model,Laptop,,,\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetTenantFile(ctx, a, callvault.FileBuildings); string(got) != "10.1.0.0,Branch,24,Branch\n" {
		t.Errorf("buildings: %q, want the last one put", got)
	}
	if got, _ := st.GetTenantFile(ctx, a, callvault.FileEndpoints); string(got) != "PC1,Model,Laptop,,,\n" {
		t.Errorf("endpoints: %q", got)
	}
	if got, _ := st.GetTenantFile(ctx, b, callvault.FileBuildings); got != nil {
		t.Errorf("another tenant reads %q", got)
	}
}

func (s *qualitySuite) testRefreshRollup(t *testing.T) {
	st := s.store(t)
	rr, ok := st.(callvault.QualityRollupRefresher)
	agg, _ := st.(callvault.QualityAggregator)
	if !ok || agg == nil {
		t.Skip("the store keeps no rollup")
	}
	tenant := "quality-refresh"
	r := qualityRecord(tenant, "r", 1, qualityT0, 3)
	r.Quality = fakeQuality(r)
	put(t, st, r)
	days, err := rr.RefreshQualityRollup(t.Context())
	if err != nil || days < 1 {
		t.Fatalf("the refresh after a put computed %d days, %v; want 1 or more", days, err)
	}
	day := qualityT0.Truncate(24 * time.Hour)
	groups, err := agg.AggregateQuality(t.Context(), tenant, callvault.QualityAggregate{
		Start: callvault.TimeRange{From: day, FromInclusive: true, To: day.Add(24 * time.Hour)}, By: []string{callvault.BucketDay}})
	if err != nil || len(groups) != 1 || groups[0].Streams != 3 || groups[0].Calls != 3 {
		t.Errorf("the refreshed day: %+v, %v; want 3 streams in 3 legs", groups, err)
	}
	// Another record that day makes it dirty: a Stale query answers from
	// the rollup as it stands, a fresh one computes the day first, and a
	// Stale one after that has the day as computed.
	r2 := qualityRecord(tenant, "r2", 1, qualityT0.Add(time.Hour), 2)
	r2.Quality = fakeQuality(r2)
	put(t, st, r2)
	for _, c := range []struct {
		stale   bool
		streams int64
	}{{true, 3}, {false, 5}, {true, 5}} {
		groups, err := agg.AggregateQuality(t.Context(), tenant, callvault.QualityAggregate{
			Start: callvault.TimeRange{From: day, FromInclusive: true, To: day.Add(24 * time.Hour)}, By: []string{callvault.BucketDay}, Stale: c.stale})
		if err != nil || len(groups) != 1 || groups[0].Streams != c.streams {
			t.Errorf("stale %v: %+v, %v; want %d streams", c.stale, groups, err, c.streams)
		}
	}
}

func (s *qualitySuite) testAggregate(t *testing.T) {
	st := s.store(t)
	agg, ok := st.(callvault.QualityAggregator)
	if !ok {
		t.Skip("the store does not aggregate")
	}
	a, b := "quality-agg-a", "quality-agg-b"
	for i, tenant := range []string{a, b} {
		for d := range 2 {
			r := qualityRecord(tenant, fmt.Sprint("r", d), 1, qualityT0.Add(time.Duration(d)*24*time.Hour), 3+i)
			r.Quality = fakeQuality(r)
			put(t, st, r)
		}
	}
	groups, err := agg.AggregateQuality(t.Context(), a, callvault.QualityAggregate{
		By: []string{callvault.BucketDay, "first_is_caller"}, Media: callvault.MediaAudio, Where: map[string]string{"second_platform": "windows"}})
	if err != nil {
		t.Fatal(err)
	}
	groups = slices.Clone(groups) // the store's answer is not the caller's to change
	sort.Slice(groups, func(i, j int) bool { return fmt.Sprint(groups[i].Keys) < fmt.Sprint(groups[j].Keys) })
	day0 := fmt.Sprint(qualityT0.Unix() / 86400)
	// Each record: segments 1 and 3 good (the caller First), 2 poor.
	want := []callvault.QualityGroup{
		{Keys: []string{day0, "0"}, Streams: 1, Poor: 1, Calls: 1, PoorCalls: 1},
		{Keys: []string{day0, "1"}, Streams: 2, Good: 2, Calls: 2, GoodCalls: 2},
	}
	if len(groups) != 4 {
		t.Fatalf("%d groups, want 4 (two days, two values): %+v", len(groups), groups)
	}
	for i, w := range want {
		g := groups[i]
		if fmt.Sprint(g.Keys) != fmt.Sprint(w.Keys) || g.Streams != w.Streams || g.Good != w.Good || g.Poor != w.Poor ||
			g.Calls != w.Calls || g.PoorCalls != w.PoorCalls || g.GoodCalls != w.GoodCalls {
			t.Errorf("group %d: %+v, want %+v", i, g, w)
		}
	}
	if g := groups[0]; g.Counts[0] != 1 || g.Sums[0] != 45.5 || g.Counts[1] != 1 || g.Sums[1] != 612.25 {
		t.Errorf("the poor group's jitter and round trip sums: %v %v", g.Sums, g.Counts)
	}
	total, err := agg.AggregateQuality(t.Context(), a, callvault.QualityAggregate{})
	if err != nil || len(total) != 1 || total[0].Streams != 6 || total[0].Calls != 6 {
		t.Errorf("tenant a's total: %+v, %v; want 6 streams in 6 legs", total, err)
	}
	none, err := agg.AggregateQuality(t.Context(), "quality-agg-none", callvault.QualityAggregate{By: []string{"media"}})
	if err != nil || len(none) != 0 {
		t.Errorf("a tenant without streams: %+v, %v", none, err)
	}
	if _, err := agg.AggregateQuality(t.Context(), a, callvault.QualityAggregate{By: []string{"body; DROP TABLE x"}}); callvault.ErrorCode(err) != callvault.EINVALID {
		t.Errorf("an unknown column: %v, want EINVALID", err)
	}
}

// testByCall: the streams handed out by call are those VisitQualityStreams
// hands out, each call's together, the calls by start, latest first (the
// greater id first among calls that started together), a call that started
// before the period included for its streams in it; past hundreds of calls
// with no streams, as far as the period goes; and a visit stops at fn's
// error.
func (s *qualitySuite) testByCall(t *testing.T) {
	st := s.store(t)
	v, ok := st.(callvault.QualityCallVisitor)
	if !ok {
		t.Skip("the store has no QualityCallVisitor")
	}
	ten, other := tenant(t, "a"), tenant(t, "b")
	var records []*callvault.Record
	add := func(tn, id string, start time.Time, segments int, classified bool) {
		r := qualityRecord(tn, id, 1, start, segments)
		if classified {
			r.Quality = fakeQuality(r)
		}
		records = append(records, r)
	}
	for i := range 4 {
		add(ten, fmt.Sprintf("late-%d", i), qualityT0.Add(10*time.Hour+time.Duration(i)*time.Minute), 2, true)
	}
	for i := range 300 { // more than a chunk of calls, none with streams
		add(ten, fmt.Sprintf("plain-%03d", i), qualityT0.Add(5*time.Hour+time.Duration(i)*time.Second), 1, false)
	}
	add(ten, "tie-a", qualityT0.Add(3*time.Hour), 1, true)
	add(ten, "tie-b", qualityT0.Add(3*time.Hour), 2, true)
	add(ten, "before", qualityT0.Add(-2*time.Minute), 4, true)  // streams at -2, -1, 0 and +1 minutes
	add(ten, "long-ago", qualityT0.Add(-72*time.Hour), 2, true) // no stream in the period
	add(ten, "after", qualityT0.Add(11*time.Hour), 2, true)     // the period's end is exclusive
	add(other, "late-0", qualityT0.Add(10*time.Hour), 2, true)  // another tenant's
	if bs, ok := st.(callvault.BatchStore); ok {
		_, errs, err := bs.PutRecords(t.Context(), records)
		if err = errors.Join(append(errs, err)...); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, r := range records {
			put(t, st, r)
		}
	}
	period := callvault.TimeRange{From: qualityT0, FromInclusive: true, To: qualityT0.Add(11 * time.Hour)}
	var calls, got []string
	if err := v.VisitQualityStreamsByCall(t.Context(), ten, period, func(q *callvault.QualityStream) error {
		if len(calls) == 0 || calls[len(calls)-1] != q.RecordID {
			calls = append(calls, q.RecordID)
		}
		got = append(got, fmt.Sprint(q.RecordID, "/", q.SegmentSeq))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, q := range streams(t, st, ten, period) {
		want = append(want, fmt.Sprint(q.RecordID, "/", q.SegmentSeq))
	}
	if wantCalls := []string{"late-3", "late-2", "late-1", "late-0", "tie-b", "tie-a", "before"}; !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("calls %v, want %v", calls, wantCalls)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) || len(want) != 4*2+1+2+2 {
		t.Errorf("streams by call %v, want %v", got, want)
	}
	stop := errors.New("enough")
	n := 0
	err := v.VisitQualityStreamsByCall(t.Context(), ten, period, func(*callvault.QualityStream) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("stopped at stream 3: %d streams, %v", n, err)
	}
	if err := v.VisitQualityStreamsByCall(t.Context(), ten, callvault.TimeRange{}, func(*callvault.QualityStream) error { return nil }); err != nil {
		t.Errorf("an empty period: %v", err)
	}
}
