package qualitysql

import (
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
