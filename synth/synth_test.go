package synth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func generate(t *testing.T, cfg Config) ([]byte, Stats) {
	t.Helper()
	var b bytes.Buffer
	st, err := Write(&b, cfg)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b.Bytes(), st
}

func lines(b []byte) [][]byte {
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func TestWriteIsDeterministic(t *testing.T) {
	cfg := Config{Tenant: DemoTenant, Seed: 42, Records: 60}
	a, _ := generate(t, cfg)
	b, _ := generate(t, cfg)
	if !bytes.Equal(a, b) {
		t.Fatal("the same Config gave different bytes")
	}
	cfg.Seed = 43
	c, _ := generate(t, cfg)
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same bytes")
	}
	cfg.Seed, cfg.Tenant = 42, "11111111-2222-4333-8444-555555555555"
	if d, _ := generate(t, cfg); bytes.Equal(a, d) {
		t.Fatal("different tenants gave the same bytes")
	}
}

func TestWriteEmitsOneValidRecordPerLine(t *testing.T) {
	out, st := generate(t, Config{Tenant: DemoTenant, Seed: 7, Records: 200})
	ls := lines(out)
	if len(ls) != 200 || st.Records != 200 || st.Bytes != int64(len(out)) {
		t.Fatalf("got %d lines, Stats %+v, %d bytes", len(ls), st, len(out))
	}
	sessions, segments := 0, 0
	var prev time.Time
	for i, l := range ls {
		var r struct {
			ID            string
			StartDateTime time.Time
			Sessions      []struct{ Segments []json.RawMessage }
		}
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if r.StartDateTime.Before(prev) {
			t.Errorf("line %d starts at %v, before the line above (%v)", i+1, r.StartDateTime, prev)
		}
		prev = r.StartDateTime
		sessions += len(r.Sessions)
		for _, s := range r.Sessions {
			segments += len(s.Segments)
		}
	}
	if st.Sessions != sessions || st.Segments != segments {
		t.Errorf("Stats say %d sessions and %d segments; the output has %d and %d", st.Sessions, st.Segments, sessions, segments)
	}
}

func TestZeroMixMeansDefaultMix(t *testing.T) {
	a, _ := generate(t, Config{Tenant: DemoTenant, Seed: 5, Records: 20})
	b, _ := generate(t, Config{Tenant: DemoTenant, Seed: 5, Records: 20, Mix: DefaultMix()})
	if !bytes.Equal(a, b) {
		t.Fatal("a zero Mix did not behave as DefaultMix")
	}
}

func TestWriteRejectsBadConfigs(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	withMix := func(f func(*Mix)) Config {
		m := DefaultMix()
		f(&m)
		return Config{Tenant: DemoTenant, Records: 1, Mix: m}
	}
	for name, cfg := range map[string]Config{
		"no tenant":            {Records: 1},
		"negative records":     {Tenant: DemoTenant, Records: -1},
		"To before From":       {Tenant: DemoTenant, Records: 1, From: from, To: from.Add(-time.Hour)},
		"share above one":      withMix(func(m *Mix) { m.PoorAudioStreamShare = 1.5 }),
		"NaN share":            withMix(func(m *Mix) { m.VideoShare = math.NaN() }),
		"participants over 1":  withMix(func(m *Mix) { m.ExternalShare, m.ACSShare = 0.7, 0.7 }),
		"no network weight":    withMix(func(m *Mix) { m.Networks = NetworkWeights{} }),
		"tiny meetings":        withMix(func(m *Mix) { m.MaxParticipants = 2 }),
		"no directory":         withMix(func(m *Mix) { m.DirectorySize = 1 }),
		"zero meeting median":  withMix(func(m *Mix) { m.MeetingMedian = 0 }),
		"negative platform":    withMix(func(m *Mix) { m.Platforms.Web = -1 }),
		"offset beyond a day":  withMix(func(m *Mix) { m.UTCOffset = 25 * time.Hour }),
		"zero group size tail": withMix(func(m *Mix) { m.GroupSizeAlpha = 0 }),
	} {
		if _, err := Write(io.Discard, cfg); err == nil {
			t.Errorf("%s: Write accepted it", name)
		}
	}
}

