package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/callvault/callvault/storetest"
	"github.com/jackc/pgx/v5"
)

// The replica tests need a streaming replica of the server that
// CALLVAULT_TEST_POSTGRES names; scripts/pg-replica.sh makes one on this
// machine and runs them.
const (
	envReplica  = "CALLVAULT_TEST_POSTGRES_REPLICA"  // the replica's connection string
	envFailover = "CALLVAULT_TEST_POSTGRES_FAILOVER" // a shell command that stops the primary and promotes the replica
)

// replicaDSN returns the replica's connection string with the search_path
// of dsn, a pgtest.DSN; it skips t when there is no replica.
func replicaDSN(t *testing.T, dsn string) string {
	t.Helper()
	base := os.Getenv(envReplica)
	if base == "" {
		t.Skipf("no read replica: set %s (scripts/pg-replica.sh does)", envReplica)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return pgtest.WithSearchPath(base, u.Query().Get("search_path"))
}

// openWithReplica opens dsn with the replica as a read replica, measured
// every few milliseconds so that it soon takes reads.
func openWithReplica(t *testing.T, dsn, replica string) *postgres.DB {
	t.Helper()
	db := open(t, dsn)
	if err := db.AddReplicas(t.Context(), []string{replica}, postgres.ReplicaOptions{CheckEvery: 10 * time.Millisecond}); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

// TestStoreOnReplica runs the store suite with reads on the replica: every
// answer must be the primary's, whichever server gave it.
func TestStoreOnReplica(t *testing.T) {
	dsn := pgtest.DSN(t)
	replica := replicaDSN(t, dsn)
	var reads atomic.Int64
	storetest.Run(t, func(t *testing.T) callvault.Store {
		db := openWithReplica(t, dsn, replica)
		t.Cleanup(func() { reads.Add(slices.Max(postgres.ReplicaReads(db))) })
		return db
	})
	t.Cleanup(func() {
		t.Logf("the replica answered %d reads", reads.Load())
		if reads.Load() == 0 {
			t.Error("the replica answered no read")
		}
	})
}

// TestReplicaRotation checks that the replica takes reads once it holds
// the DB's own writes, and that one that does not answer leaves the
// rotation without failing a read.
func TestReplicaRotation(t *testing.T) {
	dsn := pgtest.DSN(t)
	replica := replicaDSN(t, dsn)
	db := openWithReplica(t, dsn, replica)
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	if _, err := db.PutRecord(ctx, testRecord("rot", 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the replica in rotation and caught up", func() bool {
		before := postgres.ReplicaReads(db)[0]
		if _, err := db.GetRecord(ctx, "failover", "rot"); err != nil {
			t.Fatal(err)
		}
		return postgres.ReplicaReads(db)[0] > before
	})
	if got := db.Replicas(); len(got) != 1 || !got[0].InRotation {
		t.Errorf("replicas %+v, want the one in rotation", got)
	}

	// A replica that stops replaying: out of rotation once it lags more
	// than MaxLag, back in once it has caught up.
	lagging := open(t, dsn)
	t.Cleanup(func() { lagging.Close() })
	if err := lagging.AddReplicas(ctx, []string{replica}, postgres.ReplicaOptions{MaxLag: 300 * time.Millisecond, CheckEvery: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the replica in rotation", func() bool { return lagging.Replicas()[0].InRotation })
	onReplica, err := pgx.Connect(ctx, replica)
	if err != nil {
		t.Fatal(err)
	}
	defer onReplica.Close(context.Background())
	onPrimary, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer onPrimary.Close(context.Background())
	if _, err := onReplica.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	defer onReplica.Exec(context.Background(), `SELECT pg_wal_replay_resume()`)
	// A write that does not wait for the paused replica to apply it.
	if _, err := onPrimary.Exec(ctx, `SET synchronous_commit = local; CREATE TABLE lag_probe (x INT); INSERT INTO lag_probe VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the paused replica out of rotation", func() bool { return !lagging.Replicas()[0].InRotation })
	if got := lagging.Replicas()[0].Reason; !strings.HasPrefix(got, "lagging") {
		t.Errorf("reason %q, want lagging", got)
	}
	if h, err := lagging.GetRecord(ctx, "failover", "rot"); err != nil || h.Version != 1 {
		t.Fatalf("read with the replica out of rotation: %+v, %v", h, err)
	}
	if _, err := onReplica.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the replica back in rotation", func() bool { return lagging.Replicas()[0].InRotation })

	// A replica that refuses connections: out of rotation at the first
	// check, and the primary answers meanwhile.
	dead := open(t, dsn)
	t.Cleanup(func() { dead.Close() })
	if err := dead.AddReplicas(ctx, []string{"postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}, postgres.ReplicaOptions{CheckEvery: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if h, err := dead.GetRecord(ctx, "failover", "rot"); err != nil || h.Version != 1 {
		t.Fatalf("read with a dead replica: %+v, %v", h, err)
	}
	if got := dead.Replicas(); len(got) != 1 || got[0].InRotation || got[0].Reason == "" {
		t.Errorf("replicas %+v, want the dead one out of rotation with a reason", got)
	}
}

// TestFailover writes and reads while the primary stops and the replica is
// promoted behind a multi-host URL (target_session_attrs=read-write). Every
// answer in between is right or Graph's 503 (EUNAVAILABLE); the DB then
// writes to the promoted server without a restart, and every write it
// acknowledged is there.
func TestFailover(t *testing.T) {
	failover := os.Getenv(envFailover)
	if failover == "" {
		t.Skipf("no failover command: set %s (scripts/pg-replica.sh does)", envFailover)
	}
	dsn := pgtest.DSN(t) // CALLVAULT_TEST_POSTGRES is the multi-host URL
	replica := replicaDSN(t, dsn)
	db := openWithReplica(t, dsn, replica)
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	var (
		mu            sync.Mutex
		acked         []string
		unavailable   atomic.Int64
		afterFailover atomic.Int64 // writes acknowledged after the failover command returned
		failedOver    atomic.Bool
		stop          = make(chan struct{})
		wg            sync.WaitGroup
	)
	check := func(what string, err error) {
		if err == nil {
			return
		} else if callvault.ErrorCode(err) == callvault.EUNAVAILABLE {
			unavailable.Add(1)
			return
		}
		t.Errorf("%s: %v; want success or EUNAVAILABLE", what, err)
	}
	wg.Add(2)
	go func() { // the writer
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprint("r", i)
			_, err := db.PutRecord(ctx, testRecord(id, 1))
			check("put "+id, err)
			if err == nil {
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
				if failedOver.Load() {
					afterFailover.Add(1)
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	go func() { // the reader: an acknowledged record is always found
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			n := len(acked)
			id := ""
			if n > 0 {
				id = acked[n-1]
			}
			mu.Unlock()
			if id != "" {
				h, err := db.GetRecord(ctx, "failover", id)
				check("get "+id, err)
				if err == nil && (h.ID != id || h.Version != 1) {
					t.Errorf("get %s: %+v", id, h)
				}
				page, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "failover", RecordID: id, Limit: 10})
				check("sessions of "+id, err)
				if err == nil && len(page.Sessions) != 3 {
					t.Errorf("sessions of %s: %d, want 3", id, len(page.Sessions))
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()

	time.Sleep(time.Second)
	start := time.Now()
	if out, err := exec.CommandContext(ctx, "sh", "-c", failover).CombinedOutput(); err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("failover command: %v\n%s", err, out)
	}
	failedOver.Store(true)
	waitFor(t, time.Minute, "writes acknowledged by the promoted server", func() bool { return afterFailover.Load() >= 20 })
	recovered := time.Since(start)
	close(stop)
	wg.Wait()

	// Every acknowledged write is on the promoted server.
	fresh := open(t, dsn)
	t.Cleanup(func() { fresh.Close() })
	for _, id := range acked {
		if _, err := fresh.GetRecord(ctx, "failover", id); err != nil {
			t.Errorf("acknowledged record %s: %v", id, err)
		}
	}
	waitFor(t, 10*time.Second, "the promoted replica out of rotation", func() bool { return !db.Replicas()[0].InRotation })
	t.Logf("%d writes acknowledged, all found; %d answers EUNAVAILABLE; writes again %s after the failover began; replica: %s",
		len(acked), unavailable.Load(), recovered.Round(time.Millisecond), db.Replicas()[0].Reason)
}

// testRecord is a record of tenant "failover" with three sessions.
func testRecord(id string, version int64) *callvault.Record {
	r := &callvault.Record{Tenant: "failover", ID: id, Version: version, Body: []byte(`{}`),
		StartDateTime: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), EndDateTime: time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)}
	for i := range 3 {
		r.Sessions = append(r.Sessions, callvault.Session{ID: fmt.Sprint("s", i), Body: []byte(`{}`)})
	}
	return r
}

// waitFor polls cond until it holds, failing t after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicaFailsMidVisit checks that a replica that fails once a visit
// has handed sessions on fails the visit, rather than the page being read
// again on the primary and its first sessions handed on twice.
func TestReplicaFailsMidVisit(t *testing.T) {
	dsn := pgtest.DSN(t)
	const victim = "callvault_visit_victim"
	replica := replicaDSN(t, dsn)
	db := openWithReplica(t, dsn, replica+"&application_name="+victim)
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()

	// A page far larger than what the sockets and pgx buffer (some MB on
	// loopback), so that most of it is still on the replica when the visit
	// begins.
	body := []byte(`{"x":"` + strings.Repeat("y", 512<<10) + `"}`)
	r := &callvault.Record{Tenant: "visit", ID: "big", Version: 1, Body: []byte(`{}`)}
	for i := range 60 {
		r.Sessions = append(r.Sessions, callvault.Session{ID: fmt.Sprint(i), Body: body})
	}
	if _, err := db.PutRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	q := callvault.SessionQuery{Tenant: "visit", RecordID: "big", Limit: 60}
	waitFor(t, 10*time.Second, "the replica in rotation and caught up", func() bool {
		before := postgres.ReplicaReads(db)[0]
		if _, err := db.GetRecord(ctx, "visit", "big"); err != nil {
			t.Fatal(err)
		}
		return postgres.ReplicaReads(db)[0] > before
	})

	admin, err := pgx.Connect(ctx, replica)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	v := &killingVisitor{kill: func() {
		// The replica's connections of db end while the page streams. The
		// replica's checks open new ones at once: wait for these to end.
		var pids []int32
		if err := admin.QueryRow(ctx, `SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity WHERE application_name = $1`, victim).Scan(&pids); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(p) FROM unnest($1::int[]) AS p`, pids); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the replica's connections ended", func() bool {
			var n int
			if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 0
		})
	}}
	_, err = db.VisitSessions(ctx, q, v)
	if err == nil {
		t.Errorf("the visit succeeded though its replica failed after %d sessions; want an error", len(v.seqs))
	}
	seen := map[int64]bool{}
	for _, s := range v.seqs {
		if seen[s] {
			t.Fatalf("session %d handed over twice (%v): the page was read again on the primary", s, v.seqs)
		}
		seen[s] = true
	}
	t.Logf("the visit handed over %d sessions, then failed: %v", len(v.seqs), err)

	// The next visit is whole, on whichever server answers it.
	v = &killingVisitor{}
	if _, err := db.VisitSessions(ctx, q, v); err != nil || len(v.seqs) != 60 {
		t.Errorf("the next visit: %d sessions, %v; want all 60", len(v.seqs), err)
	}
}

// killingVisitor records the sessions it is handed, and runs kill, when
// set, at the first.
type killingVisitor struct {
	kill func()
	seqs []int64
}

func (v *killingVisitor) Stamp(int64) {}

func (v *killingVisitor) Session(seq int64, _, _ []byte) error {
	if len(v.seqs) == 0 && v.kill != nil {
		v.kill()
	}
	v.seqs = append(v.seqs, seq)
	return nil
}

func (v *killingVisitor) Segment(_, _ []byte) error { return nil }
