package synth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func writeDemo(t *testing.T, cfg DemoConfig) (records, rows []byte, st, rowStats Stats) {
	t.Helper()
	var b, r bytes.Buffer
	st, err := WriteDemo(&b, cfg)
	if err != nil {
		t.Fatalf("WriteDemo: %v", err)
	}
	rowStats, err = WriteDemoRows(&r, cfg)
	if err != nil {
		t.Fatalf("WriteDemoRows: %v", err)
	}
	return b.Bytes(), r.Bytes(), st, rowStats
}

func TestWriteDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("writes the demo data set five times over: not with -short")
	}
	now := time.Date(2026, 11, 27, 15, 4, 5, 0, time.UTC)
	cfg := DemoConfig{Now: now, Seed: 1, Records: 150}
	out, rows, st, rowStats := writeDemo(t, cfg)

	t.Run("deterministic, anchored at Now's day", func(t *testing.T) {
		again, againRows, _, _ := writeDemo(t, cfg)
		if !bytes.Equal(out, again) || !bytes.Equal(rows, againRows) {
			t.Fatal("the same DemoConfig gave different bytes")
		}
		// Any time of the same day gives the same data set.
		sameDay, _, _, _ := writeDemo(t, DemoConfig{Now: now.Truncate(24 * time.Hour).Add(23 * time.Hour), Seed: 1, Records: 150})
		if !bytes.Equal(out, sameDay) {
			t.Fatal("another time of the same day gave different bytes")
		}
		other, _, _, _ := writeDemo(t, DemoConfig{Now: now, Seed: 2, Records: 150})
		if bytes.Equal(out, other) {
			t.Fatal("different seeds gave the same bytes")
		}
	})

	ls := lines(out)
	if len(ls) != 150+DemoNamedRecords || st.Records != len(ls) || st.Bytes != int64(len(out)) {
		t.Fatalf("%d lines, Stats %+v, %d bytes; want 300 calls and the 12 named records", len(ls), st, len(out))
	}
	from, to := DemoWindow(now)
	if want := time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC); !from.Equal(want) || !to.Equal(want.Add(DemoDays*24*time.Hour)) {
		t.Fatalf("DemoWindow(%v) is %v to %v", now, from, to)
	}
	ids := map[string]bool{}
	for i, l := range ls {
		r := parseTimes(t, l)
		if ids[r.ID] {
			t.Errorf("record id %s repeats", r.ID)
		}
		ids[r.ID] = true
		if r.StartDateTime.Before(from) || r.EndDateTime.After(to) || r.LastModifiedDateTime.After(to) {
			t.Errorf("record %d (%s): %v..%v (modified %v) is outside %v..%v", i+1, r.ID,
				r.StartDateTime, r.EndDateTime, r.LastModifiedDateTime, from, to)
		}
	}
	for _, id := range []string{DemoCallID, DemoMeetingID, DemoACSCallID, DemoFailedCallID} {
		if !ids[id] {
			t.Errorf("the demo lacks record %s", id)
		}
	}

	t.Run("the meeting comes last, with 150 sessions", func(t *testing.T) {
		m := parseTimes(t, ls[len(ls)-1])
		if m.ID != DemoMeetingID || len(m.Sessions) != 150 {
			t.Fatalf("the last record is %s with %d sessions", m.ID, len(m.Sessions))
		}
		if f, tt := DemoWindowOf(m.StartDateTime); !f.Equal(from) || !tt.Equal(to) {
			t.Errorf("DemoWindowOf(%v) is %v to %v, want %v to %v", m.StartDateTime, f, tt, from, to)
		}
	})

	t.Run("the calls spread over the window", func(t *testing.T) {
		days := map[time.Time]int{}
		for _, l := range ls {
			days[parseTimes(t, l).StartDateTime.Truncate(24*time.Hour)]++
		}
		if len(days) < DemoDays*2/3 {
			t.Errorf("calls on %d days of %d", len(days), DemoDays)
		}
		if days[to.Add(-24*time.Hour)] == 0 && days[to.Add(-48*time.Hour)] == 0 {
			t.Error("no calls in the last two days")
		}
	})

	t.Run("the rows match the calls", func(t *testing.T) {
		if rowStats.PSTNRows == 0 || rowStats.DirectRouting == 0 {
			t.Fatalf("rows: %+v", rowStats)
		}
		var pstn, direct int
		for _, l := range lines(rows) {
			var row struct {
				Type          string    `json:"@odata.type"`
				ConferenceID  string    `json:"conferenceId"`
				CorrelationID string    `json:"correlationId"`
				StartDateTime time.Time `json:"startDateTime"`
			}
			if err := json.Unmarshal(l, &row); err != nil {
				t.Fatal(err)
			}
			id := row.ConferenceID
			switch row.Type {
			case "#microsoft.graph.callRecords.pstnCallLogRow":
				if direct > 0 {
					t.Fatal("a PSTN row follows a direct routing row")
				}
				pstn++
			case "#microsoft.graph.callRecords.directRoutingLogRow":
				direct++
				id = row.CorrelationID
			default:
				t.Fatalf("row type %q", row.Type)
			}
			if !ids[id] || row.StartDateTime.Before(from) || !row.StartDateTime.Before(to) {
				t.Errorf("row of %s at %v matches no call", id, row.StartDateTime)
			}
		}
		if pstn != rowStats.PSTNRows || direct != rowStats.DirectRouting {
			t.Errorf("%d and %d rows, stats %+v", pstn, direct, rowStats)
		}
	})

	t.Run("ids do not move with the day", func(t *testing.T) {
		later, laterRows, _, _ := writeDemo(t, DemoConfig{Now: now.Add(40 * 24 * time.Hour), Seed: 1, Records: 150})
		idsOf := func(b []byte) string {
			var s []string
			for _, l := range lines(b) {
				var v struct{ ID string }
				json.Unmarshal(l, &v)
				s = append(s, v.ID)
			}
			return fmt.Sprint(s)
		}
		if idsOf(out) != idsOf(later) || idsOf(rows) != idsOf(laterRows) {
			t.Error("seeding on another day gives other ids: a second seeding would not replace the first")
		}
	})

	t.Run("the named records conform to the schema", func(t *testing.T) {
		v := &validator{m: loadModel(t), seen: map[string]bool{}}
		for i, l := range ls[len(ls)-DemoNamedRecords:] {
			v.record(t, fmt.Sprintf("record %d", i), l)
		}
		for _, e := range v.errs {
			t.Error(e)
		}
	})

	if _, err := WriteDemo(&bytes.Buffer{}, DemoConfig{Seed: 1, Records: 1}); err == nil {
		t.Error("a zero Now is accepted")
	}
	if _, err := WriteDemo(&bytes.Buffer{}, DemoConfig{Now: now, Records: -1}); err == nil {
		t.Error("negative Records are accepted")
	}
}

func TestDemoWindowOfDemoHoldsIt(t *testing.T) {
	var meeting time.Time
	var first, last time.Time
	for _, l := range lines(Demo()) {
		r := parseTimes(t, l)
		if r.ID == DemoMeetingID {
			meeting = r.StartDateTime
		}
		if first.IsZero() || r.StartDateTime.Before(first) {
			first = r.StartDateTime
		}
		if r.EndDateTime.After(last) {
			last = r.EndDateTime
		}
	}
	from, to := DemoWindowOf(meeting)
	if first.Before(from) || last.After(to) {
		t.Errorf("Demo spans %v to %v, DemoWindowOf its meeting %v to %v", first, last, from, to)
	}
}
