package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/postgres/pgtest"
)

// storedRow is a session (b = 0) or segment row as the tables hold it.
type storedRow struct {
	kind, tenant, record string
	a, b                 int64
	body, render         []byte
	null                 bool // render IS NULL
}

// storedRows reads every session then every segment, in primary-key order.
func storedRows(t *testing.T, dsn string) []storedRow {
	t.Helper()
	conn := connect(t, dsn)
	rows, err := conn.Query(t.Context(), `
		(SELECT 0 AS k, tenant, record_id, seq, 0::BIGINT, body, render, render IS NULL FROM sessions ORDER BY tenant, record_id, seq)
		UNION ALL
		(SELECT 1, tenant, record_id, session_seq, seq, body, render, render IS NULL FROM segments ORDER BY tenant, record_id, session_seq, seq)
		ORDER BY 1, 2, 3, 4, 5`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedRow
	for rows.Next() {
		var k int
		var r storedRow
		if err := rows.Scan(&k, &r.tenant, &r.record, &r.a, &r.b, &r.body, &r.render, &r.null); err != nil {
			t.Fatal(err)
		}
		r.kind = []string{"session", "segment"}[k]
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (r storedRow) String() string {
	return fmt.Sprintf("%s %s/%s/%d/%d", r.kind, r.tenant, r.record, r.a, r.b)
}

func TestRenderScripts(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := openClosed(t, dsn)
	ctx := t.Context()
	script := func(s string) []byte { return []byte("\x00\xff" + s) }
	r := &callvault.Record{Tenant: "t", ID: "r", Version: 1, Body: []byte(`{}`), Sessions: []callvault.Session{
		{ID: "s1", Body: []byte(`{"s":1}`), Render: script("s1"), Segments: []callvault.Segment{
			{ID: "g1", Body: []byte(`{"g":1}`), Render: script("g1")},
			{ID: "g2", Body: []byte(`{"g":2}`)},
			{ID: "g3", Body: []byte(`{"g":3}`), Render: []byte{}},
		}},
		{ID: "s2", Body: []byte(`{"s":2}`), Segments: []callvault.Segment{{ID: "g1", Body: []byte(`{"g":1}`), Render: script("s2g1")}}},
		{ID: "s3", Body: []byte(`{"s":3}`), Render: []byte{}},
	}}
	check := func(t *testing.T, page *callvault.SessionPage, want []callvault.Session) {
		t.Helper()
		if len(page.Sessions) != len(want) {
			t.Fatalf("got %d sessions, want %d", len(page.Sessions), len(want))
		}
		// Here none is nil, not empty: what the handler and the tests of
		// the sqlite store expect.
		same := func(got, want []byte) bool {
			if len(want) == 0 {
				return got == nil
			}
			return bytes.Equal(got, want)
		}
		for i, s := range page.Sessions {
			if !same(s.Render, want[i].Render) {
				t.Errorf("session %d: render %q, want %q", s.Seq, s.Render, want[i].Render)
			}
			for j, g := range s.Segments {
				if !same(g.Render, want[i].Segments[j].Render) {
					t.Errorf("session %d segment %d: render %q, want %q", s.Seq, j+1, g.Render, want[i].Segments[j].Render)
				}
			}
		}
	}

	t.Run("PutRecord stores scripts, and none as NULL; ListSessions reads them, and NULL as nil", func(t *testing.T) {
		if _, err := db.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		for _, segments := range []bool{true, false} {
			page, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 10, Segments: segments})
			if err != nil {
				t.Fatal(err)
			}
			check(t, page, r.Sessions)
		}
		var empty, null int
		for _, row := range storedRows(t, dsn) {
			switch {
			case row.null:
				null++
			case len(row.render) == 0:
				empty++
			}
		}
		if empty != 0 || null != 4 {
			t.Errorf("%d empty render scripts and %d NULL, want 0 and 4", empty, null)
		}
	})

	t.Run("PutRecords stores them too", func(t *testing.T) {
		r2 := *r
		r2.ID = "batch"
		if _, errs, err := db.PutRecords(ctx, []*callvault.Record{&r2}); err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
		page, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "t", RecordID: "batch", Limit: 10, Segments: true})
		if err != nil {
			t.Fatal(err)
		}
		check(t, page, r2.Sessions)
	})

	t.Run("a page's bodies and scripts share an arena, and none runs into the next", func(t *testing.T) {
		page, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 2, Segments: true})
		if err != nil {
			t.Fatal(err)
		}
		if page.Arena == nil || !page.More {
			t.Fatalf("arena %d bytes, More %v", len(page.Arena), page.More)
		}
		s := page.Sessions[0]
		for _, b := range [][]byte{s.Body, s.Render, s.Segments[0].Body} {
			if cap(b) != len(b) {
				t.Errorf("%q has capacity %d: an append would write over the next", b, cap(b))
			}
		}
		// The session after the page (s3) was read to learn More, and left
		// out of the arena.
		if bytes.Contains(page.Arena, []byte(`{"s":3}`)) {
			t.Errorf("the arena holds the session after the page: %q", page.Arena)
		}
	})

	t.Run("GetSession leaves the scripts in the table", func(t *testing.T) {
		row, err := db.GetSession(ctx, "t", "r", "s1", true)
		if err != nil || row.Render != nil || row.Segments[0].Render != nil || !bytes.Equal(row.Segments[0].Body, []byte(`{"g":1}`)) {
			t.Errorf("got %+v, %v", row, err)
		}
	})
}

