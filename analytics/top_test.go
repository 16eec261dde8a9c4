package analytics

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
)

// TestTopPicksAsAStableSortWould: top's one pass keeps the rows, in the
// order, that a stable sort of the eligible rows by poor % and then poor
// streams gives first, ties included.
func TestTopPicksAsAStableSortWould(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		var rows []Row
		for i := range n {
			r := Row{Keys: []string{fmt.Sprint(i)}, Good: int64(rnd.IntN(4)), Poor: int64(rnd.IntN(3))}
			if rnd.IntN(5) > 0 {
				p := float64(rnd.IntN(4)) * 25
				r.PoorPercent = &p
			}
			rows = append(rows, r)
		}
		q := Query{Top: 1 + rnd.IntN(6), MinStreams: int64(rnd.IntN(3))}
		var want []Row
		for _, r := range rows {
			if r.PoorPercent != nil && r.Good+r.Poor >= q.MinStreams {
				want = append(want, r)
			}
		}
		sort.SliceStable(want, func(i, j int) bool {
			a, b := want[i], want[j]
			if *a.PoorPercent != *b.PoorPercent {
				return *a.PoorPercent > *b.PoorPercent
			}
			return a.Poor > b.Poor
		})
		want = want[:min(q.Top, len(want))]
		if got := top(rows, q); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("%d rows, top %d, min %d:\ngot  %v\nwant %v", n, q.Top, q.MinStreams, rowKeys(got), rowKeys(want))
		}
	}
}

func rowKeys(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Keys[0])
	}
	return out
}
