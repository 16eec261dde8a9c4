package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// dayListing lists one record a day, whose id names the day, and answers
// the listing of the day bad with a 400 while bad is set.
type dayListing struct {
	bad atomic.Value // time.Time
}

func (s *dayListing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// $filter=startDateTime ge 2026-11-02T00:00:00Z and startDateTime lt …
	f := r.URL.Query().Get("$filter")
	from, err := time.Parse(time.RFC3339, strings.Fields(f)[2])
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if bad, _ := s.bad.Load().(time.Time); from.Equal(bad) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"code":"BadRequest","message":"this day cannot be listed"}}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"value":[{"id":"%s","version":1,"lastModifiedDateTime":"%s"}]}`, dayID(from), from.Add(time.Hour).Format(time.RFC3339))
}

func dayID(day time.Time) string { return "d0000000-0000-4000-8000-0000" + day.Format("20060102") }

// A window the source cannot list does not stop the sweep: the later
// windows are listed and queued, the sweep says which failed, and its
// checkpoint stays before the failed window, so that the sweep resumed
// under its name lists that window again.
func TestASweepGoesOnPastAWindowThatFails(t *testing.T) {
	src := &dayListing{}
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	src.bad.Store(day.Add(24 * time.Hour))
	m, db := newSourceMirror(t, src)
	ctx := context.Background()
	queued := func() map[string]bool {
		t.Helper()
		items, err := db.ClaimMirror(ctx, testTenant, m.source(), "peek", time.Now(), time.Millisecond, 100)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, it := range items {
			ids[it.RecordID] = true
		}
		time.Sleep(5 * time.Millisecond) // the peek's lease runs out
		return ids
	}
	checkpoint := func() time.Time {
		t.Helper()
		v, err := db.MirrorState(ctx, testTenant, m.source(), "backfill")
		if err != nil {
			t.Fatal(err)
		}
		var cp struct{ From, Done time.Time }
		json.Unmarshal(v, &cp)
		return cp.Done
	}

	err := m.Sweep(ctx, day, day.Add(72*time.Hour), "backfill")
	if err == nil || !strings.Contains(err.Error(), "2026-11-03T00:00:00Z") || !strings.Contains(err.Error(), "this day cannot be listed") {
		t.Errorf("err = %v, want the failed window and why", err)
	}
	got := queued()
	for i, want := range []bool{true, false, true} {
		if id := dayID(day.Add(time.Duration(i) * 24 * time.Hour)); got[id] != want {
			t.Errorf("day %d queued: %v, want %v", i, got[id], want)
		}
	}
	if cp := checkpoint(); !cp.Equal(day.Add(24 * time.Hour)) {
		t.Errorf("checkpoint at %v, want the end of the last window before the failed one", cp)
	}

	src.bad.Store(time.Time{})
	if err := m.Sweep(ctx, day, day.Add(72*time.Hour), "backfill"); err != nil {
		t.Fatal(err)
	}
	if id := dayID(day.Add(24 * time.Hour)); !queued()[id] {
		t.Errorf("the failed day's record is not queued when the sweep resumes")
	}
	if cp := checkpoint(); !cp.Equal(day.Add(72 * time.Hour)) {
		t.Errorf("checkpoint at %v, want the end of the sweep", cp)
	}
}

// dayRows answers getPstnCalls with one row a day, and on the first day a
// second one written across lines; the day bad gets a 400.
type dayRows struct {
	first, bad time.Time
}

func (s *dayRows) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, rest, _ := strings.Cut(r.URL.Path, "getPstnCalls(fromDateTime=")
	day, err := time.Parse(time.RFC3339, strings.SplitN(rest, ",", 2)[0])
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if day.Equal(s.bad) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"code":"BadRequest","message":"this day cannot be listed"}}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if !day.Equal(s.first) {
		fmt.Fprintf(w, `{"value":[%s]}`, pstnRow(dayID(day), day.Add(time.Hour)))
		return
	}
	// Two rows, the second written across lines.
	var b bytes.Buffer
	json.Indent(&b, []byte(pstnRow(dayID(day)+"b", day.Add(2*time.Hour))), "", "  ")
	fmt.Fprintf(w, "{\n\"value\": [\n%s,\n%s\n]\n}", pstnRow(dayID(day), day.Add(time.Hour)), b.Bytes())
}

func pstnRow(id string, start time.Time) string {
	return fmt.Sprintf(`{"id":"%s","callId":"c","userId":"db03c14b-06eb-4189-939b-7cbf3a20ba27","startDateTime":"%s","endDateTime":"%s","duration":60,"callType":"user_in","calleeNumber":"+1234567890","callerNumber":"+0123456789"}`,
		id, start.Format(time.RFC3339), start.Add(time.Minute).Format(time.RFC3339))
}

// Report rows likewise: a day the source cannot answer does not keep the
// others from the store, and a row written across lines is stored as one.
func TestReportRowsGoOnPastADayThatFails(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	m, db := newSourceMirror(t, &dayRows{first: day, bad: day.Add(24 * time.Hour)})
	ctx := context.Background()
	err := m.Reports(ctx, day, day.Add(72*time.Hour), map[string]string{"getPstnCalls": "pstnCallLogRow"})
	if err == nil || !strings.Contains(err.Error(), "getPstnCalls for 2026-11-03") || !strings.Contains(err.Error(), "this day cannot be listed") {
		t.Errorf("err = %v, want the failed day and why", err)
	}
	page, err := db.ListReportRows(ctx, callvault.ReportQuery{Tenant: testTenant, Kind: "pstnCallLogRow",
		Range: callvault.TimeRange{From: day, To: day.Add(72 * time.Hour)}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, row := range page.Rows {
		var r struct{ ID string }
		json.Unmarshal(row, &r)
		ids = append(ids, r.ID)
	}
	if want := []string{dayID(day), dayID(day) + "b", dayID(day.Add(48 * time.Hour))}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("stored rows %v, want %v", ids, want)
	}
}
