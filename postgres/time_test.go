package postgres

import (
	"math"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// TestKeyRangeAgreesWithContains checks, bound by bound, that a stored
// time's column value is in keyRange(r) exactly when r.Contains the time.
func TestKeyRangeAgreesWithContains(t *testing.T) {
	stored := []time.Time{
		{}, // the zero time
		earliestTime,
		earliestTime.Add(1),
		time.Unix(0, -1).UTC(),
		time.Unix(0, 0).UTC(),
		time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC),
		time.Date(2025, 1, 2, 3, 4, 5, 601, time.UTC),
		latestTime.Add(-1),
		latestTime,
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
				r := callvault.TimeRange{From: from, To: to, FromInclusive: incl[0], ToInclusive: incl[1]}
				lo, hi, ok := keyRange(r)
				for _, s := range stored {
					k, err := timeKey(s)
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
		{earliestTime, math.MinInt64 + 1, true},
		{latestTime, math.MaxInt64, true},
		{latestTime.Add(1), 0, false},
		{time.Date(2024, 3, 1, 9, 30, 15, 216988900, time.FixedZone("CET", 3600)), 1709281815216988900, true},
	} {
		got, err := timeKey(tt.t)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("timeKey(%v) = %d, %v; want %d, ok %v", tt.t, got, err, tt.want, tt.ok)
		}
		if err == nil && !keyTime(got).Equal(tt.t) {
			t.Errorf("keyTime(timeKey(%v)) = %v", tt.t, keyTime(got))
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db":                             "postgres://u@h/db",
		"host=h user=u password=secret dbname=db":       "host=h user=u password=xxxxx dbname=db",
		"host=h password = 'se cret' dbname=db":         "host=h password = xxxxx dbname=db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
