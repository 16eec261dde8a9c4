package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) callvault.Store {
		return open(t, filepath.Join(t.TempDir(), "callvault.db"))
	})
}

// open opens the database at path for the test t; the caller closes it.
func open(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestOpen(t *testing.T) {
	t.Run("creates the file and its parent directories", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a", "b", "callvault.db")
		db := open(t, path)
		defer db.Close()
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("takes a path that needs escaping in a URI", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a ?b#c%20", "callvault.db")
		db := open(t, path)
		defer db.Close()
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("refuses an empty path", func(t *testing.T) {
		if _, err := Open(t.Context(), ""); callvault.ErrorCode(err) != callvault.EINVALID {
			t.Fatalf("got %v, want an EINVALID error", err)
		}
	})

	t.Run("turns on WAL, foreign keys and synchronous NORMAL", func(t *testing.T) {
		db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
		defer db.Close()
		for _, tt := range []struct {
			pool   string
			db     *sql.DB
			pragma string
			want   string
		}{
			{"writer", db.write, "journal_mode", "wal"},
			{"reader", db.read, "journal_mode", "wal"},
			{"writer", db.write, "foreign_keys", "1"},
			{"writer", db.write, "synchronous", "1"}, // NORMAL
			{"writer", db.write, "busy_timeout", "10000"},
			{"reader", db.read, "busy_timeout", "10000"},
			{"reader", db.read, "query_only", "1"},
		} {
			var got string
			if err := tt.db.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("%s: PRAGMA %s is %s, want %s", tt.pool, tt.pragma, got, tt.want)
			}
		}
	})

	t.Run("applies each migration once however often it is reopened", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "callvault.db")
		r := &callvault.Record{Tenant: "t", ID: "r", Version: 1, Body: []byte(`{}`),
			Sessions: []callvault.Session{{ID: "s", Body: []byte(`{}`)}}}
		for i := range 3 {
			db := open(t, path)
			if i == 0 {
				if _, err := db.PutRecord(t.Context(), r); err != nil {
					t.Fatal(err)
				}
			}
			if h, err := db.GetRecord(t.Context(), "t", "r"); err != nil || h.Sessions != 1 {
				t.Errorf("open %d: got header %+v, error %v; want the record put in the first", i+1, h, err)
			}
			var applied int
			if err := db.read.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil {
				t.Fatal(err)
			}
			files, err := migrationFS.ReadDir("migrations")
			if err != nil {
				t.Fatal(err)
			}
			if applied != len(files) {
				t.Errorf("open %d: %d migrations recorded, want %d", i+1, applied, len(files))
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestReadersDoNotWaitForTheWriter holds the write connection in an open
// transaction while reading.
func TestReadersDoNotWaitForTheWriter(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	ctx := t.Context()
	r := &callvault.Record{Tenant: "t", ID: "r", Version: 1, Body: []byte(`{}`),
		Sessions: []callvault.Session{{ID: "s", Body: []byte(`{"v":1}`)}}}
	if _, err := db.PutRecord(ctx, r); err != nil {
		t.Fatal(err)
	}

	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE sessions SET body = '{"v":2}'`); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	page, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 10})
	if err != nil {
		t.Fatalf("list while a write is open: %v", err)
	}
	if got := string(page.Sessions[0].Body); got != `{"v":1}` {
		t.Errorf("read %s, want the committed %s", got, `{"v":1}`)
	}
}

// TestPutRecordReplacesEveryRow checks the rows the Store interface cannot
// read: participants and the organizer.
func TestPutRecordReplacesEveryRow(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	ctx := t.Context()

	participants := func(n int) []callvault.Participant {
		ps := make([]callvault.Participant, n)
		for i := range ps {
			ps[i] = callvault.Participant{ID: string(rune('a' + i)), Body: []byte(`{"n":` + string(rune('0'+i)) + `}`)}
		}
		return ps
	}
	for _, tt := range []struct {
		version      int64
		participants int
		organizer    []byte
	}{
		{1, 5, []byte(`{"user":{"id":"o1"}}`)},
		{2, 2, nil},
		{3, 0, []byte(`{"user":{"id":"o3"}}`)},
	} {
		r := &callvault.Record{Tenant: "t", ID: "r", Version: tt.version, Body: []byte(`{}`),
			Participants: participants(tt.participants), Organizer: tt.organizer}
		if _, err := db.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		var ids []string
		rows, err := db.read.QueryContext(ctx, `SELECT id FROM participants WHERE tenant = 't' AND record_id = 'r' ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if want := "abcde"[:tt.participants]; strings.Join(ids, "") != want {
			t.Errorf("version %d: participants %q, want %q", tt.version, ids, want)
		}
		var organizer []byte
		if err := db.read.QueryRowContext(ctx, `SELECT organizer FROM call_records WHERE tenant = 't' AND id = 'r'`).Scan(&organizer); err != nil {
			t.Fatal(err)
		}
		if string(organizer) != string(tt.organizer) || (organizer == nil) != (tt.organizer == nil) {
			t.Errorf("version %d: organizer %q, want %q", tt.version, organizer, tt.organizer)
		}
	}
}

// TestQueryPlans checks that the reads are range scans of the primary keys,
// whose cost does not depend on the cursor.
func TestQueryPlans(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	for _, tt := range []struct {
		sql  string
		args []any
		want string
	}{
		{sqlSelectSessions, []any{"t", "r", 100, 61}, "SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 (tenant=? AND record_id=? AND seq>?)"},
		{sqlSelectSegments, []any{"t", "r", 101, 160}, "SEARCH segments USING INDEX sqlite_autoindex_segments_1 (tenant=? AND record_id=? AND session_seq>? AND session_seq<?)"},
		{sqlSelectHeader, []any{"t", "r"}, "SEARCH call_records USING INDEX sqlite_autoindex_call_records_1 (tenant=? AND id=?)"},
	} {
		rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.sql, tt.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if got := strings.Join(plan, "; "); got != tt.want {
			t.Errorf("plan of %s\ngot  %s\nwant %s", tt.sql, got, tt.want)
		}
	}
}