func TestWriteKeepsRecordsInsideTheWindow(t *testing.T) {
	from := time.Date(2025, 3, 3, 8, 0, 0, 0, time.UTC)
	to := from.Add(36 * time.Hour)
	out, _ := generate(t, Config{Tenant: DemoTenant, Seed: 9, Records: 300, From: from, To: to})
	for i, l := range lines(out) {
		r := parseTimes(t, l)
		if r.StartDateTime.Before(from) || r.EndDateTime.After(to) || r.LastModifiedDateTime.After(to) {
			t.Errorf("record %d: %v..%v (modified %v) is outside %v..%v", i+1,
				r.StartDateTime, r.EndDateTime, r.LastModifiedDateTime, from, to)
		}
	}
}

type timed struct {
	StartDateTime, EndDateTime time.Time
}

type timedRecord struct {
	ID                   string
	StartDateTime        time.Time
	EndDateTime          time.Time
	LastModifiedDateTime time.Time
	Sessions             []struct {
		ID string
		timed
		Segments []struct {
			ID string
			timed
			Media []struct{ Streams []timed }
		}
	}
}

func parseTimes(t *testing.T, l []byte) timedRecord {
	t.Helper()
	var r timedRecord
	if err := json.Unmarshal(l, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTimesNest(t *testing.T) {
	out, _ := generate(t, Config{Tenant: DemoTenant, Seed: 11, Records: 300})
	all := append(lines(out), lines(Demo())...)
	inside := func(inner, outer timed) bool {
		return !inner.StartDateTime.Before(outer.StartDateTime) && !inner.EndDateTime.After(outer.EndDateTime) &&
			!inner.EndDateTime.Before(inner.StartDateTime)
	}
	for _, l := range all {
		r := parseTimes(t, l)
		rec := timed{r.StartDateTime, r.EndDateTime}
		if r.LastModifiedDateTime.Before(r.EndDateTime) {
			t.Errorf("%s: modified before it ended", r.ID)
		}
		for _, s := range r.Sessions {
			if !inside(s.timed, rec) {
				t.Errorf("%s: session %s %v..%v is outside the record %v..%v", r.ID, s.ID, s.StartDateTime, s.EndDateTime, rec.StartDateTime, rec.EndDateTime)
			}
			for _, seg := range s.Segments {
				if !inside(seg.timed, s.timed) {
					t.Errorf("%s: segment %s is outside session %s", r.ID, seg.ID, s.ID)
				}
				for _, m := range seg.Media {
					for _, st := range m.Streams {
						if !inside(st, seg.timed) {
							t.Errorf("%s: a stream of segment %s is outside it", r.ID, seg.ID)
						}
					}
				}
			}
		}
	}
}

func TestRecordWithSessionsHasExactlyThatMany(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 150} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			b := RecordWithSessions(DemoTenant, 99, "rec-"+strconv.Itoa(n), n)
			if !bytes.Equal(b, RecordWithSessions(DemoTenant, 99, "rec-"+strconv.Itoa(n), n)) {
				t.Fatal("not deterministic")
			}
			if bytes.ContainsRune(b, '\n') {
				t.Fatal("the record is not compact")
			}
			r := parseTimes(t, b)
			if r.ID != "rec-"+strconv.Itoa(n) || len(r.Sessions) != n {
				t.Fatalf("id %q with %d sessions", r.ID, len(r.Sessions))
			}
			ids := map[string]bool{}
			for _, s := range r.Sessions {
				if ids[s.ID] {
					t.Errorf("session id %s repeats", s.ID)
				}
				ids[s.ID] = true
				if k := len(s.Segments); k < 1 || k > 3 {
					t.Errorf("session %s has %d segments", s.ID, k)
				}
				for _, seg := range s.Segments {
					if ids[seg.ID] {
						t.Errorf("segment id %s repeats", seg.ID)
					}
					ids[seg.ID] = true
				}
			}
		})
	}
}

