package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/sqlite"
)

const genTenant = "5a4f7e36-0f3c-4c66-9a1b-2c3d4e5f6a7b"

func TestGenerateIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.jsonl")
	_, stderr, status := runCLI(t, "", "generate", "--tenant", genTenant, "--records", "200", "--seed", "7", "--out", file, "--reports", filepath.Join(dir, "reports"))
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	if !strings.Contains(stderr, "generated 200 calls") {
		t.Errorf("no summary on standard error: %q", stderr)
	}
	a, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, stderr, status := runCLI(t, "", "generate", "--tenant", genTenant, "--records", "200", "--seed", "7")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	if !bytes.Equal(a, []byte(b)) {
		t.Fatal("the same seed gave different bytes (file and standard output)")
	}
	c, _, _ := runCLI(t, "", "generate", "--tenant", genTenant, "--records", "200", "--seed", "8")
	if c == b {
		t.Fatal("different seeds gave the same bytes")
	}
	d, _, _ := runCLI(t, "", "generate", "--tenant", genTenant, "--records", "200", "--seed", "7", "--from", "2026-09-01", "--to", "2026-09-08T00:00:00Z")
	if d == b || !strings.Contains(d, `"startDateTime":"2026-09-0`) {
		t.Fatal("--from and --to did not move the records")
	}
	if _, _, status := runCLI(t, "", "generate", "--records", "2"); status != 2 {
		t.Errorf("without --tenant: status %d, want 2", status)
	}
	if _, _, status := runCLI(t, "", "generate", "--tenant", genTenant, "--from", "yesterday"); status != 2 {
		t.Errorf("a bad --from: status %d, want 2", status)
	}
}

// The generator's output, report rows included, imports without a reject,
// and importing it again changes nothing: every record is replaced by
// itself or skipped as stale, and the counts stay.
func TestGeneratedRecordsImportAndReimportIdempotently(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "calls.jsonl")
	reports := filepath.Join(dir, "reports")
	if _, stderr, status := runCLI(t, "", "generate", "--tenant", genTenant, "--records", "400", "--seed", "3", "--out", file, "--reports", reports); status != 0 {
		t.Fatalf("generate: status %d: %s", status, stderr)
	}
	data := filepath.Join(dir, "data")
	args := []string{"import", "--data", data, "--tenant", genTenant, file,
		filepath.Join(reports, "pstnCalls.jsonl"), filepath.Join(reports, "directRoutingCalls.jsonl")}
	out1, stderr, status := runCLI(t, "", args...)
	if status != 0 {
		t.Fatalf("import: status %d: %s%s", status, out1, stderr)
	}
	summary := regexp.MustCompile(`imported (\d+) records \((\d+) new, (\d+) replaced\), (\d+) sessions, (\d+) segments; (\d+) stale skipped, (\d+) rejected`)
	m1 := summary.FindStringSubmatch(out1)
	if m1 == nil || m1[2] != "400" || m1[7] != "0" || !strings.Contains(out1, "report rows") {
		t.Fatalf("first import: %s", out1)
	}
	count := func() (int64, int) {
		db, err := sqlite.Open(context.Background(), filepath.Join(data, "callvault.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		n, err := db.CountRecords(context.Background(), callvault.RecordQuery{Tenant: genTenant})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.ListReportRows(context.Background(), callvault.ReportQuery{Tenant: genTenant, Kind: "pstnCallLogRow", Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return n, int(rows.Total)
	}
	records, rows := count()
	if records != 400 || rows == 0 {
		t.Fatalf("after the first import: %d records, %d PSTN rows", records, rows)
	}

	out2, stderr, status := runCLI(t, "", args...)
	if status != 0 {
		t.Fatalf("re-import: status %d: %s%s", status, out2, stderr)
	}
	m2 := summary.FindStringSubmatch(out2)
	if m2 == nil || m2[2] != "0" || m2[7] != "0" {
		t.Fatalf("re-import: %s", out2)
	}
	// The earlier versions of revised records are stale now; everything else
	// replaces itself.
	if m2[3] != "400" || m2[6] != strings.TrimSpace(m1[3]) {
		t.Errorf("re-import replaced %s and skipped %s as stale; want 400 and %s (the revisions)\n%s", m2[3], m2[6], m1[3], out2)
	}
	if r2, rows2 := count(); r2 != records || rows2 != rows {
		t.Errorf("after re-importing: %d records and %d PSTN rows, want %d and %d", r2, rows2, records, rows)
	}
}
