package sqlite

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callvault/callvault"
)

// A database that runs out of room (SQLITE_FULL, here from max_page_count,
// as a full disk gives it) refuses the write with callvault.EFULL, which the
// API answers with 507 Insufficient Storage rather than a generic 500.
func TestAFullDatabaseRefusesWritesWithEFULL(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pages int
	if err := db.write.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages+2)); err != nil {
		t.Fatal(err)
	}
	big := batchRecord("big", 1, 200)
	for i := range big.Sessions {
		big.Sessions[i].ID = fmt.Sprintf("s%d", i)
		big.Sessions[i].Body = []byte(`{"x":"` + strings.Repeat("x", 4000) + `"}`)
	}
	_, errs, err := db.PutRecords(ctx, []*callvault.Record{big})
	if err == nil && len(errs) == 1 {
		err = errs[0]
	}
	if got := callvault.ErrorCode(err); got != callvault.EFULL {
		t.Fatalf("PutRecords: code %q (%v), want %q", got, err, callvault.EFULL)
	}
	if !strings.Contains(err.Error(), "full") {
		t.Errorf("the error keeps the driver's words for the log: %v", err)
	}
	if _, err := db.PutRecord(ctx, big); callvault.ErrorCode(err) != callvault.EFULL {
		t.Fatalf("PutRecord: code %q (%v), want %q", callvault.ErrorCode(err), err, callvault.EFULL)
	}
}
