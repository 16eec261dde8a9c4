package postgres_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/callvault/callvault/storetest"
	"github.com/jackc/pgx/v5"
)

// partitioned returns the DSN of a new partitioned database.
func partitioned(t *testing.T) string {
	t.Helper()
	dsn := pgtest.DSN(t)
	if err := postgres.Partition(t.Context(), dsn, nil); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func TestPartitionedStore(t *testing.T) {
	dsn := partitioned(t)
	storetest.Run(t, func(t *testing.T) callvault.Store {
		db := open(t, dsn)
		if !db.Partitioned() {
			t.Fatal("the database is not partitioned after Partition")
		}
		return db
	})
}

func TestPartitionedSubscriptionStore(t *testing.T) {
	dsn := partitioned(t)
	storetest.RunSubscriptions(t, func(t *testing.T) callvault.Store {
		return open(t, dsn)
	})
}

// monthRecord is a record of tenant "parts" that starts at start and lasts
// d, with three sessions of one segment each and two participants.
func monthRecord(id string, version int64, start time.Time, d time.Duration) *callvault.Record {
	r := &callvault.Record{Tenant: "parts", ID: id, Version: version, Body: fmt.Appendf(nil, `{"v":%d}`, version),
		StartDateTime: start, EndDateTime: start.Add(d)}
	for i := range 3 {
		r.Sessions = append(r.Sessions, callvault.Session{ID: fmt.Sprint("s", i), Body: fmt.Appendf(nil, `{"v":%d,"s":%d}`, version, i),
			Segments: []callvault.Segment{{ID: "g", Body: []byte(`{}`)}}})
	}
	r.Participants = []callvault.Participant{{ID: "alice", Body: []byte(`{}`)}, {ID: "bob", Body: []byte(`{}`)}}
	return r
}

func day(month time.Month, d int) time.Time { return time.Date(2026, month, d, 12, 0, 0, 0, time.UTC) }

// TestPartitionPruning checks with EXPLAIN that a page of a record's
// sessions reads one partition of sessions, and a $filter on startDateTime
// over a day one partition of call_records.
func TestPartitionPruning(t *testing.T) {
	dsn := partitioned(t)
	db := openClosed(t, dsn)
	ctx := t.Context()
	for i, m := range []time.Month{time.January, time.February, time.March, time.April} {
		if _, err := db.PutRecord(ctx, monthRecord(fmt.Sprint("r", i), 1, day(m, 10), time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	explain := func(sql string, args ...any) string {
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	// The partitions a plan reads: those it scans and does not mark never
	// executed.
	read := func(plan, table string) []string {
		var parts []string
		for _, line := range strings.Split(plan, "\n") {
			if m := regexp.MustCompile(` on (` + table + `_p\d{6})`).FindStringSubmatch(line); m != nil && !strings.Contains(line, "never executed") {
				if !slices.Contains(parts, m[1]) {
					parts = append(parts, m[1])
				}
			}
		}
		return parts
	}

	plan := explain(postgres.PartitionedSessionsSQL, "parts", "r2", int64(0), int64(61))
	if got := read(plan, "sessions"); !slices.Equal(got, []string{"sessions_p202603"}) {
		t.Errorf("a page of sessions of a March record reads the sessions partitions %v, want only March's:\n%s", got, plan)
	}
	lo, hi := day(time.March, 10).Add(-12*time.Hour).UnixNano(), day(time.March, 10).Add(12*time.Hour).UnixNano()
	plan = explain(postgres.PartitionedRecordsSQL, "parts", lo, "", hi, int64(-1<<63), int64(1<<63-1), int64(61))
	if got := read(plan, "call_records"); !slices.Equal(got, []string{"call_records_p202603"}) {
		t.Errorf("a day's $filter reads the call_records partitions %v, want only March's:\n%s", got, plan)
	}
	if !strings.Contains(plan, "call_records_p202603") || strings.Contains(plan, "call_records_p202601") {
		t.Errorf("a day's $filter plans partitions it cannot need:\n%s", plan)
	}
}

// TestPartitionedWrites checks what the partitioned writer must do that no
// unique index does for it: one row per id, a record that moves to another
// month with its rows, a stale version refused.
func TestPartitionedWrites(t *testing.T) {
	db := openClosed(t, partitioned(t))
	ctx := t.Context()
	for _, step := range []struct {
		r    *callvault.Record
		want callvault.PutOutcome
	}{
		{monthRecord("a", 1, day(time.January, 5), time.Hour), callvault.Inserted},
		{monthRecord("a", 2, day(time.March, 5), time.Hour), callvault.Replaced}, // moves to March
		{monthRecord("a", 1, day(time.May, 5), time.Hour), callvault.Stale},
		{monthRecord("a", 2, day(time.March, 5), time.Hour), callvault.Replaced}, // the same again
	} {
		if got, err := db.PutRecord(ctx, step.r); err != nil || got != step.want {
			t.Fatalf("put version %d at %s: %v, %v; want %v", step.r.Version, step.r.StartDateTime, got, err, step.want)
		}
	}
	h, err := db.GetRecord(ctx, "parts", "a")
	if err != nil || h.Version != 2 || !h.StartDateTime.Equal(day(time.March, 5)) {
		t.Fatalf("record a: %+v, %v", h, err)
	}
	page, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "parts", RecordID: "a", Limit: 10, Segments: true})
	if err != nil || len(page.Sessions) != 3 || len(page.Sessions[0].Segments) != 1 {
		t.Fatalf("sessions of a: %+v, %v", page, err)
	}
	n, err := db.CountRecords(ctx, callvault.RecordQuery{Tenant: "parts"})
	if err != nil || n != 1 {
		t.Errorf("count %d, %v; want 1", n, err)
	}
	recs, err := db.ListRecords(ctx, callvault.RecordQuery{Tenant: "parts", ParticipantID: "bob", Limit: 10})
	if err != nil || len(recs.Records) != 1 {
		t.Errorf("records of bob: %+v, %v", recs, err)
	}
}

// TestPartitionMigration partitions a database that holds records, stopped
// after its first batch and run again, and checks that every record reads
// the same after.
func TestPartitionMigration(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := openClosed(t, dsn)
	ctx := t.Context()
	var ids []string
	for i := range 25 {
		id := fmt.Sprintf("m%02d", i)
		ids = append(ids, id)
		start, d := day(time.Month(1+i%6), 1+i), time.Hour
		if i == 24 {
			start, d = time.Time{}, 0 // the zero time has a partition too
		}
		if _, err := db.PutRecord(ctx, monthRecord(id, 1, start, d)); err != nil {
			t.Fatal(err)
		}
	}
	postgres.SetPartitionBatch(10)
	t.Cleanup(func() { postgres.SetPartitionBatch(2000) })

	stopped, stop := context.WithCancel(ctx)
	var seen []postgres.PartitionProgress
	err := postgres.Partition(stopped, dsn, func(p postgres.PartitionProgress) {
		seen = append(seen, p)
		stop()
	})
	if err == nil || len(seen) != 1 || seen[0].Records != 10 {
		t.Fatalf("the stopped run: %v, progress %+v; want an error after one batch of 10", err, seen)
	}
	seen = nil
	if err := postgres.Partition(ctx, dsn, func(p postgres.PartitionProgress) { seen = append(seen, p) }); err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 || !seen[len(seen)-1].Done || seen[0].Records != 20 {
		t.Errorf("the resumed run's progress %+v: want it to go on from 10 records and end done", seen)
	}
	after := openClosed(t, dsn)
	if !after.Partitioned() {
		t.Fatal("not partitioned")
	}
	for _, id := range ids {
		page, err := after.ListSessions(ctx, callvault.SessionQuery{Tenant: "parts", RecordID: id, Limit: 10, Segments: true})
		if err != nil || len(page.Sessions) != 3 || len(page.Sessions[2].Segments) != 1 {
			t.Errorf("record %s after the move: %+v, %v", id, page, err)
		}
		if p, err := after.GetParticipant(ctx, "parts", id, "bob"); err != nil || p.Seq != 2 {
			t.Errorf("participant bob of %s: %+v, %v", id, p, err)
		}
	}
	if n, err := after.CountRecords(ctx, callvault.RecordQuery{Tenant: "parts"}); err != nil || n != 25 {
		t.Errorf("count %d, %v; want 25", n, err)
	}
	if err := postgres.Partition(ctx, dsn, nil); err != nil {
		t.Errorf("partitioning again: %v; want a no-op", err)
	}
}

// TestDropExpired drops the months of expired records, keeps a month with
// a record that straddles the limit, and leaves its expired records hidden.
func TestDropExpired(t *testing.T) {
	db := openClosed(t, partitioned(t))
	ctx := t.Context()
	for _, r := range []*callvault.Record{
		monthRecord("jan", 1, day(time.January, 10), time.Hour),
		monthRecord("feb", 1, day(time.February, 10), time.Hour),
		monthRecord("feb-long", 1, day(time.February, 27), 5*24*time.Hour), // ends on March 4
		monthRecord("mar", 1, day(time.March, 10), time.Hour),
	} {
		if _, err := db.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	notBefore := day(time.March, 2)
	dropped, err := db.DropExpired(ctx, notBefore)
	if err != nil || !slices.Equal(dropped, []string{"202601"}) {
		t.Fatalf("dropped %v, %v; want January alone", dropped, err)
	}
	page, err := db.ListRecords(ctx, callvault.RecordQuery{Tenant: "parts", NotBefore: notBefore, Limit: 10})
	var got []string
	for _, h := range page.Records {
		got = append(got, h.ID)
	}
	if err != nil || !slices.Equal(got, []string{"feb-long", "mar"}) {
		t.Errorf("records kept %v, %v; want feb-long and mar", got, err)
	}
	if _, err := db.GetRecord(ctx, "parts", "jan"); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("January's record after the drop: %v", err)
	}
	if dropped, err := db.DropExpired(ctx, day(time.March, 5)); err != nil || !slices.Equal(dropped, []string{"202602"}) {
		t.Errorf("dropped %v, %v; want February once its long call has ended", dropped, err)
	}
	// A write to a dropped month makes its partition again.
	if _, err := db.PutRecord(ctx, monthRecord("jan", 2, day(time.January, 10), time.Hour)); err != nil {
		t.Errorf("a write to a dropped month: %v", err)
	}
}
