package callvault

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// TestKeysAgreeWithContains checks, bound by bound, that a stored time's
// key is in r.Keys() exactly when r.Contains the time.
func TestKeysAgreeWithContains(t *testing.T) {
	stored := []time.Time{
		{}, // the zero time
		earliestKeyTime,
		earliestKeyTime.Add(1),
		time.Unix(0, -1).UTC(),
		time.Unix(0, 0).UTC(),
		time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC),
		time.Date(2025, 1, 2, 3, 4, 5, 601, time.UTC),
		latestKeyTime.Add(-1),
		latestKeyTime,
	}
	bounds := append([]time.Time{
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), // before the zero time
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),  // between the zero time and the earliest real one
		time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), // after the latest
		time.Date(2025, 1, 2, 4, 4, 5, 600, time.FixedZone("CET", 3600)),
	}, stored[1:]...)
	for _, from := range append(bounds, time.Time{}) {
		for _, to := range append(bounds, time.Time{}) {
			for _, incl := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				r := TimeRange{From: from, To: to, FromInclusive: incl[0], ToInclusive: incl[1]}
				lo, hi, ok := r.Keys()
				for _, s := range stored {
					k, err := TimeKey(s)
					if err != nil {
						t.Fatal(err)
					}
					if got, want := ok && lo <= k && k <= hi, r.Contains(s); got != want {
						t.Errorf("range %+v (keys [%d, %d], %v) holds %v: got %v, want %v", r, lo, hi, ok, s, got, want)
					}
				}
			}
		}
	}
}

func TestTimeKey(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want int64
		ok   bool
	}{
		{time.Time{}, math.MinInt64, true},
		{time.Unix(0, math.MinInt64), 0, false}, // the instant the zero time stands for
		{earliestKeyTime, math.MinInt64 + 1, true},
		{latestKeyTime, math.MaxInt64, true},
		{latestKeyTime.Add(1), 0, false},
		{time.Date(2024, 3, 1, 9, 30, 15, 216988900, time.FixedZone("CET", 3600)), 1709281815216988900, true},
	} {
		got, err := TimeKey(tt.t)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("TimeKey(%v) = %d, %v; want %d, ok %v", tt.t, got, err, tt.want, tt.ok)
		}
		if err == nil && !KeyTime(got).Equal(tt.t) {
			t.Errorf("KeyTime(TimeKey(%v)) = %v", tt.t, KeyTime(got))
		}
	}
}

func TestRecordQueryArgs(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	q := RecordQuery{Tenant: "t", ParticipantID: "p", Limit: 2,
		Start: TimeRange{From: t0, FromInclusive: true, To: t0.Add(time.Hour)}}
	args, none, err := q.ListArgs()
	lo, hi, _ := q.Start.Keys()
	if want := fmt.Sprint([]any{"t", "p", lo, "", hi, ZeroKey, int64(math.MaxInt64), int64(3)}); err != nil || none || fmt.Sprint(args) != want {
		t.Errorf("ListArgs: %v %v %v, want %s", args, none, err, want)
	}
	q.ParticipantID = ""
	args, none, err = q.CountArgs()
	if want := fmt.Sprint([]any{"t", lo, hi, ZeroKey, int64(math.MaxInt64)}); err != nil || none || fmt.Sprint(args) != want {
		t.Errorf("CountArgs: %v %v %v, want %s", args, none, err, want)
	}
	// Not there yet: records that ended after EndedBy are left out; before
	// what retention keeps, nothing is left.
	q.EndedBy = t0.Add(time.Minute)
	args, _, _ = q.CountArgs()
	if want := fmt.Sprint([]any{"t", lo, hi, ZeroKey, t0.Add(time.Minute).UnixNano()}); fmt.Sprint(args) != want {
		t.Errorf("CountArgs with EndedBy: %v, want %s", args, want)
	}
	q.NotBefore = t0.Add(2 * time.Minute)
	if _, none, err := q.CountArgs(); !none || err != nil {
		t.Errorf("EndedBy before NotBefore: none %v, %v", none, err)
	}
	q.EndedBy, q.NotBefore = time.Time{}, time.Time{}
	q.Start.To = t0
	if _, none, err := q.ListArgs(); !none || err != nil {
		t.Errorf("an empty range: none %v, %v", none, err)
	}
	if _, _, err := (&RecordQuery{Tenant: "t"}).ListArgs(); ErrorCode(err) != EINVALID {
		t.Errorf("no page size: %v", err)
	}
	p := RecordPage{Records: make([]RecordHeader, 3)}
	if p.Cut(2); len(p.Records) != 2 || !p.More {
		t.Errorf("Cut: %d records, more %v", len(p.Records), p.More)
	}
	pp := ParticipantPage{Participants: make([]ParticipantRow, 2)}
	if pp.Cut(2); len(pp.Participants) != 2 || pp.More {
		t.Errorf("Cut of a last page: %d participants, more %v", len(pp.Participants), pp.More)
	}
}
