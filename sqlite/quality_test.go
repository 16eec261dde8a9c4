package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/qualitysql"
	"github.com/callvault/callvault/internal/qualitysql/rolluptest"
)

func fp(v float64) *float64 { return &v }

// qualityStreams returns n streams of one record, with every kind of
// column value, including text JSON must escape.
func qualityStreams(id string, n int) []callvault.QualityStream {
	t0 := time.Date(2026, 8, 3, 23, 59, 0, 0, time.UTC)
	var out []callvault.QualityStream
	for i := range n {
		s := callvault.QualityStream{RecordID: id, SessionSeq: 1 + i/4, SegmentSeq: 1 + i%4/2, Seq: 1 + i%2,
			Start: t0.Add(time.Duration(i) * 10 * time.Second), Media: callvault.MediaAudio, Label: "main-audio",
			Direction: "firstToSecond", FirstIsCaller: i%3 == 0, Class: callvault.ClassGood, CallType: "groupCall",
			JitterMs: fp(float64(i)), PacketLoss: fp(0.1), Conference: true, PSTN: i%5 == 0,
			First:  callvault.QualityEndpoint{Kind: "server", Role: "skypeForBusinessAudioVideoMcu", Subnet: "52.1.0.0"},
			Second: callvault.QualityEndpoint{Kind: "client", Name: `LAPTOP "1"\`, UserName: "Zoë\n", Platform: "windows", Subnet: "10.1.2.0", IP: "10.1.2.7"}}
		if i%2 == 1 {
			s.Class, s.PoorDue, s.Direction, s.JitterMs, s.FrameRate = callvault.ClassPoor, callvault.DueJitter, "secondToFirst", nil, fp(29.97)
		}
		out = append(out, s)
	}
	return out
}

func sortedStreams(t *testing.T, db *DB, tenant string) []callvault.QualityStream {
	t.Helper()
	var got []callvault.QualityStream
	err := db.VisitQualityStreams(t.Context(), tenant, callvault.TimeRange{}, func(s *callvault.QualityStream) error {
		c := *s
		for _, p := range []**float64{&c.JitterMs, &c.RoundTripMs, &c.PacketLoss, &c.Degradation, &c.Concealed, &c.FrameLoss, &c.FrameRate, &c.PostFECPLR} {
			if *p != nil {
				v := **p
				*p = &v
			}
		}
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Start.Before(got[j].Start) })
	return got
}

// A record's streams read back whole, text that JSON escapes included.
func TestQualityStreamsRoundTrip(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	for _, n := range []int{1, 2, 19} {
		tenant := fmt.Sprint("t", n)
		r := &callvault.Record{Tenant: tenant, ID: "r1", Version: 1, StartDateTime: time.Date(2026, 8, 3, 23, 59, 0, 0, time.UTC),
			Body: []byte(`{"id":"r1","version":1}`), Sessions: []callvault.Session{{ID: "s1", Body: []byte(`{"id":"s1"}`)}}}
		r.Quality = &callvault.RecordQuality{Streams: qualityStreams("r1", n)}
		if _, err := db.PutRecord(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if got := sortedStreams(t, db, tenant); !reflect.DeepEqual(got, r.Quality.Streams) {
			t.Fatalf("%d streams: read back\n%+v\nwant\n%+v", n, got, r.Quality.Streams)
		}
	}
}

// Migration 0010 moves the rows of the wide table into the narrow one:
// what an earlier build stored reads back the same.
func TestQualityNarrowMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", dsn(path, url.Values{"_journal_mode": {"WAL"}, "_pragma": {"page_size(" + strconv.Itoa(pageSize) + ")"}}))
	if err != nil {
		t.Fatal(err)
	}
	old.SetMaxOpenConns(1)
	ctx := t.Context()
	if _, err := old.ExecContext(ctx, `CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT '')`); err != nil {
		t.Fatal(err)
	}
	names, _ := migrationFS.ReadDir("migrations")
	for _, e := range names {
		if e.Name() >= "0010" {
			break
		}
		buf, _ := migrationFS.ReadFile("migrations/" + e.Name())
		if _, err := old.ExecContext(ctx, string(buf)); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if _, err := old.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES (?)`, "migrations/"+e.Name()); err != nil {
			t.Fatal(err)
		}
	}
	want := qualityStreams("r1", 5)
	if _, err := old.ExecContext(ctx, `INSERT INTO call_records (rk, tenant, id, version, body, session_count) VALUES (7, 't', 'r1', 1, '{}', 1)`); err != nil {
		t.Fatal(err)
	}
	wide := `INSERT INTO quality_streams (rk, tenant, ` + strings.Join(callvault.QualityColumns, ", ") +
		`) VALUES (?, ?` + strings.Repeat(", ?", len(callvault.QualityColumns)) + `)`
	for i := range want {
		if _, err := old.ExecContext(ctx, wide, append([]any{int64(7), "t"}, want[i].Values()...)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	db := open(t, path)
	if got := sortedStreams(t, db, "t"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the migration\n%+v\nwant\n%+v", got, want)
	}
}

func TestQualityRollupFollowsReplacedRecords(t *testing.T) {
	rolluptest.FollowsReplacedRecords(t, open(t, filepath.Join(t.TempDir(), "q.db")))
}

func TestQualityRollupReadsTheQueriedMedia(t *testing.T) {
	rolluptest.ReadsTheQueriedMedia(t, open(t, filepath.Join(t.TempDir(), "q.db")))
}

// TestRollupDayDeleteUsesTheKey: computing a day again deletes its rows by
// a range of the key for each dimension, not by reading every row of the
// tenant's rollup (which grew with the days kept).
func TestRollupDayDeleteUsesTheKey(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id, parent, notused int
	var detail string
	if err := db.write.QueryRowContext(t.Context(), "EXPLAIN QUERY PLAN "+sqlDeleteRollup, "t", 1).Scan(&id, &parent, &notused, &detail); err != nil {
		t.Fatal(err)
	}
	if want := "SEARCH quality_rollup USING PRIMARY KEY (tenant=? AND dim=? AND day=?)"; detail != want {
		t.Errorf("plan %q, want %q", detail, want)
	}
}

// TestEachRollupReadsTheDaysAndStops: the raw read of the rollup hands out
// each row of the days asked, of the media asked (every media for ""),
// and a done context stops it with its error, leaving the connection to
// the next read.
func TestEachRollupReadsTheDaysAndStops(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	defer db.Close()
	ctx := t.Context()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := callvault.QualityGroup{Streams: 2, Good: 1, Poor: 1}
	for day := int64(100); day < 103; day++ {
		for _, m := range []string{callvault.MediaAudio, callvault.MediaVideo} {
			if _, err := tx.ExecContext(ctx, sqlInsertRollup, "t", "second_subnet", day, m, fmt.Sprintf("10.0.%d.0", day), qualitysql.PackCounts(nil, &g)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	read := func(ctx context.Context, media string) ([]string, error) {
		var got []string
		err := db.eachRollup(ctx, "t", "second_subnet", 101, 103, media, func(day int64, value, media string, counts []byte) error {
			var x callvault.QualityGroup
			if err := qualitysql.UnpackCounts(&x, counts); err != nil || !reflect.DeepEqual(x, g) {
				t.Errorf("counts %+v, %v", x, err)
			}
			got = append(got, fmt.Sprint(day, " ", value, " ", media))
			return nil
		})
		return got, err
	}
	if got, err := read(ctx, callvault.MediaAudio); err != nil || !slices.Equal(got, []string{"101 10.0.101.0 audio", "102 10.0.102.0 audio"}) {
		t.Errorf("audio: %q, %v", got, err)
	}
	if got, err := read(ctx, ""); err != nil || len(got) != 4 {
		t.Errorf("every media: %q, %v", got, err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := read(done, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("a done context: %v", err)
	}
	if got, err := read(ctx, callvault.MediaVideo); err != nil || len(got) != 2 {
		t.Errorf("after: %q, %v", got, err)
	}
}