func TestDemo(t *testing.T) {
	demo := Demo()
	if !bytes.Equal(demo, Demo()) {
		t.Fatal("Demo is not deterministic")
	}
	ls := lines(demo)
	if len(ls) < 10 || len(ls) > 14 {
		t.Fatalf("Demo has %d records, want about 12", len(ls))
	}
	byID := map[string][]byte{}
	for i, l := range ls {
		var r struct{ ID string }
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		byID[r.ID] = l
	}
	for _, id := range []string{DemoCallID, DemoMeetingID, DemoACSCallID, DemoFailedCallID} {
		if byID[id] == nil {
			t.Errorf("Demo lacks record %s", id)
		}
	}

	t.Run("the call is shaped like Graph's example", func(t *testing.T) {
		var r struct {
			Type     string
			Sessions []struct {
				ID     string
				Caller struct{ AssociatedIdentity struct{ DisplayName string } }
				Callee struct {
					AssociatedIdentity struct{ DisplayName, UserPrincipalName string }
					Feedback           struct {
						Rating string
						Tokens map[string]bool
					}
				}
			}
		}
		if err := json.Unmarshal(byID[DemoCallID], &r); err != nil {
			t.Fatal(err)
		}
		if r.Type != "peerToPeer" || len(r.Sessions) != 1 {
			t.Fatalf("type %s with %d sessions", r.Type, len(r.Sessions))
		}
		s := r.Sessions[0]
		if s.Caller.AssociatedIdentity.DisplayName != "Abbie Wilkins" || s.Callee.AssociatedIdentity.DisplayName != "Owen Franklin" ||
			s.Callee.AssociatedIdentity.UserPrincipalName != "owen.franklin@contoso.com" {
			t.Errorf("caller %+v, callee %+v", s.Caller, s.Callee.AssociatedIdentity)
		}
		if fb := s.Callee.Feedback; fb.Rating != "poor" || !fb.Tokens["Noisy"] || len(fb.Tokens) != 8 {
			t.Errorf("Owen's feedback is %+v", fb)
		}
		for _, want := range []string{`"averageJitter":"PT0.016S"`, `"averageAudioDegradation":null`, `"linkSpeed":4294967295`, `"streamId":"1504545584"`} {
			if !bytes.Contains(byID[DemoCallID], []byte(want)) {
				t.Errorf("the call lacks %s", want)
			}
		}
	})

	t.Run("the meeting has 150 sessions", func(t *testing.T) {
		r := parseTimes(t, byID[DemoMeetingID])
		if len(r.Sessions) != 150 {
			t.Errorf("%d sessions", len(r.Sessions))
		}
		if !bytes.Contains(byID[DemoMeetingID], []byte(`"type":"groupCall"`)) {
			t.Error("not a group call")
		}
	})

	t.Run("the ACS call has an ACS client", func(t *testing.T) {
		if !bytes.Contains(byID[DemoACSCallID], []byte(`"productFamily":"azureCommunicationServices"`)) {
			t.Error("no azureCommunicationServices client")
		}
	})

	t.Run("the failed call failed at setup", func(t *testing.T) {
		if !bytes.Contains(byID[DemoFailedCallID], []byte(`"failureInfo":{"stage":"callSetup"`)) {
			t.Error("no callSetup failureInfo")
		}
	})

	t.Run("values and names", func(t *testing.T) {
		for _, want := range []string{`"averageBandwidthEstimate":9007199254740993`, "Zoë Åkesson", "李雷", `Renée O'Brien`,
			`"stage":"midcall"`, `"connectionType":"mobile"`, `"connectionType":"tunnel"`, `"wifiSignalStrength"`,
			`"role":"conferencingAnnouncementService"`, `"role":"skypeForBusinessAudioVideoMcu"`, `"label":"applicationsharing-video"`} {
			if !bytes.Contains(demo, []byte(want)) {
				t.Errorf("Demo lacks %s", want)
			}
		}
	})
}