func TestMigrationToRenderScripts(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := t.Context()
	if applied, err := postgres.MigrateThrough(ctx, dsn, "migrations/0001_init.sql"); err != nil || len(applied) != 1 {
		t.Fatalf("migrate to 0001: %v, %v", applied, err)
	}
	// A database of the first schema, with a record, as an older callvault
	// wrote it.
	conn := connect(t, dsn)
	for _, sql := range []string{
		`INSERT INTO call_records (tenant, id, version, start_time, end_time, body, organizer, session_count, participant_count)
			VALUES ('t', 'old', 1, 0, 0, '{}', NULL, 2, 0)`,
		`INSERT INTO sessions (tenant, record_id, seq, id, body) VALUES ('t', 'old', 1, 's1', '{"s":1}'), ('t', 'old', 2, 's2', '{"s":2}')`,
		`INSERT INTO segments (tenant, record_id, session_seq, seq, id, body) VALUES ('t', 'old', 1, 1, 'g1', '{"g":1}')`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}

	applied, err := postgres.MigrateThrough(ctx, dsn, "migrations/0002_render_scripts.sql")
	if err != nil || !slices.Equal(applied, []string{"migrations/0002_render_scripts.sql"}) {
		t.Fatalf("migrate: %v, %v", applied, err)
	}
	rows := storedRows(t, dsn)
	if len(rows) != 3 {
		t.Fatalf("%d rows after the migration, want 3", len(rows))
	}
	for _, row := range rows {
		if !row.null {
			t.Errorf("%s: render %q after the migration, want NULL", row, row.render)
		}
	}

	db := openClosed(t, dsn)
	page, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "t", RecordID: "old", Limit: 10, Segments: true})
	if err != nil || len(page.Sessions) != 2 || len(page.Sessions[0].Segments) != 1 {
		t.Fatalf("list the old record: %+v, %v", page, err)
	}
	if s := page.Sessions[0]; string(s.Body) != `{"s":1}` || s.Render != nil || string(s.Segments[0].Body) != `{"g":1}` || s.Segments[0].Render != nil {
		t.Errorf("the old record's first session: %+v", s)
	}
	// The old rows get scripts from CompileScripts.
	stats, err := db.CompileScripts(ctx, digestScripts, nil)
	if err != nil || stats != (callvault.ScriptStats{Rows: 3, Changed: 3}) {
		t.Errorf("compile the old rows' scripts: %+v, %v", stats, err)
	}
}

