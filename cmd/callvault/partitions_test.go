package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres/pgtest"
)

// TestMigratePartition moves a PostgreSQL database that holds records into
// time partitions, says so, then finds nothing to do; without --db it is a
// usage error.
func TestMigratePartition(t *testing.T) {
	if _, errs, status := runCLI(t, "", "migrate", "--data", t.TempDir(), "--partition"); status != 2 || !strings.Contains(errs, "--partition needs --db") {
		t.Errorf("without --db: status %d, %s", status, errs)
	}
	dsn := pgtest.DSN(t)
	file := filepath.Join(t.TempDir(), "calls.jsonl")
	if _, errs, status := runCLI(t, "", "generate", "--tenant", "t1", "--records", "20", "--out", file, "--progress", "0"); status != 0 {
		t.Fatalf("generate: %s", errs)
	}
	if _, errs, status := runCLI(t, "", "import", "--db", dsn, "--tenant", "t1", "--progress", "0", file); status != 0 {
		t.Fatalf("import: %s", errs)
	}
	out, errs, status := runCLI(t, "", "migrate", "--db", dsn, "--partition", "--quality=false")
	if status != 0 || !strings.Contains(out, "partitioned by month: 20 records moved") {
		t.Fatalf("migrate --partition: status %d, %s%s", status, out, errs)
	}
	out, errs, status = runCLI(t, "", "migrate", "--db", dsn, "--partition", "--quality=false")
	if status != 0 || !strings.Contains(out, "the record tables are partitioned\n") {
		t.Errorf("migrate --partition again: status %d, %s%s", status, out, errs)
	}
	// The records read back from the partitions.
	store, err := openStore(t.Context(), "", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if n, err := store.CountRecords(t.Context(), callvault.RecordQuery{Tenant: "t1"}); err != nil || n != 20 {
		t.Errorf("%d records after the move, %v; want 20", n, err)
	}
}