// The Call Quality Dashboard's thresholds for a poor audio stream.
func poorAudio(jitter, rtt time.Duration, loss, concealed float64, degradation *float64) bool {
	return degradation != nil && *degradation > 1.0 || rtt > 500*time.Millisecond || loss > 0.1 ||
		jitter > 30*time.Millisecond || concealed > 0.07
}

var durationRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,7})?)S)?)?$`)

func parseDuration(s string) (time.Duration, error) {
	m := durationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, _ := strconv.ParseFloat(m[4], 64)
		d += time.Duration(math.Round(f * 1e9))
	}
	return d, nil
}

// poorShare classifies the audio streams of client legs as the dashboard does.
func poorShare(t *testing.T, out []byte) (poor, total int) {
	t.Helper()
	type stream struct {
		AverageJitter, AverageRoundTripTime                   string
		AveragePacketLossRate, AverageRatioOfConcealedSamples float64
		AverageAudioDegradation                               *float64
	}
	type endpoint struct {
		Type string `json:"@odata.type"`
	}
	for _, l := range lines(out) {
		var r struct {
			Sessions []struct {
				Segments []struct {
					Caller, Callee endpoint
					Media          []struct {
						Label   string
						Streams []stream
					}
				}
			}
		}
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		for _, s := range r.Sessions {
			for _, seg := range s.Segments {
				if !strings.HasSuffix(seg.Caller.Type, ".participantEndpoint") && !strings.HasSuffix(seg.Callee.Type, ".participantEndpoint") {
					continue
				}
				for _, m := range seg.Media {
					if m.Label != "main-audio" {
						continue
					}
					for _, st := range m.Streams {
						jitter, err1 := parseDuration(st.AverageJitter)
						rtt, err2 := parseDuration(st.AverageRoundTripTime)
						if err := errors.Join(err1, err2); err != nil {
							t.Fatal(err)
						}
						total++
						if poorAudio(jitter, rtt, st.AveragePacketLossRate, st.AverageRatioOfConcealedSamples, st.AverageAudioDegradation) {
							poor++
						}
					}
				}
			}
		}
	}
	return poor, total
}

func TestPoorStreamShareMeetsTheMix(t *testing.T) {
	cases := []struct {
		name      string
		records   int
		share     float64
		tolerance float64
	}{
		{"default", 2000, DefaultMix().PoorAudioStreamShare, 0.01},
		{"a bad network day", 400, 0.15, 0.025},
		{"none", 200, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && c.records > 1000 {
				t.Skip("a share measured on 2,000 records: not with -short")
			}
			m := DefaultMix()
			m.PoorAudioStreamShare = c.share
			out, _ := generate(t, Config{Tenant: DemoTenant, Seed: 2024, Records: c.records, Mix: m})
			poor, total := poorShare(t, out)
			got := float64(poor) / float64(total)
			t.Logf("%d of %d client audio streams are poor (%.4f, target %.4f)", poor, total, got, c.share)
			if total < c.records {
				t.Fatalf("only %d client audio streams", total)
			}
			if math.Abs(got-c.share) > c.tolerance {
				t.Errorf("poor share %.4f, want %.4f ± %.4f", got, c.share, c.tolerance)
			}
		})
	}
}

// heapSampler is a sink that records the live heap now and then.
type heapSampler struct {
	writes int
	bytes  int64
	peak   uint64
}

func (h *heapSampler) Write(p []byte) (int, error) {
	h.writes++
	h.bytes += int64(len(p))
	if h.writes%8 == 0 {
		h.peak = max(h.peak, liveHeap())
	}
	return len(p), nil
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestWriteMemoryDoesNotGrowWithRecords(t *testing.T) {
	m := DefaultMix()
	m.MaxParticipants = 40 // bounds the largest record, so the bound below is about streaming only
	peak := func(records int) (growth uint64, written int64) {
		base := liveHeap()
		h := &heapSampler{}
		if _, err := Write(h, Config{Tenant: DemoTenant, Seed: 3, Records: records, Mix: m}); err != nil {
			t.Fatal(err)
		}
		return max(h.peak, base) - base, h.bytes
	}
	small, smallOut := peak(100)
	large, largeOut := peak(1000)
	t.Logf("live heap growth: %d KiB writing %d MiB, %d KiB writing %d MiB", small>>10, smallOut>>20, large>>10, largeOut>>20)
	if limit := uint64(largeOut / 8); large > limit {
		t.Errorf("1,000 records grew the live heap by %d KiB; want under an eighth of the %d KiB written", large>>10, largeOut>>10)
	}
	if large > 2*small+8<<20 {
		t.Errorf("1,000 records grew the live heap by %d KiB, 100 records by %d KiB", large>>10, small>>10)
	}
}

func TestFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                        "PT0S",
		16 * time.Millisecond:                    "PT0.016S",
		62*time.Second + 500*time.Millisecond:    "PT1M2.5S",
		time.Hour:                                "PT1H",
		time.Hour + 100:                          "PT1H0.0000001S",
		26 * time.Hour:                           "P1DT2H",
		3*time.Second + 1234567*time.Microsecond: "PT4.234567S",
	} {
		if got := string(appendDuration(nil, d)); got != want {
			t.Errorf("duration %v: got %s, want %s", d, got, want)
		}
	}
	for in, want := range map[string]string{
		"2020-02-25T18:52:21.2169889Z": `"2020-02-25T18:52:21.2169889Z"`,
		"2020-02-25T19:00:24.5827570Z": `"2020-02-25T19:00:24.582757Z"`,
		"2023-09-25T10:36:40.000Z":     `"2023-09-25T10:36:40Z"`,
		"2023-09-25T12:36:40+02:00":    `"2023-09-25T10:36:40Z"`,
	} {
		v, err := time.Parse(time.RFC3339Nano, in)
		if err != nil {
			t.Fatal(err)
		}
		var e enc
		e.time("", v)
		if got := string(e.b); got != want {
			t.Errorf("time %s: got %s, want %s", in, got, want)
		}
	}
	var e enc
	e.str("", "Renée \"O'Brien\"\n\x01 李雷 🎧")
	if got, want := string(e.b), `"Renée \"O'Brien\"\n\u0001 李雷 🎧"`; got != want {
		t.Errorf("string: got %s, want %s", got, want)
	}
}

func TestDirectoryUPNsAreUniqueASCII(t *testing.T) {
	g := newGen(DemoTenant, 1, DefaultMix(), defaultFrom, nil)
	seen := map[string]bool{}
	for _, p := range g.dir {
		if seen[p.upn] {
			t.Errorf("UPN %s repeats", p.upn)
		}
		seen[p.upn] = true
		for _, c := range p.upn {
			if c > 0x7f || c == ' ' || c == '\'' {
				t.Errorf("UPN %q of %s is not plain ASCII", p.upn, p.name)
				break
			}
		}
	}
}

// ---- schema conformance ----

type csdlProperty struct {
	Name     string `xml:"Name,attr"`
	Type     string `xml:"Type,attr"`
	Nullable string `xml:"Nullable,attr"`
}

type csdlType struct {
	Name     string         `xml:"Name,attr"`
	BaseType string         `xml:"BaseType,attr"`
	Abstract bool           `xml:"Abstract,attr"`
	OpenType bool           `xml:"OpenType,attr"`
	Props    []csdlProperty `xml:"Property"`
	Navs     []csdlProperty `xml:"NavigationProperty"`
}

type csdlSchema struct {
	Namespace string `xml:"Namespace,attr"`
	Enums     []struct {
		Name    string `xml:"Name,attr"`
		Members []struct {
			Name string `xml:"Name,attr"`
		} `xml:"Member"`
	} `xml:"EnumType"`
	Complex  []csdlType `xml:"ComplexType"`
	Entities []csdlType `xml:"EntityType"`
}

type property struct {
	typ        string // qualified
	collection bool
	nullable   bool
	nav        bool
}

type schemaType struct {
	base     string
	abstract bool
	open     bool
	props    map[string]property
}

type model struct {
	types map[string]*schemaType
	enums map[string]map[string]bool
}

// qualify expands the "graph." alias that the callRecords schema uses.
func qualify(name string) string {
	if rest, ok := strings.CutPrefix(name, "graph."); ok {
		return "microsoft.graph." + rest
	}
	return name
}

func loadModel(t *testing.T) *model {
	t.Helper()
	m := &model{types: map[string]*schemaType{}, enums: map[string]map[string]bool{}}
	for _, path := range []string{"../../shared/graph/callrecords-beta.csdl.xml", "../../shared/graph/graph-referenced-types-v1.0.xml"} {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("no schema at %s", path)
		} else if err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(bufio.NewReader(f))
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			se, ok := tok.(xml.StartElement)
			if !ok || se.Name.Local != "Schema" {
				continue
			}
			var s csdlSchema
			if err := dec.DecodeElement(&s, &se); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, e := range s.Enums {
				members := map[string]bool{}
				for _, mem := range e.Members {
					members[mem.Name] = true
				}
				m.enums[s.Namespace+"."+e.Name] = members
			}
			for _, ct := range append(s.Complex, s.Entities...) {
				st := &schemaType{base: qualify(ct.BaseType), abstract: ct.Abstract, open: ct.OpenType, props: map[string]property{}}
				add := func(p csdlProperty, nav bool) {
					typ, coll := p.Type, false
					if inner, ok := strings.CutPrefix(typ, "Collection("); ok {
						typ, coll = strings.TrimSuffix(inner, ")"), true
					}
					st.props[p.Name] = property{typ: qualify(typ), collection: coll, nullable: p.Nullable != "false", nav: nav}
				}
				for _, p := range ct.Props {
					add(p, false)
				}
				for _, p := range ct.Navs {
					add(p, true)
				}
				m.types[s.Namespace+"."+ct.Name] = st
			}
		}
		f.Close()
	}
	return m
}

// lookup finds a property on a type or its bases.
func (m *model) lookup(typ, name string) (property, bool) {
	for typ != "" {
		st := m.types[typ]
		if st == nil {
			return property{}, false
		}
		if p, ok := st.props[name]; ok {
			return p, true
		}
		typ = st.base
	}
	return property{}, false
}

func (m *model) derives(typ, from string) bool {
	for ; typ != ""; typ = m.types[typ].base {
		if typ == from {
			return true
		}
		if m.types[typ] == nil {
			return false
		}
	}
	return false
}

func (m *model) isOpen(typ string) bool {
	for ; typ != "" && m.types[typ] != nil; typ = m.types[typ].base {
		if m.types[typ].open {
			return true
		}
	}
	return false
}

// object is a JSON object with its keys in order.
type object struct {
	keys []string
	vals []any
}

func parseOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := &object{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := parseOrdered(dec)
			if err != nil {
				return nil, err
			}
			o.keys, o.vals = append(o.keys, k.(string)), append(o.vals, v)
		}
		_, err := dec.Token()
		return o, err
	case json.Delim('['):
		var a []any
		for dec.More() {
			v, err := parseOrdered(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	}
	return tok, nil
}

var dateTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?Z$`)