// digest is the fake render scripts of a body; bodies that say "none" have
// none.
func digest(body []byte) []byte {
	if bytes.Contains(body, []byte(`"none":true`)) {
		return nil
	}
	sum := sha256.Sum256(body)
	return sum[:]
}

// digestScripts is a callvault.ScriptFunc of digest.
func digestScripts(kind string, body, render []byte) ([]byte, bool) {
	want := digest(body)
	return want, !bytes.Equal(want, render)
}

// scriptRecord is a record whose sessions and segments say where they are,
// with render scripts that are right, wrong or missing by their positions.
func scriptRecord(tenant, id string, version int64, sessions int) *callvault.Record {
	r := &callvault.Record{Tenant: tenant, ID: id, Version: version, Body: []byte(`{}`)}
	render := func(body []byte, n int) []byte {
		switch n % 3 {
		case 0:
			return nil
		case 1:
			return digest(body) // right already
		}
		return []byte("stale")
	}
	for s := 1; s <= sessions; s++ {
		none := s%5 == 0
		body := fmt.Appendf(nil, `{"t":%q,"r":%q,"s":%d,"v":%d,"none":%v}`, tenant, id, s, version, none)
		ses := callvault.Session{ID: fmt.Sprint("s", s), Body: body, Render: render(body, s)}
		for g := 1; g <= []int{0, 1, 3}[s%3]; g++ {
			body := fmt.Appendf(nil, `{"t":%q,"r":%q,"s":%d,"g":%d,"v":%d}`, tenant, id, s, g, version)
			ses.Segments = append(ses.Segments, callvault.Segment{ID: fmt.Sprint("g", g), Body: body, Render: render(body, s+g)})
		}
		r.Sessions = append(r.Sessions, ses)
	}
	return r
}

// checkDigests checks that every row has the scripts digest gives its
// body, and NULL where it gives none.
func checkDigests(t *testing.T, dsn string) {
	t.Helper()
	for _, row := range storedRows(t, dsn) {
		want := digest(row.body)
		if !bytes.Equal(row.render, want) || row.null != (want == nil) {
			t.Errorf("%s: render %x (NULL %v), want %x", row, row.render, row.null, want)
		}
	}
}

