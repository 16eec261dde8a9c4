package main

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callvault/callvault"
)

// qualityRows returns every stored stream row, in key order, as text.
func qualityRows(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT tenant, `+strings.Join(callvault.QualityColumns, ", ")+
		` FROM quality_streams ORDER BY rk, session_seq, segment_seq, seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	vals := make([]any, len(callvault.QualityColumns)+1)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	return out
}

// Records imported before classification existed are classified by
// migrate exactly as an import classifies them, and a second run does
// nothing.
func TestMigrateClassifiesRecordsStoredBefore(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "calls.jsonl")
	if _, stderr, status := runCLI(t, "", "generate", "--tenant", genTenant, "--records", "200", "--seed", "7", "--out", file); status != 0 {
		t.Fatalf("generate: status %d: %s", status, stderr)
	}
	data := filepath.Join(dir, "data")
	if out, stderr, status := runCLI(t, "", "import", "--data", data, "--tenant", genTenant, file); status != 0 {
		t.Fatalf("import: status %d: %s%s", status, out, stderr)
	}
	db, err := sql.Open("sqlite", filepath.Join(data, "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := qualityRows(t, db)
	if len(want) < 400 {
		t.Fatalf("the import classified only %d streams", len(want))
	}
	// As a store of the build before: no quality rows.
	for _, q := range []string{`DELETE FROM quality_stream_rows`, `DELETE FROM quality_records`} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, status := runCLI(t, "", "migrate", "--data", data)
	if status != 0 || !strings.Contains(out, "call quality: classified 200 records stored before") {
		t.Fatalf("migrate: status %d: %q %q", status, out, stderr)
	}
	got := qualityRows(t, db)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("migrate classified %d streams differently from the import's %d", len(got), len(want))
	}
	out, _, _ = runCLI(t, "", "migrate", "--data", data)
	if strings.Contains(out, "call quality") {
		t.Errorf("a second migrate classified again: %q", out)
	}
}