// validator checks JSON against the model and records what it saw.
type validator struct {
	m    *model
	errs []string
	seen map[string]bool // "type/property" pairs met
}

func (v *validator) fail(path, format string, args ...any) {
	if len(v.errs) < 30 {
		v.errs = append(v.errs, path+": "+fmt.Sprintf(format, args...))
	}
}

func (v *validator) object(path, declared string, o *object) {
	typ := declared
	for i, k := range o.keys {
		if k != "@odata.type" {
			continue
		}
		if i != 0 {
			v.fail(path, "@odata.type is not the first property")
		}
		s, _ := o.vals[i].(string)
		typ = strings.TrimPrefix(s, "#")
		if !strings.HasPrefix(s, "#") || v.m.types[typ] == nil || !v.m.derives(typ, declared) {
			v.fail(path, "@odata.type %q is not %s or derived from it", s, declared)
			return
		}
	}
	st := v.m.types[typ]
	if st.abstract {
		v.fail(path, "abstract type %s without @odata.type", typ)
	}
	present := map[string]bool{}
	for i, k := range o.keys {
		if k == "@odata.type" {
			continue
		}
		present[k] = true
		p, ok := v.m.lookup(typ, k)
		if !ok {
			v.dynamic(path+"/"+k, typ, k, o.vals[i])
			continue
		}
		v.seen[typ+"/"+k] = true
		v.value(path+"/"+k, p, o.vals[i])
	}
	for t := typ; t != ""; t = v.m.types[t].base {
		for name, p := range v.m.types[t].props {
			if !p.nullable && !p.nav && !present[name] {
				v.fail(path, "%s lacks non-nullable %s", typ, name)
			}
		}
	}
}