func TestCompileScripts(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := openClosed(t, dsn)
	ctx := t.Context()
	records := []*callvault.Record{
		scriptRecord("x", "r1", 1, 300),
		scriptRecord("x", "r2", 1, 4),
		scriptRecord("y", "r1", 1, 250),
	}
	// The rows in the order of the walk, and how many of them change.
	var want []storedRow
	var changes int64
	for _, kind := range []string{"session", "segment"} {
		for _, r := range records {
			for i, s := range r.Sessions {
				if kind == "session" {
					want = append(want, storedRow{kind: kind, tenant: r.Tenant, record: r.ID, a: int64(i + 1), body: s.Body, render: s.Render})
					continue
				}
				for j, g := range s.Segments {
					want = append(want, storedRow{kind: kind, tenant: r.Tenant, record: r.ID, a: int64(i + 1), b: int64(j + 1), body: g.Body, render: g.Render})
				}
			}
		}
	}
	for _, row := range want {
		if _, changed := digestScripts(row.kind, row.body, row.render); changed {
			changes++
		}
	}
	sessions := slices.IndexFunc(want, func(r storedRow) bool { return r.kind == "segment" })
	segments := len(want) - sessions
	if sessions <= 500 || segments <= 500 {
		t.Fatalf("%d sessions and %d segments: not more than a chunk of each", sessions, segments)
	}
	for _, r := range records {
		if _, err := db.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("every row of every tenant, in key order, in chunks; then nothing changes", func(t *testing.T) {
		const chunk = 7
		postgres.SetScriptChunk(db, chunk, 1<<20)
		// Some chunks end inside a session's segments, some span two
		// tenants: the walk of each table starts its chunks anew.
		var inSession, acrossTenants bool
		for _, walk := range [][2]int{{0, sessions}, {sessions, len(want)}} {
			for i := walk[0]; i < walk[1]; i += chunk {
				end := min(i+chunk, walk[1])
				acrossTenants = acrossTenants || want[i].tenant != want[end-1].tenant
				if end < walk[1] {
					prev, next := want[end-1], want[end]
					inSession = inSession || (next.kind == "segment" && prev.tenant == next.tenant && prev.record == next.record && prev.a == next.a)
				}
			}
		}
		if !inSession || !acrossTenants {
			t.Fatalf("the data has no chunk boundary inside a session's segments (%v) or no chunk across tenants (%v)", inSession, acrossTenants)
		}

		var calls []storedRow
		var progress []callvault.ScriptStats
		stats, err := db.CompileScripts(ctx, func(kind string, body, render []byte) ([]byte, bool) {
			calls = append(calls, storedRow{kind: kind, body: bytes.Clone(body), render: bytes.Clone(render)})
			return digestScripts(kind, body, render)
		}, func(s callvault.ScriptStats) { progress = append(progress, s) })
		if err != nil {
			t.Fatal(err)
		}
		if wantStats := (callvault.ScriptStats{Rows: int64(len(want)), Changed: changes}); stats != wantStats {
			t.Errorf("stats %+v, want %+v", stats, wantStats)
		}
		if len(calls) != len(want) {
			t.Fatalf("%d calls of the script function, want %d", len(calls), len(want))
		}
		for i, c := range calls {
			if w := want[i]; c.kind != w.kind || !bytes.Equal(c.body, w.body) || !bytes.Equal(c.render, w.render) || (c.render == nil) != (len(w.render) == 0) {
				t.Fatalf("call %d: %s %s render %q; want %s (%s) render %q", i, c.kind, c.body, c.render, w, w.body, w.render)
			}
		}
		wantChunks := (sessions+chunk-1)/chunk + (segments+chunk-1)/chunk
		if len(progress) != wantChunks || progress[len(progress)-1] != stats {
			t.Errorf("progress was told %d times, last %+v; want %d times, last %+v", len(progress), progress[len(progress)-1], wantChunks, stats)
		}
		for i := 1; i < len(progress); i++ {
			if d := progress[i].Rows - progress[i-1].Rows; d < 1 || d > chunk || progress[i].Changed < progress[i-1].Changed {
				t.Fatalf("progress %d: %+v after %+v", i, progress[i], progress[i-1])
			}
		}
		checkDigests(t, dsn)

		// Again, in chunks of the default size: every row read, none written.
		fresh := openClosed(t, dsn)
		progress = nil
		stats, err = fresh.CompileScripts(ctx, digestScripts, func(s callvault.ScriptStats) { progress = append(progress, s) })
		if err != nil || stats != (callvault.ScriptStats{Rows: int64(len(want))}) {
			t.Errorf("second run: %+v, %v; want %d rows and no change", stats, err, len(want))
		}
		if wantChunks := (sessions+499)/500 + (segments+499)/500; len(progress) != wantChunks {
			t.Errorf("second run: %d chunks, want %d", len(progress), wantChunks)
		}
	})

	t.Run("a row larger than a chunk's byte budget is a chunk of its own", func(t *testing.T) {
		postgres.SetScriptChunk(db, 500, 1)
		calls, chunks := 0, 0
		stats, err := db.CompileScripts(ctx, func(kind string, body, render []byte) ([]byte, bool) {
			calls++
			return []byte("over budget"), true // changes every row
		}, func(callvault.ScriptStats) { chunks++ })
		if err != nil || stats != (callvault.ScriptStats{Rows: int64(len(want)), Changed: int64(len(want))}) || calls != len(want) || chunks != len(want) {
			t.Fatalf("%+v, %v, %d calls in %d chunks", stats, err, calls, chunks)
		}
		// Back to the digests, 50 rows or 4 KB a chunk: all change.
		postgres.SetScriptChunk(db, 50, 4<<10)
		if stats, err := db.CompileScripts(ctx, digestScripts, nil); err != nil || stats.Changed != int64(len(want)) {
			t.Fatalf("%+v, %v", stats, err)
		}
		checkDigests(t, dsn)
	})

	t.Run("a cancelled walk keeps the chunks it did, and a second one finishes it", func(t *testing.T) {
		postgres.SetScriptChunk(db, 10, 1<<20)
		// Stale every row's scripts.
		conn := connect(t, dsn)
		for _, table := range []string{"sessions", "segments"} {
			if _, err := conn.Exec(ctx, `UPDATE `+table+` SET render = 'old'`); err != nil {
				t.Fatal(err)
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var seen []callvault.ScriptStats
		stats, err := db.CompileScripts(cctx, digestScripts, func(s callvault.ScriptStats) {
			if seen = append(seen, s); len(seen) == 2 {
				cancel()
			}
		})
		if !errors.Is(err, context.Canceled) || stats != seen[len(seen)-1] || stats.Rows != 20 || len(seen) != 2 {
			t.Fatalf("cancelled after 2 chunks: %+v, %v; progress %+v", stats, err, seen)
		}
		written := 0
		for _, row := range storedRows(t, dsn) {
			if string(row.render) != "old" {
				written++
			}
		}
		if written != 20 {
			t.Errorf("%d rows written, want the 20 of the 2 chunks", written)
		}
		stats, err = db.CompileScripts(ctx, digestScripts, nil)
		if err != nil || stats != (callvault.ScriptStats{Rows: int64(len(want)), Changed: int64(len(want) - 20)}) {
			t.Errorf("the second walk: %+v, %v", stats, err)
		}
		checkDigests(t, dsn)

		// A context cancelled before the walk does nothing.
		stats, err = db.CompileScripts(cctx, digestScripts, nil)
		if !errors.Is(err, context.Canceled) || stats != (callvault.ScriptStats{}) {
			t.Errorf("a cancelled context: %+v, %v", stats, err)
		}
	})
}

// TestCompileScriptsLocks replaces a record while CompileScripts holds a
// chunk of its rows: the replacement must wait for the chunk, and no row of
// the new version may get the scripts of the old one's body.
func TestCompileScriptsLocks(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := openClosed(t, dsn)
	ctx := t.Context()
	old := scriptRecord("c", "r", 1, 12)
	if _, err := db.PutRecord(ctx, old); err != nil {
		t.Fatal(err)
	}
	replacement := scriptRecord("c", "r", 2, 12)
	for i := range replacement.Sessions {
		ses := &replacement.Sessions[i]
		ses.Render = nil
		for j := range ses.Segments {
			ses.Segments[j].Render = nil
		}
	}
	postgres.SetScriptChunk(db, 5, 1<<20)
	watch := connect(t, dsn)

	var waited bool
	put := make(chan error, 1)
	first := true
	stats, err := db.CompileScripts(ctx, func(kind string, body, render []byte) ([]byte, bool) {
		if first {
			first = false
			go func() {
				_, err := db.PutRecord(ctx, replacement)
				put <- err
			}()
			// Until the put waits for a lock of this chunk, or is done.
			deadline := time.Now().Add(10 * time.Second)
			for !waited && len(put) == 0 && time.Now().Before(deadline) {
				var n int
				err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM sessions%'`).Scan(&n)
				if err != nil {
					t.Error(err)
					break
				}
				waited = n > 0
				time.Sleep(5 * time.Millisecond)
			}
		}
		return digestScripts(kind, body, render)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	if !waited {
		t.Error("the replacement did not wait for the locks of the chunk being compiled")
	}
	t.Logf("%+v", stats)
	for _, row := range storedRows(t, dsn) {
		if !bytes.Contains(row.body, []byte(`"v":2`)) {
			t.Errorf("%s: %s is not of the replacement", row, row.body)
		}
		// A row the walk passed before the replacement has none; one after
		// has the digest of its new body; none has the old body's.
		if !row.null && !strings.Contains(string(row.body), `"none":true`) && !bytes.Equal(row.render, digest(row.body)) {
			t.Errorf("%s: render %x, not the digest of its body %s", row, row.render, row.body)
		}
	}
}
