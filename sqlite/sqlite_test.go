package sqlite

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
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

func TestSubscriptionStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callvault.db") // one outbox, as in production
	storetest.RunSubscriptions(t, func(t *testing.T) callvault.Store {
		return open(t, path)
	})
}

func TestDriftStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callvault.db")
	storetest.RunDrift(t, func(t *testing.T) callvault.Store {
		return open(t, path)
	})
}

func TestMirrorStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callvault.db")
	storetest.RunMirror(t, func(t *testing.T) callvault.Store {
		return open(t, path)
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
		rows, err := db.read.QueryContext(ctx, `SELECT id FROM participants WHERE rk = (SELECT rk FROM call_records WHERE tenant = 't' AND id = 'r') ORDER BY seq`)
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

// TestKeepOwnsBlobs holds the driver to what keep relies on: each BLOB of a
// row scanned into a sql.RawBytes is a slice of its own, which later rows do
// not overwrite, for values stored as BLOB and as TEXT alike, small and
// spilling to overflow pages. Participants and GetSession's segments are
// read through keep; ListSessions, which reads on raw connections, is held
// to the same.
func TestKeepOwnsBlobs(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	ctx := t.Context()
	r := &callvault.Record{Tenant: "t", ID: "r", Version: 1, Body: []byte(`{}`)}
	var want []string
	for i := range 40 {
		body := `{"n":` + strconv.Itoa(i) + `,"pad":"` + strings.Repeat(string(rune('a'+i%26)), i*997%20000) + `"}`
		want = append(want, body)
		r.Sessions = append(r.Sessions, callvault.Session{ID: "s" + strconv.Itoa(i), Body: []byte(body),
			Segments: []callvault.Segment{{ID: "g", Body: []byte(body)}}})
		r.Participants = append(r.Participants, callvault.Participant{ID: "p" + strconv.Itoa(i), Body: []byte(body)})
	}
	if _, err := db.PutRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	// Every other row's body as TEXT.
	for _, table := range []string{"sessions", "segments", "participants"} {
		seq := "seq"
		if table == "segments" {
			seq = "session_seq"
		}
		if _, err := db.write.ExecContext(ctx, `UPDATE `+table+` SET body = CAST(body AS TEXT) WHERE `+seq+` % 2 = 0`); err != nil {
			t.Fatal(err)
		}
	}
	page, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 60, Segments: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Sessions) != len(want) {
		t.Fatalf("%d sessions, want %d", len(page.Sessions), len(want))
	}
	for i, s := range page.Sessions {
		if string(s.Body) != want[i] {
			t.Errorf("session %d: body %.40q…, want %.40q…", i+1, s.Body, want[i])
		}
		if len(s.Segments) != 1 || string(s.Segments[0].Body) != want[i] {
			t.Errorf("session %d: segments %d, want one with the session's body", i+1, len(s.Segments))
		}
	}
	participants, err := db.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: "t", RecordID: "r", Limit: 60})
	if err != nil {
		t.Fatal(err)
	}
	if len(participants.Participants) != len(want) {
		t.Fatalf("%d participants, want %d", len(participants.Participants), len(want))
	}
	for i, p := range participants.Participants {
		if string(p.Body) != want[i] {
			t.Errorf("participant %d: body %.40q…, want %.40q…", i+1, p.Body, want[i])
		}
	}
	for i := range want {
		s, err := db.GetSession(ctx, "t", "r", "s"+strconv.Itoa(i), true)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Segments) != 1 || string(s.Segments[0].Body) != want[i] {
			t.Errorf("session %d: segments %d, want one with the session's body", i+1, len(s.Segments))
		}
	}
}

