package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/callvault/callvault/synth"
	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the database/sql driver, to spoil scripts
)

// renders returns the render scripts of every session and segment row of
// the SQLite database at path, by primary key.
func renders(t *testing.T, db *sql.DB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, q := range []string{
		`SELECT format('s %d/%d', rk, seq), render FROM sessions`,
		`SELECT format('g %d/%d/%d', rk, session_seq, seq), render FROM segments`,
	} {
		rows, err := db.QueryContext(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var key string
			var render []byte
			if err := rows.Scan(&key, &render); err != nil {
				t.Fatal(err)
			}
			out[key] = render
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// migrate --scripts gives the rows of every tenant whose render scripts
// are missing or not this build's the scripts the import stored, says how
// many on standard output, and changes nothing the second time.
func TestMigrateScripts(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "calls.jsonl")
	if _, stderr, status := runCLI(t, "", "generate", "--tenant", genTenant, "--records", "150", "--seed", "5", "--out", file); status != 0 {
		t.Fatalf("generate: status %d: %s", status, stderr)
	}
	data := filepath.Join(dir, "data")
	for _, imp := range []struct{ tenant, stdin, file string }{{genTenant, "", file}, {synth.DemoTenant, string(synth.Demo()), "-"}} {
		if out, stderr, status := runCLI(t, imp.stdin, "import", "--data", data, "--tenant", imp.tenant, imp.file); status != 0 {
			t.Fatalf("import: status %d: %s%s", status, out, stderr)
		}
	}

	db, err := sql.Open("sqlite", filepath.Join(data, "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := renders(t, db)
	have := 0
	for _, r := range want {
		if r != nil {
			have++
		}
	}
	if have < len(want)*9/10 {
		t.Fatalf("the import gave %d of %d rows scripts", have, len(want))
	}
	// No scripts on a third of the sessions and on the first segment of
	// every session; scripts of no build on some more.
	for _, q := range []string{
		`UPDATE sessions SET render = NULL WHERE rk % 3 = 0`,
		`UPDATE segments SET render = NULL WHERE seq = 1`,
		`UPDATE segments SET render = x'0102030405' WHERE seq = 2 AND rk % 2 = 0`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	spoiled := 0
	for k, r := range renders(t, db) {
		if !bytes.Equal(r, want[k]) {
			spoiled++
		}
	}
	if spoiled < len(want)/4 {
		t.Fatalf("only %d of %d rows spoiled", spoiled, len(want))
	}

	run := func() (rows, changed int) { return migrateScripts(t, "--data", data) }
	rows, changed := run()
	if rows != len(want) || changed != spoiled {
		t.Errorf("read %d rows and changed %d, want %d and %d", rows, changed, len(want), spoiled)
	}
	got := renders(t, db)
	for k, r := range want {
		if !bytes.Equal(got[k], r) {
			t.Fatalf("row %s: scripts %q, the import's %q", k, got[k], r)
		}
	}
	if rows, changed := run(); rows != len(want) || changed != 0 {
		t.Errorf("a second run read %d rows and changed %d, want %d and 0", rows, changed, len(want))
	}
}

// migrateScripts runs migrate --scripts on the store that args name, and
// returns the rows read and changed that its summary says.
func migrateScripts(t *testing.T, args ...string) (rows, changed int) {
	t.Helper()
	out, stderr, status := runCLI(t, "", append([]string{"migrate", "--scripts", "--progress", "1ns"}, args...)...)
	if status != 0 {
		t.Fatalf("migrate --scripts: status %d: %s%s", status, out, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], " is up to date") {
		t.Fatalf("migrate --scripts printed %q", out)
	}
	m := scriptSummary.FindStringSubmatch(lines[1])
	if m == nil {
		t.Fatalf("no summary line: %q", out)
	}
	if !strings.Contains(stderr, "render scripts: ") || !strings.Contains(stderr, " rows/s") {
		t.Errorf("no progress on standard error: %q", stderr)
	}
	rows, _ = strconv.Atoi(m[1])
	changed, _ = strconv.Atoi(m[2])
	return rows, changed
}

var scriptSummary = regexp.MustCompile(`^render scripts: read (\d+) sessions and segments, gave (\d+) of them new scripts, in \S+ \(\d+ rows/s\)$`)

// migrate --scripts --db does on PostgreSQL what it does on SQLite.
func TestMigrateScriptsOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	for _, tenant := range []string{"t1", "t2"} {
		if out, stderr, status := runCLI(t, string(synth.Demo()), "import", "--db", dsn, "--tenant", tenant, "-"); status != 0 {
			t.Fatalf("import: status %d: %s%s", status, out, stderr)
		}
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	count := func(q string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(t.Context(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	all := count(`SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM segments)`)
	have := count(`SELECT (SELECT count(render) FROM sessions) + (SELECT count(render) FROM segments)`)
	if have < all*9/10 {
		t.Fatalf("the import gave %d of %d rows scripts", have, all)
	}
	// digest sums up every row's scripts, in key order.
	digest := func() string {
		t.Helper()
		var d string
		if err := conn.QueryRow(t.Context(), `SELECT
			(SELECT md5(string_agg(coalesce(encode(render, 'hex'), '-'), ',' ORDER BY tenant, record_id, seq)) FROM sessions) ||
			(SELECT md5(string_agg(coalesce(encode(render, 'hex'), '-'), ',' ORDER BY tenant, record_id, session_seq, seq)) FROM segments)`).Scan(&d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	want := digest()
	for _, q := range []string{
		`UPDATE sessions SET render = NULL WHERE seq % 2 = 0`,
		`UPDATE segments SET render = NULL WHERE tenant = 't2'`,
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	spoiled := have - count(`SELECT (SELECT count(render) FROM sessions) + (SELECT count(render) FROM segments)`)
	if rows, changed := migrateScripts(t, "--db", dsn); rows != all || changed != spoiled {
		t.Errorf("read %d rows and changed %d, want %d and %d", rows, changed, all, spoiled)
	}
	if got := digest(); got != want {
		t.Errorf("the scripts differ from the import's")
	}
	if rows, changed := migrateScripts(t, "--db", dsn); rows != all || changed != 0 {
		t.Errorf("a second run read %d rows and changed %d, want %d and 0", rows, changed, all)
	}
}

// A store without CompileScripts is refused with a message that says so.
func TestMigrateScriptsNeedsAStoreThatCompiles(t *testing.T) {
	var out, errb bytes.Buffer
	c := &migrateConfig{scripts: true}
	err := c.compileScripts(context.Background(), plainStore{}, stdio{out: &out, err: &errb})
	if err == nil || !strings.Contains(err.Error(), "cannot compile render scripts") {
		t.Errorf("got %v", err)
	}
}

// plainStore is a Store with none of the optional capabilities: embedding
// Store drops them all (callvault.ScriptCompiler among them).
type plainStore struct{ callvault.Store }
