package mirror

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
