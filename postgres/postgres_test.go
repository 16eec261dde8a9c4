package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/callvault/callvault/storetest"
	"github.com/jackc/pgx/v5"
)

func TestStore(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) callvault.Store {
		return open(t, dsn)
	})
}

func TestSubscriptionStore(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.RunSubscriptions(t, func(t *testing.T) callvault.Store {
		return open(t, dsn)
	})
}

func TestDriftStore(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.RunDrift(t, func(t *testing.T) callvault.Store {
		return open(t, dsn)
	})
}

func TestMirrorStore(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.RunMirror(t, func(t *testing.T) callvault.Store {
		return open(t, dsn)
	})
}

// TestStoreBehindAPooler runs the suite in the query modes that work behind
// PgBouncer in transaction mode, where a connection's prepared statements
// do not last: unnamed prepared statements, and the simple protocol, in
// which every argument (arrays of bodies too) goes as text.
func TestStoreBehindAPooler(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite again, twice: not in -short")
	}
	for _, mode := range []string{"exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			dsn := pgtest.DSN(t) + "&default_query_exec_mode=" + mode
			storetest.Run(t, func(t *testing.T) callvault.Store {
				return open(t, dsn)
			})
			storetest.RunSubscriptions(t, func(t *testing.T) callvault.Store {
				return open(t, dsn)
			})
		})
	}
}

