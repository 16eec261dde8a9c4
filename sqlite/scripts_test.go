package sqlite

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/synth"
)

// scriptRow is a session or segment row as CompileScripts sees it.
type scriptRow struct {
	kind   string
	key    string // the primary key, printed
	body   []byte
	render []byte
}

// scriptRows reads every session then segment row, in primary key order.
func scriptRows(t *testing.T, db *DB) []scriptRow {
	t.Helper()
	var out []scriptRow
	for _, q := range []struct{ kind, sql string }{
		{"session", `SELECT format('%d/%d', rk, seq), CAST(body AS BLOB), render FROM sessions ORDER BY rk, seq`},
		{"segment", `SELECT format('%d/%d/%d', rk, session_seq, seq), CAST(body AS BLOB), render FROM segments ORDER BY rk, session_seq, seq`},
	} {
		rows, err := db.write.QueryContext(t.Context(), q.sql)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			r := scriptRow{kind: q.kind}
			if err := rows.Scan(&r.key, &r.body, &r.render); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// importScriptRecords imports the demo records into two tenants, and a
// record of 300 sessions (each of one to three segments) into the first.
func importScriptRecords(t *testing.T, db *DB) {
	t.Helper()
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		src := synth.Demo()
		if tenant == "tenant-a" {
			src = append(append(src, synth.RecordWithSessions(tenant, 7, "big", 300)...), '\n')
		}
		im := &ingest.Importer{Store: db, Tenant: tenant, OnReject: func(r ingest.Rejection) { t.Errorf("rejected: %v", r) }}
		var stats ingest.Stats
		if err := im.Import(t.Context(), tenant, bytes.NewReader(src), &stats); err != nil {
			t.Fatal(err)
		}
	}
}

// staleScript is script with the fingerprint of its first codec changed,
// as a build of another schema would have written it.
func staleScript(script []byte) []byte {
	s := bytes.Clone(script)
	_, w := binary.Uvarint(s)
	s[w+1] ^= 0xff // past the length and the count byte
	return s
}

// CompileScripts with ingest.Scripts gives every row of every tenant the
// scripts an import stores, whatever it had: none, garbage, a script of
// another build, or the right one; and a second run changes nothing.
func TestCompileScriptsRestoresWhatAnImportStores(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	importScriptRecords(t, db)
	want := scriptRows(t, db)

	withScripts := 0
	for _, r := range want {
		if r.render != nil {
			withScripts++
		}
	}
	if withScripts < len(want)*9/10 || len(want) < 1000 {
		t.Fatalf("the import gave %d of %d rows scripts: not a test of much", withScripts, len(want))
	}

	// Spoil most rows' scripts, in both tables and both tenants.
	spoiled := 0
	for i, r := range want {
		var render any
		switch i % 5 {
		case 0:
			continue // kept
		case 1, 2:
			render = nil // as before migration 0004
		case 3:
			render = []byte("not a script")
		case 4:
			if r.render == nil {
				continue
			}
			render = staleScript(r.render)
		}
		table, cols := "sessions", []string{"rk", "seq"}
		if r.kind == "segment" {
			table, cols = "segments", []string{"rk", "session_seq", "seq"}
		}
		var key []any
		for k := range strings.SplitSeq(r.key, "/") {
			key = append(key, k)
		}
		q := fmt.Sprintf(`UPDATE %s SET render = ? WHERE (%s) = (%s)`, table, strings.Join(cols, ", "), strings.Repeat("?, ", len(cols)-1)+"?")
		if _, err := db.write.ExecContext(t.Context(), q, append([]any{render}, key...)...); err != nil {
			t.Fatal(err)
		}
		if render != nil || r.render != nil {
			spoiled++
		}
	}

	// Chunks of 7 rows: chunk boundaries fall inside records and inside
	// sessions' segments.
	var progress []callvault.ScriptStats
	kinds := map[string]int{}
	fn := func(kind string, body, render []byte) ([]byte, bool) {
		kinds[kind]++
		if kind == "session" && kinds["segment"] > 0 {
			t.Errorf("a session after a segment")
		}
		return ingest.Scripts(kind, body, render)
	}
	stats, err := db.compileScripts(t.Context(), fn, func(s callvault.ScriptStats) { progress = append(progress, s) }, 7, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != int64(len(want)) || stats.Changed != int64(spoiled) {
		t.Errorf("stats %+v, want %d rows, %d changed", stats, len(want), spoiled)
	}
	if kinds["session"]+kinds["segment"] != len(want) {
		t.Errorf("fn saw %v, want %d rows in all", kinds, len(want))
	}
	if want := (kinds["session"]+6)/7 + (kinds["segment"]+6)/7; len(progress) != want {
		t.Errorf("progress was called %d times, want once a chunk: %d", len(progress), want)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Rows <= progress[i-1].Rows || progress[i].Changed < progress[i-1].Changed {
			t.Fatalf("progress went %+v then %+v", progress[i-1], progress[i])
		}
	}
	if len(progress) > 0 && progress[len(progress)-1] != stats {
		t.Errorf("the last progress %+v is not the result %+v", progress[len(progress)-1], stats)
	}

	got := scriptRows(t, db)
	if len(got) != len(want) {
		t.Fatalf("%d rows after, %d before", len(got), len(want))
	}
	for i := range got {
		if got[i].key != want[i].key || !bytes.Equal(got[i].render, want[i].render) {
			t.Fatalf("%s %s: scripts %q, the import's %q", got[i].kind, got[i].key, got[i].render, want[i].render)
		}
		if (got[i].render == nil) != (want[i].render == nil) {
			t.Fatalf("%s %s: NULL and empty scripts mixed up", got[i].kind, got[i].key)
		}
	}

	// What the store serves is what ingest.CompileScripts computes.
	raw := synth.RecordWithSessions("tenant-a", 7, "big", 300)
	rec, err := ingest.NewNormalizer().Record("tenant-a", raw)
	if err != nil {
		t.Fatal(err)
	}
	ingest.CompileScripts(rec)
	page, err := db.ListSessions(t.Context(), callvault.SessionQuery{Tenant: "tenant-a", RecordID: "big", Limit: 1000, Segments: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Sessions) != len(rec.Sessions) {
		t.Fatalf("%d sessions listed, %d in the record", len(page.Sessions), len(rec.Sessions))
	}
	for i, s := range page.Sessions {
		if !bytes.Equal(s.Render, rec.Sessions[i].Render) || len(s.Segments) != len(rec.Sessions[i].Segments) {
			t.Fatalf("session %d: scripts %q, CompileScripts' %q", i+1, s.Render, rec.Sessions[i].Render)
		}
		for j, g := range s.Segments {
			if !bytes.Equal(g.Render, rec.Sessions[i].Segments[j].Render) {
				t.Fatalf("session %d segment %d: scripts differ from CompileScripts'", i+1, j+1)
			}
		}
	}

	// Again, in the default chunks: nothing to do.
	again, err := db.CompileScripts(t.Context(), ingest.Scripts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Rows != int64(len(want)) || again.Changed != 0 {
		t.Errorf("a second run: %+v, want %d rows and none changed", again, len(want))
	}
}

// markScripts is a ScriptFunc that gives every row the scripts "x", and
// counts its calls.
type markScripts struct{ calls int }

func (m *markScripts) fn(kind string, body, render []byte) ([]byte, bool) {
	m.calls++
	return []byte("x"), !bytes.Equal(render, []byte("x"))
}

func countMarked(t *testing.T, db *DB) (marked int64) {
	t.Helper()
	for _, table := range []string{"sessions", "segments"} {
		var n int64
		if err := db.write.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM `+table+` WHERE render = x'78'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		marked += n
	}
	return marked
}

// A chunk ends at its byte budget too, but reads at least one row.
func TestCompileScriptsChunkBytes(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	// Bodies of up to 23 KB, some on overflow pages.
	putRecord(t, db, rawRecord("t", "r", 1, 20, func(seq int) int { return seq % 3 }, func(int, int) bool { return false }))
	var m markScripts
	chunks := 0
	stats, err := db.compileScripts(t.Context(), m.fn, func(callvault.ScriptStats) { chunks++ }, 500, 1)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != 41 || stats.Changed != 41 || m.calls != 41 || chunks != 41 {
		t.Errorf("%+v, %d calls, %d chunks; want 41 rows (20 sessions, 21 segments) changed in 41 chunks", stats, m.calls, chunks)
	}
	if n := countMarked(t, db); n != 41 {
		t.Errorf("%d rows have the scripts, want 41", n)
	}
}

// A canceled run stops between chunks, or rolls back the chunk it was in,
// and counts what it committed.
func TestCompileScriptsCanceled(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	putRecord(t, db, rawRecord("t", "r", 1, 100, func(int) int { return 1 }, func(int, int) bool { return false }))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var m markScripts
	fn := func(kind string, body, render []byte) ([]byte, bool) {
		if m.calls == 25 { // in the fourth chunk of 10
			cancel()
		}
		return m.fn(kind, body, render)
	}
	stats, err := db.compileScripts(ctx, fn, nil, 10, 1<<20)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if stats.Rows > 30 || stats.Rows < 20 || stats.Changed != stats.Rows {
		t.Errorf("%+v: want the 20 or 30 rows of the chunks committed", stats)
	}
	if n := countMarked(t, db); n != stats.Changed {
		t.Errorf("%d rows have the scripts, the stats say %d", n, stats.Changed)
	}
	if m.calls >= 40 {
		t.Errorf("fn was called %d times after the cancel", m.calls)
	}

	// A new run does the rest.
	before := countMarked(t, db)
	stats, err = db.compileScripts(t.Context(), m.fn, nil, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n := countMarked(t, db); stats.Rows != 200 || stats.Changed != 200-before || n != 200 {
		t.Errorf("the second run: %+v, %d rows marked; want 200 rows, %d changed, all marked", stats, n, 200-before)
	}
}

// A record replaced while CompileScripts runs never keeps the scripts of
// the body it had: each row has none, or those of its body.
func TestCompileScriptsBesideAnImport(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	// Each version has other bodies: the sessions of another seed.
	versions := make([]*callvault.Record, 10)
	for i := range versions {
		rec, err := ingest.NewNormalizer().Record("t", synth.RecordWithSessions("t", int64(i), "r", 60))
		if err != nil {
			t.Fatal(err)
		}
		rec.Version = int64(i)
		versions[i] = rec
	}
	put := func(rec *callvault.Record) {
		if _, err := db.PutRecord(context.Background(), rec); err != nil {
			t.Error(err)
		}
	}
	put(versions[0])
	first := map[string]bool{}
	for _, s := range versions[0].Sessions {
		first[string(s.Body)] = true
		for _, g := range s.Segments {
			first[string(g.Body)] = true
		}
	}
	var wg sync.WaitGroup
	calls, replaced, next := 0, false, 1
	fn := func(kind string, body, render []byte) ([]byte, bool) {
		calls++
		replaced = replaced || !first[string(body)]
		if calls%7 == 0 && next < len(versions) {
			// Queued behind the chunk's transaction on the one writer
			// connection, it replaces the record before the next chunk.
			waits := db.write.Stats().WaitCount
			rec := versions[next]
			next++
			wg.Go(func() { put(rec) })
			for db.write.Stats().WaitCount == waits {
				runtime.Gosched()
			}
		}
		return ingest.Scripts(kind, body, render)
	}
	if _, err := db.compileScripts(t.Context(), fn, nil, 10, 1<<20); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !replaced {
		t.Fatal("the record was not replaced during the run")
	}
	withScripts := 0
	for _, r := range scriptRows(t, db) {
		if r.render == nil {
			continue
		}
		withScripts++
		if fresh, _ := ingest.Scripts(r.kind, r.body, nil); !bytes.Equal(fresh, r.render) {
			t.Fatalf("%s %s: scripts of another body", r.kind, r.key)
		}
	}
	if withScripts == 0 {
		t.Error("no row has scripts: not a test")
	}
}

// The chunks read a range of each table's primary key.
func TestCompileScriptsQueryPlans(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	for _, st := range scriptTables {
		args := []any{}
		for range st.keys {
			args = append(args, 1)
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{{st.sel, append(args, 10)}, {st.upd, append([]any{nil}, args...)}} {
			got := queryPlan(t, db.write, q.sql, q.args...)
			if !strings.HasPrefix(got, "SEARCH "+st.table+" USING INDEX sqlite_autoindex_"+st.table+"_1 (") || strings.Contains(got, ";") {
				t.Errorf("plan of %s: %s", q.sql, got)
			}
		}
	}
}