// dynamic allows what Graph sends on open types: tenantId on identities and
// Boolean tokens in a feedbackTokenSet.
func (v *validator) dynamic(path, typ, name string, val any) {
	switch {
	case !v.m.isOpen(typ):
		v.fail(path, "%s declares no property %s", typ, name)
	case typ == "microsoft.graph.callRecords.feedbackTokenSet":
		if _, ok := val.(bool); !ok {
			v.fail(path, "feedback token is not a Boolean")
		}
		v.seen[typ+"/*"] = true
	case v.m.derives(typ, "microsoft.graph.identity") && name == "tenantId":
		if _, ok := val.(string); !ok {
			v.fail(path, "tenantId is not a string")
		}
		v.seen[typ+"/tenantId"] = true
	default:
		v.fail(path, "unexpected dynamic property %s on %s", name, typ)
	}
}

func (v *validator) value(path string, p property, val any) {
	if val == nil {
		if !p.nullable || p.collection {
			v.fail(path, "null for a non-nullable or collection property")
		}
		return
	}
	if p.collection {
		a, ok := val.([]any)
		if !ok {
			v.fail(path, "not an array")
			return
		}
		for i, x := range a {
			q := p
			q.collection, q.nullable = false, false
			v.value(fmt.Sprintf("%s[%d]", path, i), q, x)
		}
		return
	}
	if members, ok := v.m.enums[p.typ]; ok {
		if s, _ := val.(string); !members[s] {
			v.fail(path, "%v is not a member of %s", val, p.typ)
		}
		return
	}
	if _, ok := v.m.types[p.typ]; ok {
		o, ok := val.(*object)
		if !ok {
			v.fail(path, "not an object")
			return
		}
		v.object(path, p.typ, o)
		return
	}
	num, isNum := val.(json.Number)
	str, isStr := val.(string)
	switch p.typ {
	case "Edm.String":
		if !isStr {
			v.fail(path, "not a string")
		}
	case "Edm.Boolean":
		if _, ok := val.(bool); !ok {
			v.fail(path, "not a Boolean")
		}
	case "Edm.Int32", "Edm.Int64":
		bits := 32
		if p.typ == "Edm.Int64" {
			bits = 64
		}
		if _, err := strconv.ParseInt(string(num), 10, bits); !isNum || err != nil {
			v.fail(path, "%v is not an %s", val, p.typ)
		}
	case "Edm.Single":
		if _, err := strconv.ParseFloat(string(num), 32); !isNum || err != nil {
			v.fail(path, "%v is not a Single", val)
		}
	case "Edm.DateTimeOffset":
		if !isStr || !dateTimeRE.MatchString(str) {
			v.fail(path, "%v is not a UTC DateTimeOffset with a trimmed fraction", val)
		}
	case "Edm.Duration":
		if _, err := parseDuration(str); !isStr || err != nil {
			v.fail(path, "%v is not a Duration", val)
		}
	default:
		v.fail(path, "unknown type %s", p.typ)
	}
}