// open opens the store at dsn for t. storetest closes its stores; the
// other tests close theirs with t's cleanup.
func open(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// openClosed opens the store at dsn and closes it when t ends.
func openClosed(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	db := open(t, dsn)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrations(t *testing.T) {
	t.Run("servers starting at once on a new database apply each migration once", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		const servers = 8
		errs := make(chan error, servers)
		var start sync.WaitGroup
		start.Add(1)
		for range servers {
			go func() {
				start.Wait()
				db, err := postgres.Open(t.Context(), dsn)
				if err == nil {
					err = db.Close()
				}
				errs <- err
			}()
		}
		start.Done()
		for range servers {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		applied, err := postgres.Migrate(t.Context(), dsn)
		if err != nil || len(applied) != 0 {
			t.Errorf("migrate after the servers: applied %v, %v; want nothing", applied, err)
		}
		conn := connect(t, dsn)
		var names []string
		rows, err := conn.Query(t.Context(), `SELECT name FROM schema_migrations ORDER BY name`)
		if err == nil {
			names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil || len(names) == 0 || names[0] != "migrations/0001_init.sql" {
			t.Errorf("schema_migrations holds %v (%v)", names, err)
		}
	})

	t.Run("migrate applies what a database lacks and says so", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		applied, err := postgres.Migrate(t.Context(), dsn)
		if err != nil || len(applied) == 0 || applied[0] != "migrations/0001_init.sql" {
			t.Fatalf("first migrate: %v, %v", applied, err)
		}
		if applied, err := postgres.Migrate(t.Context(), dsn); err != nil || len(applied) != 0 {
			t.Errorf("second migrate: %v, %v; want nothing", applied, err)
		}
	})

	t.Run("migrations use only SQL that CockroachDB and YugabyteDB run", func(t *testing.T) {
		files, err := filepath.Glob("migrations/*.sql")
		if err != nil || len(files) == 0 {
			t.Fatal(files, err)
		}
		forbidden := regexp.MustCompile(`(?i)\b(trigger|function|procedure|jsonb?|listen|notify|advisory|sequence|serial|bigserial|extension|nextval)\b`)
		for _, f := range files {
			buf, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(buf), "\n") {
				code, _, _ := strings.Cut(line, "--")
				if m := forbidden.FindString(code); m != "" {
					t.Errorf("%s:%d uses %s: %s", f, i+1, m, line)
				}
			}
		}
	})
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestSecrets(t *testing.T) {
	t.Run("servers racing to create a secret all get the one stored first", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		const servers = 6
		dbs := make([]*postgres.DB, servers)
		for i := range dbs {
			dbs[i] = openClosed(t, dsn)
		}
		got := make([][]byte, servers)
		var wg sync.WaitGroup
		for i, db := range dbs {
			wg.Go(func() {
				key, err := callvault.LoadOrCreateSecret(t.Context(), db, "test-key", postgres.RandomKey(32))
				if err != nil {
					t.Error(err)
				}
				got[i] = key
			})
		}
		wg.Wait()
		for i := range got {
			if len(got[i]) != 32 || !bytes.Equal(got[i], got[0]) {
				t.Fatalf("server %d got %x, server 0 %x", i, got[i], got[0])
			}
		}
		// Later, the stored secret is returned without making a new one.
		again, err := callvault.LoadOrCreateSecret(t.Context(), dbs[0], "test-key", func() ([]byte, error) {
			t.Error("made a secret that exists")
			return nil, nil
		})
		if err != nil || !bytes.Equal(again, got[0]) {
			t.Errorf("again: %x, %v; want %x", again, err, got[0])
		}
	})

	t.Run("a failure to make a secret stores nothing", func(t *testing.T) {
		db := openClosed(t, pgtest.DSN(t))
		boom := errors.New("no entropy today")
		if _, err := callvault.LoadOrCreateSecret(t.Context(), db, "k", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Errorf("got %v, want %v", err, boom)
		}
		if key, err := callvault.LoadOrCreateSecret(t.Context(), db, "k", postgres.RandomKey(16)); err != nil || len(key) != 16 {
			t.Errorf("after the failure: %x, %v", key, err)
		}
	})
}

// TestStrings covers what a TEXT column cannot hold, and its order.
func TestStrings(t *testing.T) {
	db := openClosed(t, pgtest.DSN(t))
	ctx := t.Context()

	t.Run("ids a TEXT column cannot hold are refused on put and not found on get", func(t *testing.T) {
		for _, tt := range []struct{ name, tenant, id, session string }{
			{"a NUL in the id", "t", "a\x00b", "s"},
			{"invalid UTF-8 in the tenant", "t\xff", "r", "s"},
			{"a NUL in a session id", "t", "r", "s\x00"},
		} {
			r := &callvault.Record{Tenant: tt.tenant, ID: tt.id, Version: 1, Body: []byte(`{}`),
				Sessions: []callvault.Session{{ID: tt.session, Body: []byte(`{}`)}}}
			if _, err := db.PutRecord(ctx, r); callvault.ErrorCode(err) != callvault.EINVALID {
				t.Errorf("%s: put: got %v, want EINVALID", tt.name, err)
			}
			if _, err := db.GetRecord(ctx, tt.tenant, tt.id); callvault.ErrorCode(err) != callvault.ENOTFOUND {
				t.Errorf("%s: get: got %v, want ENOTFOUND", tt.name, err)
			}
		}
	})

	t.Run("records at one start time list in byte order of their ids, as in Go and SQLite", func(t *testing.T) {
		ids := []string{"ab", "a-c", "B", "a", "é", "Z", "a b"}
		start := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
		for _, id := range ids {
			r := &callvault.Record{Tenant: "order", ID: id, Version: 1, StartDateTime: start, EndDateTime: start.Add(time.Hour), Body: []byte(`{}`)}
			if _, err := db.PutRecord(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		want := slices.Sorted(slices.Values(ids))
		var got []string
		q := callvault.RecordQuery{Tenant: "order", Limit: 2}
		for {
			page, err := db.ListRecords(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range page.Records {
				got = append(got, h.ID)
			}
			if !page.More {
				break
			}
			last := page.Records[len(page.Records)-1]
			q.After = &callvault.RecordKey{StartDateTime: last.StartDateTime, ID: last.ID}
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

// batchStore is ingest.BatchStore, which the importer uses when a store
// has it.
type batchStore interface {
	PutRecords(ctx context.Context, records []*callvault.Record) (outcomes []callvault.PutOutcome, errs []error, err error)
}

var _ batchStore = (*postgres.DB)(nil)

func TestPutRecords(t *testing.T) {
	db := openClosed(t, pgtest.DSN(t))
	ctx := t.Context()
	rec := func(id string, version int64, sessions int) *callvault.Record {
		r := &callvault.Record{Tenant: "batch", ID: id, Version: version, Body: fmt.Appendf(nil, `{"v":%d}`, version)}
		for i := range sessions {
			r.Sessions = append(r.Sessions, callvault.Session{ID: fmt.Sprint("s", i), Body: fmt.Appendf(nil, `{"v":%d,"s":%d}`, version, i),
				Segments: []callvault.Segment{{ID: "g", Body: []byte(`{}`)}}})
		}
		return r
	}
	batch := []*callvault.Record{
		rec("a", 2, 5),
		{Tenant: "batch", Version: 1}, // no id
		rec("b", 1, 3),
		rec("a", 1, 9), // stale: a is at version 2 by now
		rec("a", 3, 4), // replaces a
		rec("c", 1, 2),
	}
	batch[5].StartDateTime = time.Unix(0, math.MinInt64) // the one instant the store cannot hold
	outcomes, errs, err := db.PutRecords(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	want := []callvault.PutOutcome{callvault.Inserted, 0, callvault.Inserted, callvault.Stale, callvault.Replaced, 0}
	if !slices.Equal(outcomes, want) {
		t.Errorf("outcomes %v, want %v", outcomes, want)
	}
	for i, e := range errs {
		if bad := want[i] == 0; (e != nil) != bad || (bad && callvault.ErrorCode(e) != callvault.EINVALID) {
			t.Errorf("record %d: error %v", i, e)
		}
	}
	for id, want := range map[string]int64{"a": 3, "b": 1} {
		h, err := db.GetRecord(ctx, "batch", id)
		if err != nil || h.Version != want {
			t.Fatalf("record %s: %+v, %v; want version %d", id, h, err, want)
		}
		page, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "batch", RecordID: id, Limit: 100, Segments: true})
		if err != nil || len(page.Sessions) != h.Sessions || !bytes.Contains(page.Sessions[0].Body, fmt.Appendf(nil, `"v":%d`, want)) {
			t.Errorf("record %s: sessions %+v, %v", id, page, err)
		}
	}
	if _, err := db.GetRecord(ctx, "batch", "c"); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("the refused record c: %v; want it not stored", err)
	}
}

func TestQualityStore(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.RunQuality(t, func(t *testing.T) callvault.Store {
		return open(t, dsn)
	})
}

// TestKeptPageCheckAllocatesLittle checks that asking whether a kept page
// stands (SessionQuery.Known, the page cache's question) does not reserve
// room for a page it does not read: it once allocated the size of the last
// page, a megabyte with segments, on every request.
func TestKeptPageCheckAllocatesLittle(t *testing.T) {
	db := openClosed(t, pgtest.DSN(t))
	ctx := t.Context()
	body := []byte(`{"x":"` + strings.Repeat("y", 8<<10) + `"}`)
	r := &callvault.Record{Tenant: "kept", ID: "r", Version: 1, Body: []byte(`{}`)}
	for i := range 60 {
		r.Sessions = append(r.Sessions, callvault.Session{ID: fmt.Sprint(i), Body: body, Segments: []callvault.Segment{{ID: "g", Body: body}}})
	}
	if _, err := db.PutRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	q := callvault.SessionQuery{Tenant: "kept", RecordID: "r", Limit: 60, Segments: true}
	page, err := db.ListSessions(ctx, q) // a page of about a megabyte, the size the next reads expect
	if err != nil {
		t.Fatal(err)
	}
	q.Known = page.Stamp
	const n = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if p, err := db.ListSessions(ctx, q); err != nil || !p.Unchanged {
			t.Fatalf("the kept page's check: %+v, %v; want unchanged", p, err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 64<<10 {
		t.Errorf("a kept page's check allocated %d bytes; want a few KB, not room for the %d-byte page", per, len(page.Arena))
	}
}
