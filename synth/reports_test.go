package synth

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// Revisions: the records late data updated come twice, the earlier version
// first; everything else once; the calls are the same as without.
func TestRevisionsComeAgainWithAHigherVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 400 records three times over: not with -short")
	}
	cfg := Config{Tenant: DemoTenant, Seed: 5, Records: 400}
	plain, _ := generate(t, cfg)
	cfg.Revisions = true
	out, st := generate(t, cfg)
	if again, _ := generate(t, cfg); !bytes.Equal(out, again) {
		t.Fatal("Revisions made the output nondeterministic")
	}
	ls := lines(out)
	if len(ls) != st.Records || st.Records-st.Revisions != 400 || st.Revisions == 0 {
		t.Fatalf("%d lines, stats %+v", len(ls), st)
	}
	type seen struct {
		version  int64
		line     int
		sessions int
		modified time.Time
	}
	first := map[string]seen{}
	finals := map[string]bool{}
	for i, l := range ls {
		var r struct {
			ID                   string
			Version              int64
			LastModifiedDateTime time.Time
			Sessions             []json.RawMessage
		}
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		s := seen{r.Version, i, len(r.Sessions), r.LastModifiedDateTime}
		p, ok := first[r.ID]
		if !ok {
			first[r.ID] = s
			continue
		}
		if finals[r.ID] {
			t.Fatalf("record %s comes three times", r.ID)
		}
		finals[r.ID] = true
		if s.version != p.version+1 || s.sessions < p.sessions || !s.modified.After(p.modified) || s.line-p.line > 200+st.Revisions {
			t.Errorf("record %s: earlier %+v, final %+v", r.ID, p, s)
		}
	}
	if len(finals) != st.Revisions {
		t.Errorf("%d records came twice, stats say %d", len(finals), st.Revisions)
	}
	// The final versions are the records written without Revisions.
	want := map[string]bool{}
	for _, l := range lines(plain) {
		want[string(l)] = true
	}
	for _, l := range ls {
		var r struct{ ID string }
		json.Unmarshal(l, &r)
		if finals[r.ID] && first[r.ID].line == indexOf(ls, l) {
			continue // an earlier version
		}
		if !want[string(l)] {
			t.Fatalf("a final record differs from the one written without Revisions: %.200s", l)
		}
	}
}

func indexOf(ls [][]byte, l []byte) int {
	for i, x := range ls {
		if bytes.Equal(x, l) {
			return i
		}
	}
	return -1
}

// Report rows: one for each session of a phone participant, matching it,
// with the documented share through direct routing.
func TestReportRowsMatchThePhoneLegs(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 3,000 records twice: not with -short")
	}
	var pstn, direct bytes.Buffer
	cfg := Config{Tenant: DemoTenant, Seed: 9, Records: 3000, PSTN: &pstn, DirectRouting: &direct}
	out, st := generate(t, cfg)
	plain, _ := generate(t, Config{Tenant: DemoTenant, Seed: 9, Records: 3000})
	if !bytes.Equal(out, plain) {
		t.Fatal("writing report rows changed the records")
	}
	type session struct {
		Caller struct {
			UserAgent struct{ Role string }
		}
		StartDateTime, EndDateTime time.Time
	}
	phoneLegs := map[string]int{} // record id → sessions through a mediationServer
	legStarts := map[time.Time]bool{}
	for _, l := range lines(out) {
		var r struct {
			ID       string
			Sessions []session
		}
		json.Unmarshal(l, &r)
		for _, s := range r.Sessions {
			if s.Caller.UserAgent.Role == "mediationServer" {
				phoneLegs[r.ID]++
				legStarts[s.StartDateTime] = true
			}
		}
	}
	rows := map[string]int{}
	check := func(name string, b []byte, want int, idField string) {
		n := 0
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			n++
			var row map[string]any
			if err := json.Unmarshal(l, &row); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			id, _ := row[idField].(string)
			rows[id]++
			start, _ := time.Parse(time.RFC3339Nano, row["startDateTime"].(string))
			if !legStarts[start] {
				t.Errorf("%s row %v matches no phone session's start", name, row["id"])
			}
		}
		if n != want {
			t.Errorf("%s: %d rows, stats say %d", name, n, want)
		}
	}
	check("pstn", pstn.Bytes(), st.PSTNRows, "conferenceId")
	check("direct", direct.Bytes(), st.DirectRouting, "correlationId")
	for id, n := range phoneLegs {
		if rows[id] != n {
			t.Errorf("record %s: %d phone sessions, %d rows", id, n, rows[id])
		}
	}
	total := st.PSTNRows + st.DirectRouting
	if total < 100 {
		t.Fatalf("only %d phone legs", total)
	}
	share := float64(st.DirectRouting) / float64(total)
	if want := DefaultMix().DirectRoutingShare; math.Abs(share-want) > 4*math.Sqrt(want*(1-want)/float64(total)) {
		t.Errorf("direct routing share %.3f, want %.3f", share, want)
	}
}

// The documented shape of meeting sizes: median 4, about 1.5% above 50,
// 0.3% above 150, and the cap at 10,000 reachable.
func TestGroupSizesFollowTheMix(t *testing.T) {
	g := newGen(DemoTenant, 1, DefaultMix(), defaultFrom.Add(week), nil)
	r := newRNG(1, 99, 0)
	const n = 400000
	sizes := make([]int, 0, n)
	above50, above150, largest := 0, 0, 0
	for range n {
		s := g.groupSize(r)
		sizes = append(sizes, s)
		if s > 50 {
			above50++
		}
		if s > 150 {
			above150++
		}
		largest = max(largest, s)
	}
	median := 0
	counts := map[int]int{}
	for _, s := range sizes {
		counts[s]++
	}
	for acc := 0; acc < n/2; median++ {
		acc += counts[median]
	}
	median--
	if median != 4 {
		t.Errorf("median %d, want 4", median)
	}
	if p := float64(above50) / n; math.Abs(p-0.015) > 0.002 {
		t.Errorf("share above 50: %.4f, want about 0.015", p)
	}
	if p := float64(above150) / n; math.Abs(p-0.003) > 0.001 {
		t.Errorf("share above 150: %.4f, want about 0.003", p)
	}
	if largest < 1000 || largest > DefaultMix().MaxParticipants {
		t.Errorf("largest meeting %d, want above 1,000 and at most the cap", largest)
	}
}
