// Package rolluptest checks a store's daily rollup of classified streams
// (package qualitysql), for the tests of both stores.
package rolluptest

import (
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/qualitysql"
)

// Store is what the check needs of a store.
type Store interface {
	callvault.Store
	callvault.QualityAggregator
}

// FollowsReplacedRecords checks that the rollup follows the streams: a
// record replaced by a version on another day leaves its first day empty,
// through the dirty days that the insert and the delete mark.
func FollowsReplacedRecords(t *testing.T, st Store) {
	day := func(d int) time.Time { return time.Date(2026, 8, d, 0, 0, 0, 0, time.UTC) }
	put := func(version int64, start time.Time, n int) {
		t.Helper()
		r := &callvault.Record{Tenant: "t", ID: "r1", Version: version, StartDateTime: start, EndDateTime: start.Add(2 * time.Hour),
			Body: []byte(fmt.Sprintf(`{"id":"r1","version":%d}`, version)), Sessions: []callvault.Session{{ID: "s1", Body: []byte(`{"id":"s1"}`)}}}
		r.Quality = &callvault.RecordQuality{}
		for i := range n {
			r.Quality.Streams = append(r.Quality.Streams, callvault.QualityStream{RecordID: "r1", SessionSeq: 1, SegmentSeq: 1, Seq: i + 1,
				Start: start.Add(time.Hour), Media: callvault.MediaAudio, Class: callvault.ClassGood, Direction: "firstToSecond"})
		}
		if _, err := st.PutRecord(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	byDay := func() map[string]int64 {
		t.Helper()
		q := callvault.QualityAggregate{Start: callvault.TimeRange{From: day(1), FromInclusive: true, To: day(10)}, By: []string{callvault.BucketDay}}
		if _, _, _, ok := qualitysql.Rollable(q); !ok {
			t.Fatal("the query is not one the rollup answers")
		}
		groups, err := st.AggregateQuality(t.Context(), "t", q)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, g := range groups {
			out[g.Keys[0]] = g.Streams
		}
		return out
	}
	d3, d5 := strconv.FormatInt(qualitysql.Day(day(3)), 10), strconv.FormatInt(qualitysql.Day(day(5)), 10)
	put(1, day(3), 4)
	if got := byDay(); !reflect.DeepEqual(got, map[string]int64{d3: 4}) {
		t.Fatalf("first version: %v", got)
	}
	put(2, day(5), 6)
	if got := byDay(); !reflect.DeepEqual(got, map[string]int64{d5: 6}) {
		t.Fatalf("after the replacement: %v", got)
	}
}
