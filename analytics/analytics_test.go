package analytics_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
)

const tenant = "6f1d8a5e-3c55-4c1e-9c7a-0e8b2f6d1a11"

var (
	from = time.Date(2026, 8, 3, 0, 0, 0, 0, time.UTC)
	to   = from.AddDate(0, 0, 14)
)

// generated returns the JSON Lines of n generated records over two weeks.
func generated(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, synth.Config{Tenant: tenant, Seed: 16, Records: n, From: from, To: to}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scanOnly hides a store's QualityAggregator: the analytics then count
// the rows VisitQualityStreams hands them.
type scanOnly struct{ callvault.QualityStore }

type qstore interface {
	callvault.Store
	callvault.QualityStore
}

func load(t *testing.T, st callvault.Store, data []byte) {
	t.Helper()
	var stats ingest.Stats
	if err := (&ingest.Importer{Store: st, Tenant: tenant}).Import(t.Context(), "generated", bytes.NewReader(data), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Rejected > 0 {
		t.Fatalf("%d records rejected", stats.Rejected)
	}
}

func TestFiguresEqualAStraightComputationOnSQLite(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testFigures(t, st)
}

func TestFiguresEqualAStraightComputationOnPostgreSQL(t *testing.T) {
	st, err := postgres.Open(t.Context(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testFigures(t, st)
}

// A building file covering some of the generated subnets: the generator's
// corporate networks are 10.x.y.0/24.
const buildingFile = "10.0.0.0,Corp/A,9,Building A,Contoso,Office,Engineering,Seattle,98001,US,WA,NA,1,0,0\n" +
	"10.128.0.0,Corp/B,9,Building B,Contoso,Office,Sales,Paris,75001,FR,,EMEA,1,0\n"

func testFigures(t *testing.T, st qstore) {
	data := generated(t, 250)
	load(t, st, data)
	if _, err := analytics.ImportFile(t.Context(), st, tenant, callvault.FileBuildings, []byte(buildingFile)); err != nil {
		t.Fatal(err)
	}
	files, err := analytics.LoadFiles(t.Context(), st, tenant)
	if err != nil {
		t.Fatal(err)
	}
	streams := straight(t, data)
	if len(streams) < 1000 {
		t.Fatalf("only %d streams generated", len(streams))
	}
	for _, q := range []analytics.Query{
		{},
		{Media: "audio", By: []string{"day"}},
		{Media: "audio", By: []string{"week", "pstn"}},
		{By: []string{"media", "direction"}},
		{Media: "audio", By: []string{"second.platform", "second.connection"}},
		{Media: "audio", By: []string{"second.building"}},
		{Media: "video", By: []string{"conference"}},
		{Media: "audio", By: []string{"second.subnet"}, Top: 5, MinStreams: 3},
		{Media: "audio", By: []string{"month"}, Where: map[string]string{"second.wifiBand": "frequency24GHz"}},
	} {
		q.From, q.To = from, to
		name := fmt.Sprintf("media %q by %v where %v top %d", q.Media, q.By, q.Where, q.Top)
		for _, engine := range []struct {
			name  string
			store callvault.QualityStore
		}{{"counted by the store", st}, {"counted from the rows", scanOnly{st}}} {
			t.Run(name+", "+engine.name, func(t *testing.T) {
				got, err := analytics.Run(t.Context(), engine.store, tenant, files, q)
				if err != nil {
					t.Fatal(err)
				}
				want := expect(streams, q)
				if q.Top == 0 && len(got.Rows) != len(want) {
					t.Fatalf("%d rows, want %d", len(got.Rows), len(want))
				}
				for _, r := range got.Rows {
					k := strings.Join(r.Keys, "|")
					w, ok := want[k]
					if !ok {
						t.Fatalf("row %q is not in the straight computation", k)
					}
					w.compare(t, k, r)
				}
				if q.Top == 0 {
					whole := expect(streams, analytics.Query{Media: q.Media, Where: q.Where, From: q.From, To: q.To})
					whole[""].compare(t, "total", got.Total)
				}
			})
		}
	}
	// RunAll, with queries the store counts and queries counted from the
	// rows, answers each as Run does.
	mixed := []analytics.Query{
		{From: from, To: to, Media: "audio", By: []string{"day"}},
		{From: from, To: to, Media: "audio", By: []string{"second.building"}, Top: 3},
		{From: from, To: to, By: []string{"pstn"}},
	}
	all, err := analytics.RunAll(t.Context(), st, tenant, files, mixed)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range mixed {
		one, err := analytics.Run(t.Context(), st, tenant, files, q)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameResult(all[i], one); err != "" {
			t.Errorf("RunAll's answer %d differs from Run's: %s", i, err)
		}
	}

	var poor int
	for _, s := range streams {
		if s.class == "poor" {
			poor++
		}
	}
	t.Logf("%d streams, %d poor", len(streams), poor)
	if poor == 0 {
		t.Error("the generated data has no poor stream: the test proves little")
	}
}

// stream is a stream as the straight computation sees it.
type stream struct {
	leg                 string
	day, week, month    string
	media, dir, class   string
	pstn, conf          bool
	platform, conn      string
	subnet, band        string
	building            string
	jitter, rtt, loss   *float64
	deg, conc, frameRte *float64
}

func ms(s string) *float64 {
	if s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(s, "PT"), "S"), 64)
	if err != nil {
		return nil
	}
	v *= 1000
	return &v
}

// straight reads the generated records as JSON and classifies each stream
// by CQD's rules written out plainly, apart from package quality.
func straight(t *testing.T, data []byte) []stream {
	type endpoint struct {
		Type      string `json:"@odata.type"`
		UserAgent struct {
			Platform string `json:"platform"`
			Role     string `json:"role"`
		} `json:"userAgent"`
	}
	type network struct {
		ConnectionType, Subnet, WifiBand string
	}
	var out []stream
	latest := map[string][]stream{} // by record id: the last version wins
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var rec struct {
			ID       string
			Type     string
			Sessions []struct {
				Segments []struct {
					StartDateTime time.Time
					Caller        endpoint
					Callee        endpoint
					Media         []struct {
						Label         string
						CallerNetwork network
						CalleeNetwork network
						Streams       []struct {
							StreamDirection                          string
							StartDateTime                            time.Time
							AverageJitter                            string
							AverageRoundTripTime                     string
							AveragePacketLossRate                    *float64
							AverageAudioDegradation                  *float64
							AverageRatioOfConcealedSamples           *float64
							AverageVideoFrameLossPercentage          *float64
							AverageVideoFrameRate                    *float64
							PostForwardErrorCorrectionPacketLossRate *float64
						}
					}
				}
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		var streams []stream
		for i, ses := range rec.Sessions {
			for j, seg := range ses.Segments {
				server := func(e endpoint) bool { return strings.HasSuffix(e.Type, "serviceEndpoint") }
				rank := func(e endpoint) int {
					switch {
					case !server(e):
						return 4
					case e.UserAgent.Role == "mediationServer" || e.UserAgent.Role == "skypeForBusinessMicrosoftTeamsGateway" || e.UserAgent.Role == "gateway" || e.UserAgent.Role == "mediationServerCloudConnectorEdition":
						return 1
					case e.UserAgent.Role == "skypeForBusinessAudioVideoMcu":
						return 2
					}
					return 3
				}
				callerFirst := rank(seg.Caller) <= rank(seg.Callee)
				pstn := rank(seg.Caller) == 1 || rank(seg.Callee) == 1
				conf := rec.Type == "groupCall" || rank(seg.Caller) == 2 || rank(seg.Callee) == 2
				for _, m := range seg.Media {
					second, secondNet := seg.Callee, m.CalleeNetwork
					if !callerFirst {
						second, secondNet = seg.Caller, m.CallerNetwork
					}
					for _, x := range m.Streams {
						s := stream{leg: fmt.Sprint(rec.ID, "/", i, "/", j), pstn: pstn, conf: conf,
							platform: second.UserAgent.Platform, conn: secondNet.ConnectionType, subnet: secondNet.Subnet, band: secondNet.WifiBand}
						if server(second) {
							s.platform = ""
						}
						start := x.StartDateTime
						if start.IsZero() {
							start = seg.StartDateTime
						}
						s.day, s.month = start.Format(time.DateOnly), start.Format("2006-01")
						s.week = start.AddDate(0, 0, -((int(start.Weekday()) + 6) % 7)).Format(time.DateOnly)
						s.dir = "firstToSecond"
						if (x.StreamDirection == "callerToCallee") != callerFirst {
							s.dir = "secondToFirst"
						}
						if strings.HasPrefix(s.subnet, "10.") {
							if n, _ := strconv.Atoi(strings.Split(s.subnet, ".")[1]); n < 128 {
								s.building = "Building A"
							} else {
								s.building = "Building B"
							}
						}
						switch {
						case strings.Contains(m.Label, "applicationsharing"):
							s.media = "vbss"
						case strings.Contains(m.Label, "audio"):
							s.media = "audio"
						case strings.Contains(m.Label, "video"):
							s.media = "video"
						default:
							s.media = "other"
						}
						s.class = "unclassified"
						switch s.media {
						case "audio":
							s.jitter, s.rtt, s.loss = ms(x.AverageJitter), ms(x.AverageRoundTripTime), x.AveragePacketLossRate
							s.deg, s.conc = x.AverageAudioDegradation, x.AverageRatioOfConcealedSamples
							any, bad := false, false
							for _, c := range []struct {
								v   *float64
								max float64
							}{{s.deg, 1.0}, {s.rtt, 500}, {s.loss, 0.1}, {s.jitter, 30}, {s.conc, 0.07}} {
								if c.v != nil {
									any = true
									bad = bad || *c.v > c.max
								}
							}
							if bad {
								s.class = "poor"
							} else if any {
								s.class = "good"
							}
						case "video", "vbss":
							s.frameRte = x.AverageVideoFrameRate
							minRate := 7.0
							if s.media == "vbss" {
								minRate = 2
							}
							switch {
							case x.AverageVideoFrameLossPercentage != nil:
								s.class = map[bool]string{true: "poor", false: "good"}[*x.AverageVideoFrameLossPercentage > 50]
							case x.AverageVideoFrameRate != nil:
								s.class = map[bool]string{true: "poor", false: "good"}[*x.AverageVideoFrameRate < minRate]
							case x.PostForwardErrorCorrectionPacketLossRate != nil:
								s.class = map[bool]string{true: "poor", false: "good"}[*x.PostForwardErrorCorrectionPacketLossRate > 0.15]
							}
						}
						streams = append(streams, s)
					}
				}
			}
		}
		latest[rec.ID] = streams
	}
	for _, s := range latest {
		out = append(out, s...)
	}
	return out
}

// figures are the straight computation's answer for one group.
type figures struct {
	streams, good, poor, unclassified int64
	legs                              map[string][]string
	sums                              [6]float64
	counts                            [6]int64
}

func (s *stream) value(dim string) string {
	switch dim {
	case "day":
		return s.day
	case "week":
		return s.week
	case "month":
		return s.month
	case "media":
		return s.media
	case "direction":
		return s.dir
	case "pstn":
		return map[bool]string{true: "PSTN", false: "VoIP"}[s.pstn]
	case "conference":
		return map[bool]string{true: "conference", false: "peerToPeer"}[s.conf]
	case "second.platform":
		return s.platform
	case "second.connection":
		return s.conn
	case "second.subnet":
		return s.subnet
	case "second.wifiBand":
		return s.band
	case "second.building":
		return s.building
	}
	panic("no dimension " + dim)
}

func expect(streams []stream, q analytics.Query) map[string]*figures {
	out := map[string]*figures{}
next:
	for i := range streams {
		s := &streams[i]
		if q.Media != "" && s.media != q.Media {
			continue
		}
		for d, v := range q.Where {
			if s.value(d) != v {
				continue next
			}
		}
		var keys []string
		for _, d := range q.By {
			keys = append(keys, s.value(d))
		}
		k := strings.Join(keys, "|")
		f := out[k]
		if f == nil {
			f = &figures{legs: map[string][]string{}}
			out[k] = f
		}
		f.streams++
		switch s.class {
		case "good":
			f.good++
		case "poor":
			f.poor++
		default:
			f.unclassified++
		}
		if s.media == "audio" {
			f.legs[s.leg] = append(f.legs[s.leg], s.class)
		}
		for j, v := range []*float64{s.jitter, s.rtt, s.loss, s.deg, s.conc, s.frameRte} {
			if v != nil {
				f.sums[j] += *v
				f.counts[j]++
			}
		}
	}
	return out
}

func (f *figures) compare(t *testing.T, name string, r analytics.Row) {
	t.Helper()
	if r.Streams != f.streams || r.Good != f.good || r.Poor != f.poor || r.Unclassified != f.unclassified {
		t.Errorf("%s: streams %d good %d poor %d unclassified %d, want %d %d %d %d", name,
			r.Streams, r.Good, r.Poor, r.Unclassified, f.streams, f.good, f.poor, f.unclassified)
	}
	var calls, poorCalls, goodCalls int64
	for _, classes := range f.legs {
		calls++
		poor, good := false, false
		for _, c := range classes {
			poor, good = poor || c == "poor", good || c == "good"
		}
		if poor {
			poorCalls++
		} else if good {
			goodCalls++
		}
	}
	if r.Calls != calls || r.PoorCalls != poorCalls || r.GoodCalls != goodCalls {
		t.Errorf("%s: calls %d poor %d good %d, want %d %d %d", name, r.Calls, r.PoorCalls, r.GoodCalls, calls, poorCalls, goodCalls)
	}
	if f.good+f.poor > 0 {
		want := float64(f.poor) * 100 / float64(f.good+f.poor)
		if r.PoorPercent == nil || math.Abs(*r.PoorPercent-want) > 1e-9 {
			t.Errorf("%s: poor %% %v, want %v", name, r.PoorPercent, want)
		}
	}
	for j, got := range []*float64{r.AvgJitterMs, r.AvgRoundTripMs, r.AvgPacketLoss, r.AvgDegradation, r.AvgConcealed, r.AvgFrameRate} {
		if f.counts[j] == 0 {
			if got != nil {
				t.Errorf("%s: average %d is %v, want none", name, j, *got)
			}
			continue
		}
		want := f.sums[j] / float64(f.counts[j])
		if got == nil || math.Abs(*got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: average %d is %v, want %v", name, j, got, want)
		}
	}
}

// sameResult compares two answers: counts exactly, averages and
// percentages to 1e-9 (the engines add in different orders).
func sameResult(a, b *analytics.Result) string {
	rows := func(r *analytics.Result) []analytics.Row { return append([]analytics.Row{r.Total}, r.Rows...) }
	ra, rb := rows(a), rows(b)
	if len(ra) != len(rb) {
		return fmt.Sprintf("%d rows and %d", len(ra), len(rb))
	}
	for i := range ra {
		x, y := ra[i], rb[i]
		if strings.Join(x.Keys, "|") != strings.Join(y.Keys, "|") || x.Streams != y.Streams || x.Good != y.Good || x.Poor != y.Poor ||
			x.Unclassified != y.Unclassified || x.Calls != y.Calls || x.GoodCalls != y.GoodCalls || x.PoorCalls != y.PoorCalls {
			return fmt.Sprintf("row %d: %+v and %+v", i, x, y)
		}
		for j, p := range [][2]*float64{{x.PoorPercent, y.PoorPercent}, {x.PoorCallPercent, y.PoorCallPercent}, {x.AvgJitterMs, y.AvgJitterMs},
			{x.AvgRoundTripMs, y.AvgRoundTripMs}, {x.AvgPacketLoss, y.AvgPacketLoss}, {x.AvgDegradation, y.AvgDegradation},
			{x.AvgConcealed, y.AvgConcealed}, {x.AvgFrameRate, y.AvgFrameRate}} {
			if (p[0] == nil) != (p[1] == nil) || (p[0] != nil && math.Abs(*p[0]-*p[1]) > 1e-9*math.Max(1, math.Abs(*p[1]))) {
				return fmt.Sprintf("row %d figure %d: %v and %v", i, j, p[0], p[1])
			}
		}
	}
	return ""
}

// Under a retention the figures start at the first midnight after it, and
// a period the retention has wholly forgotten counts nothing.
func TestHorizon(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		retention time.Duration
		want      time.Time
	}{
		{0, time.Time{}},
		{720 * time.Hour, time.Date(2026, 11, 7, 0, 0, 0, 0, time.UTC)},
		{10*time.Hour + 30*time.Minute, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
		{10*time.Hour + 31*time.Minute, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
		{10*time.Hour + 29*time.Minute, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
	} {
		if got := analytics.Horizon(now, tc.retention); !got.Equal(tc.want) {
			t.Errorf("Horizon(%s, %s) = %s, want %s", now, tc.retention, got, tc.want)
		}
	}
}

func TestFiguresLeaveOutWhatTheRetentionForgot(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	load(t, st, generated(t, 150))
	horizon := from.AddDate(0, 0, 5)
	for _, store := range []struct {
		name string
		st   callvault.QualityStore
	}{{"rollup", st}, {"scan", scanOnly{st}}} {
		for _, q := range []analytics.Query{
			{Media: "audio", By: []string{"day"}},
			{Media: "audio", By: []string{"second.platform"}},
			{},
		} {
			q.From, q.To = from, to
			kept := q
			kept.NotBefore = horizon
			got, err := analytics.Run(t.Context(), store.st, tenant, nil, kept)
			if err != nil {
				t.Fatal(err)
			}
			q.From = horizon
			want, err := analytics.Run(t.Context(), store.st, tenant, nil, q)
			if err != nil {
				t.Fatal(err)
			}
			if d := sameResult(got, want); d != "" || want.Total.Streams == 0 || !got.From.Equal(horizon) {
				t.Errorf("%s, by %v: with NotBefore %s and from %s: %s (%d streams, from %s)", store.name, q.By, horizon, horizon, d, want.Total.Streams, got.From)
			}
			all := q
			all.From = from
			gone := all
			gone.NotBefore = to.AddDate(0, 0, 1)
			res, err := analytics.RunAll(t.Context(), store.st, tenant, nil, []analytics.Query{all, gone})
			if err != nil {
				t.Fatal(err)
			}
			if res[1].Total.Streams != 0 || len(res[1].Rows) != 0 || res[0].Total.Streams <= want.Total.Streams {
				t.Errorf("%s, by %v: a forgotten period counts %d streams in %d rows; the whole period %d", store.name, q.By, res[1].Total.Streams, len(res[1].Rows), res[0].Total.Streams)
			}
		}
	}
}