func (v *validator) record(t *testing.T, name string, l []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(l))
	dec.UseNumber()
	val, err := parseOrdered(dec)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	v.value(name, property{typ: "microsoft.graph.callRecords.callRecord"}, val)
}

func TestSchemaCheckCatchesViolations(t *testing.T) {
	mdl := loadModel(t)
	good := string(Demo()[:bytes.IndexByte(Demo(), '\n')])
	for name, edit := range map[string][2]string{
		"undeclared property":      {`"cpuCoresCount":8`, `"cpuCores":8`},
		"enum value not a member":  {`"platform":"android"`, `"platform":"Android"`},
		"@odata.type not first":    {`"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","name":"machineName_1"`, `"name":"machineName_1","@odata.type":"#microsoft.graph.callRecords.participantEndpoint"`},
		"missing non-nullable":     {`"streamDirection":"callerToCallee",`, ``},
		"abstract userAgent":       {`"@odata.type":"#microsoft.graph.callRecords.clientUserAgent",`, ``},
		"Int64 as a string":        {`"linkSpeed":4294967295`, `"linkSpeed":"4294967295"`},
		"untrimmed fraction":       {`"lastModifiedDateTime":"2020-02-25T19:00:24.582757Z"`, `"lastModifiedDateTime":"2020-02-25T19:00:24.5827570Z"`},
		"duration as milliseconds": {`"averageJitter":"PT0.016S"`, `"averageJitter":16`},
		"unexpected dynamic":       {`"tenantId":"dc368399-474c-4d40-900c-6265431fd81f","userPrincipalName"`, `"tenant":"dc368399-474c-4d40-900c-6265431fd81f","userPrincipalName"`},
	} {
		bad := strings.Replace(good, edit[0], edit[1], 1)
		if bad == good {
			t.Fatalf("%s: the edit found nothing to change", name)
		}
		v := &validator{m: mdl, seen: map[string]bool{}}
		v.record(t, name, []byte(bad))
		if len(v.errs) == 0 {
			t.Errorf("%s: the check passed it", name)
		}
	}
}

