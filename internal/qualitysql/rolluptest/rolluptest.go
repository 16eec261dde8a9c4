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

// ReadsTheQueriedMedia checks that an answer from the rollup of one media
// counts that media only, by day and over the period, and that one of
// every media counts them all: the store reads the media in SQL.
func ReadsTheQueriedMedia(t *testing.T, st Store) {
	start := time.Date(2026, 8, 4, 9, 0, 0, 0, time.UTC)
	r := &callvault.Record{Tenant: "m", ID: "r1", Version: 1, StartDateTime: start, EndDateTime: start.Add(time.Hour),
		Body: []byte(`{"id":"r1","version":1}`), Sessions: []callvault.Session{{ID: "s1", Body: []byte(`{"id":"s1"}`)}}}
	r.Quality = &callvault.RecordQuality{}
	for i, media := range []string{callvault.MediaAudio, callvault.MediaAudio, callvault.MediaVideo} {
		r.Quality.Streams = append(r.Quality.Streams, callvault.QualityStream{RecordID: "r1", SessionSeq: 1, SegmentSeq: 1, Seq: i + 1,
			Start: start, Media: media, Class: callvault.ClassGood, Direction: "firstToSecond", Second: callvault.QualityEndpoint{Subnet: "10.0.0.0"}})
	}
	if _, err := st.PutRecord(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	period := callvault.TimeRange{From: start.Truncate(24 * time.Hour), FromInclusive: true, To: start.Truncate(24*time.Hour).AddDate(0, 0, 7)}
	for _, c := range []struct {
		media string
		by    []string
		want  map[string]int64
	}{
		{callvault.MediaVideo, []string{"second_subnet"}, map[string]int64{"10.0.0.0": 1}},
		{callvault.MediaAudio, []string{"second_subnet"}, map[string]int64{"10.0.0.0": 2}},
		{callvault.MediaVideo, []string{callvault.BucketDay}, map[string]int64{strconv.FormatInt(qualitysql.Day(start), 10): 1}},
		{"", []string{"media"}, map[string]int64{callvault.MediaAudio: 2, callvault.MediaVideo: 1}},
		{"", nil, map[string]int64{"": 3}},
	} {
		q := callvault.QualityAggregate{Start: period, Media: c.media, By: c.by}
		if _, _, _, ok := qualitysql.Rollable(q); !ok {
			t.Fatalf("%+v is not a query the rollup answers", q)
		}
		groups, err := st.AggregateQuality(t.Context(), "m", q)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, g := range groups {
			k := ""
			if len(g.Keys) > 0 {
				k = g.Keys[0]
			}
			got[k] = g.Streams
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("media %q by %v: %v, want %v", c.media, c.by, got, c.want)
		}
	}
}
