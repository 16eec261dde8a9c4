package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// export archive writes what import reads back; a second run writes
// nothing; export streams writes a CSV row per classified stream.
func TestExportArchiveReimportsAndStreamsCSV(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "calls.jsonl")
	if _, stderr, status := runCLI(t, "", "generate", "--tenant", genTenant, "--records", "40", "--seed", "9", "--from", "2026-08-03", "--to", "2026-08-10", "--out", file); status != 0 {
		t.Fatalf("generate: %s", stderr)
	}
	data := filepath.Join(dir, "data")
	if _, stderr, status := runCLI(t, "", "import", "--data", data, "--tenant", genTenant, file); status != 0 {
		t.Fatalf("import: %s", stderr)
	}
	out := filepath.Join(dir, "archive")
	if stdout, stderr, status := runCLI(t, "", "export", "archive", "--data", data, "--tenant", genTenant, "--out", out); status != 0 || !strings.Contains(stdout, "archived 40 records") {
		t.Fatalf("archive: %d %q %q", status, stdout, stderr)
	}
	if stdout, _, _ := runCLI(t, "", "export", "archive", "--data", data, "--tenant", genTenant, "--out", out); !strings.Contains(stdout, "archived 0 records") {
		t.Errorf("a second run: %q", stdout)
	}
	files, _ := filepath.Glob(filepath.Join(out, "date=*", "*.jsonl.gz"))
	if len(files) == 0 {
		t.Fatal("no archive files")
	}
	again := filepath.Join(dir, "again")
	for _, f := range files {
		if stdout, stderr, status := runCLI(t, "", "import", "--data", again, "--tenant", genTenant, f); status != 0 {
			t.Fatalf("import %s: %q %q", f, stdout, stderr)
		}
	}
	csvFile := filepath.Join(dir, "streams.csv")
	if _, stderr, status := runCLI(t, "", "export", "streams", "--data", again, "--tenant", genTenant, "--from", "2026-08-01", "--to", "2026-08-11", "--out", csvFile); status != 0 {
		t.Fatalf("streams: %s", stderr)
	}
	b, _ := os.ReadFile(csvFile)
	if lines := strings.Count(string(b), "\n"); lines < 40 || !strings.HasPrefix(string(b), "CallId,") {
		t.Errorf("streams CSV of the re-imported store: %d lines: %.200s", lines, b)
	}
	pq := filepath.Join(dir, "streams.parquet")
	if _, stderr, status := runCLI(t, "", "export", "streams", "--format", "parquet", "--data", again, "--tenant", genTenant, "--from", "2026-08-01", "--to", "2026-08-11", "--out", pq); status != 0 {
		t.Fatalf("streams as Parquet: %s", stderr)
	}
	if b, _ := os.ReadFile(pq); len(b) < 8 || string(b[:4]) != "PAR1" {
		t.Errorf("streams.parquet: %.20q", b)
	}
	calls := filepath.Join(dir, "calls")
	if stdout, stderr, status := runCLI(t, "", "export", "calls", "--data", data, "--tenant", genTenant, "--out", calls); status != 0 || !strings.Contains(stdout, "exported 40 calls rows") {
		t.Fatalf("calls: %d %q %q", status, stdout, stderr)
	}
	if stdout, _, _ := runCLI(t, "", "export", "calls", "--data", data, "--tenant", genTenant, "--out", calls); !strings.Contains(stdout, "exported 0 calls rows") {
		t.Errorf("calls, a second run: %q", stdout)
	}
	if stdout, stderr, status := runCLI(t, "", "export", "pstn", "--data", data, "--tenant", genTenant, "--out", calls); status != 0 || !strings.Contains(stdout, "pstn rows") {
		t.Fatalf("pstn: %d %q %q", status, stdout, stderr)
	}
	pqCalls := filepath.Join(dir, "calls-parquet")
	stdout, stderr, status := runCLI(t, "", "export", "calls", "--format", "parquet", "--data", data, "--tenant", genTenant, "--out", pqCalls)
	if status != 0 || !strings.Contains(stdout, "exported 40 calls rows") || !strings.Contains(stdout, ".parquet") {
		t.Fatalf("calls --format parquet: %d %q %q", status, stdout, stderr)
	}
	if files, _ := filepath.Glob(filepath.Join(pqCalls, "calls-*.parquet")); len(files) != 1 {
		t.Errorf("calls --format parquet wrote %v", files)
	} else if b, _ := os.ReadFile(files[0]); len(b) < 8 || string(b[:4]) != "PAR1" {
		t.Errorf("%s: %.20q", files[0], b)
	}
	if _, stderr, status := runCLI(t, "", "export", "pstn", "--format", "xml", "--data", data, "--tenant", genTenant, "--out", pqCalls); status != 2 || !strings.Contains(stderr, "csv or parquet") {
		t.Errorf("--format xml: %d %q", status, stderr)
	}
}