func TestOutputConformsToTheSchema(t *testing.T) {
	mdl := loadModel(t)
	v := &validator{m: mdl, seen: map[string]bool{}}
	out, _ := generate(t, Config{Tenant: DemoTenant, Seed: 77, Records: 150})
	var all [][]byte
	all = append(all, lines(Demo())...)
	all = append(all, lines(out)...)
	all = append(all, RecordWithSessions(DemoTenant, 1, "", 12))
	for i, l := range all {
		v.record(t, fmt.Sprintf("record %d", i), l)
	}
	for _, e := range v.errs {
		t.Error(e)
	}
	// The check is only as good as what it met: demand the rarer shapes.
	cr := "microsoft.graph.callRecords."
	for _, want := range []string{
		cr + "participantEndpoint/feedback", cr + "feedbackTokenSet/*", cr + "segment/failureInfo", cr + "session/failureInfo",
		cr + "userIdentity/userPrincipalName", cr + "userIdentity/tenantId", cr + "serviceUserAgent/role",
		cr + "clientUserAgent/communicationServiceId", cr + "networkInfo/wifiSignalStrength", cr + "networkInfo/relayIPAddress",
		cr + "traceRouteHop/roundTripTime", cr + "mediaStream/videoCodec", cr + "mediaStream/averageFreezeDuration",
		cr + "deviceInfo/howlingEventCount", cr + "callRecord/joinWebUrl", cr + "callRecord/participants_v2",
		"microsoft.graph.communicationsIdentitySet/azureCommunicationServicesUser", "microsoft.graph.communicationsIdentitySet/guest",
		"microsoft.graph.communicationsIdentitySet/phone", "microsoft.graph.identity/tenantId",
	} {
		if !v.seen[want] {
			t.Errorf("the output never had %s", want)
		}
	}
}