// TestPutRecordsRefusedByTheDatabase has SQLite itself refuse one record of
// a batch (a trigger), which the batch learns only while writing it: that
// record alone is refused, and the others are stored.
func TestPutRecordsRefusedByTheDatabase(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	ctx := t.Context()
	if _, err := db.write.ExecContext(ctx, `CREATE TEMP TRIGGER refuse BEFORE INSERT ON sessions
		WHEN NEW.seq = 2 AND (SELECT id FROM call_records WHERE rk = NEW.rk) = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	batch := []*callvault.Record{batchRecord("a", 1, 2), batchRecord("bad", 1, 3), batchRecord("b", 1, 1)}
	outcomes, errs, err := db.PutRecords(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []callvault.PutOutcome{callvault.Inserted, 0, callvault.Inserted} {
		if outcomes[i] != want || (errs[i] != nil) != (i == 1) {
			t.Errorf("record %d: %v, %v; want %v", i, outcomes[i], errs[i], want)
		}
	}
	if callvault.ErrorCode(errs[1]) != callvault.EINVALID {
		t.Errorf("the refused record's error: %v", errs[1])
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE rk NOT IN (SELECT rk FROM call_records WHERE id IN ('a', 'b'))`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the refused record left %d sessions (%v)", n, err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := db.GetRecord(ctx, "t", id); err != nil {
			t.Errorf("record %s: %v", id, err)
		}
	}
}

// TestPageSize checks that a new database gets pageSize, and that one
// created with SQLite's default 4 KiB pages (as callvault created them
// before) keeps them, and works.
func TestPageSize(t *testing.T) {
	pageSizeOf := func(t *testing.T, db *DB) int {
		var n int
		if err := db.read.QueryRowContext(t.Context(), "PRAGMA page_size").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Run("new", func(t *testing.T) {
		db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
		defer db.Close()
		if got := pageSizeOf(t, db); got != pageSize {
			t.Errorf("page size %d, want %d", got, pageSize)
		}
	})
	t.Run("existing 4 KiB", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "callvault.db")
		old, err := sql.Open("sqlite", dsn(path, url.Values{"_pragma": {"page_size(4096)"}, "_journal_mode": {"WAL"}}))
		if err != nil {
			t.Fatal(err)
		}
		// The first migration, as an older callvault applied it.
		schema, err := migrationFS.ReadFile("migrations/0001_init.sql")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.ExecContext(t.Context(), string(schema)); err != nil {
			t.Fatal(err)
		}
		if _, err := old.ExecContext(t.Context(), `CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT '');
			INSERT INTO schema_migrations (name) VALUES ('migrations/0001_init.sql')`); err != nil {
			t.Fatal(err)
		}
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			db := open(t, path)
			if got := pageSizeOf(t, db); got != 4096 {
				t.Errorf("page size %d, want 4096 kept", got)
			}
			r := &callvault.Record{Tenant: "t", ID: "r", Version: 1, Body: []byte(`{}`),
				Sessions: []callvault.Session{{ID: "s", Body: []byte(strings.Repeat("x", 9000)), Segments: []callvault.Segment{{ID: "g", Body: []byte(`{}`)}}}}}
			if _, _, err := db.PutRecords(t.Context(), []*callvault.Record{r}); err != nil {
				t.Fatal(err)
			}
			page, err := db.ListSessions(t.Context(), callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 10, Segments: true})
			if err != nil || len(page.Sessions) != 1 || len(page.Sessions[0].Body) != 9000 || len(page.Sessions[0].Segments) != 1 {
				t.Fatalf("page %+v, %v", page, err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestQualityStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callvault.db")
	storetest.RunQuality(t, func(t *testing.T) callvault.Store {
		return open(t, path)
	})
}

// TestOpenLeavesACommitInTheWAL: a database whose last connection closed
// has an empty WAL, and SQLite then stats the file at the start of every
// read transaction (commitToWAL). Open commits once so that reads find the
// database's size in the WAL index instead.
func TestOpenLeavesACommitInTheWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "callvault.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path + "-wal"); err == nil && info.Size() > 0 {
		t.Fatalf("the WAL holds %d bytes after the last connection closed; the test needs an empty one", info.Size())
	}
	db, err = Open(ctx, path) // nothing to migrate: no write of its own
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	info, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// A WAL's header is 32 bytes; a frame is a 24-byte header and a page.
	if info.Size() < 32+24+int64(db.pageSize) {
		t.Errorf("the WAL holds %d bytes after Open: no commit", info.Size())
	}
	// And reads still answer.
	if _, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "t", RecordID: "no-such-record", Limit: 1}); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("a read after Open: %v", err)
	}
}
