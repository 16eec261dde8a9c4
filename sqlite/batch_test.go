package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

func batchRecord(id string, version int64, sessions int) *callvault.Record {
	r := &callvault.Record{Tenant: "t", ID: id, Version: version, Body: []byte(`{"id":"` + id + `"}`),
		StartDateTime: time.Date(2026, 8, 3, 9, 0, 0, 0, time.UTC), EndDateTime: time.Date(2026, 8, 3, 10, 0, 0, 0, time.UTC)}
	for range sessions {
		r.Sessions = append(r.Sessions, callvault.Session{ID: "s", Body: []byte(`{}`),
			Segments: []callvault.Segment{{ID: "g", Body: []byte(`{}`)}}})
	}
	return r
}

func TestPutRecordsIsAtomicPerRecordAndIdempotent(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	bad := batchRecord("bad", 1, 2)
	bad.StartDateTime = time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC) // out of the store's range
	batch := []*callvault.Record{batchRecord("a", 2, 3), bad, batchRecord("b", 1, 1), batchRecord("a", 1, 5)}
	outcomes, errs, err := db.PutRecords(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	want := []callvault.PutOutcome{callvault.Inserted, 0, callvault.Inserted, callvault.Stale}
	for i := range batch {
		if outcomes[i] != want[i] || (errs[i] != nil) != (i == 1) {
			t.Errorf("record %d: %v, %v; want %v", i, outcomes[i], errs[i], want[i])
		}
	}
	if callvault.ErrorCode(errs[1]) != callvault.EINVALID {
		t.Errorf("the bad record's error: %v", errs[1])
	}
	if _, err := db.GetRecord(ctx, "t", "bad"); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("the refused record is there: %v", err)
	}
	h, err := db.GetRecord(ctx, "t", "a")
	if err != nil || h.Version != 2 || h.Sessions != 3 {
		t.Fatalf("record a: %+v, %v", h, err)
	}

	// Again: the same versions replace, and a higher one replaces whole.
	outcomes, _, err = db.PutRecords(ctx, []*callvault.Record{batchRecord("a", 3, 1), batchRecord("b", 1, 1)})
	if err != nil || outcomes[0] != callvault.Replaced || outcomes[1] != callvault.Replaced {
		t.Fatalf("second batch: %v, %v", outcomes, err)
	}
	page, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "t", RecordID: "a", Limit: 10, Segments: true})
	if err != nil || len(page.Sessions) != 1 || len(page.Sessions[0].Segments) != 1 {
		t.Errorf("record a after replacing: %+v, %v", page, err)
	}

	// A cancelled context fails the whole batch and stores nothing of it.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := db.PutRecords(cctx, []*callvault.Record{batchRecord("c", 1, 1)}); err == nil {
		t.Error("a cancelled batch succeeded")
	}
	if _, err := db.GetRecord(ctx, "t", "c"); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("the cancelled batch stored a record: %v", err)
	}
}

// TestBulkWritesKeepTheWALBounded writes batches back to back, as an import
// does: with the checkpointer copying beside the writer, the WAL must still
// start over, not grow with everything written.
func TestBulkWritesKeepTheWALBounded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.bulkWAL = 256 << 10

	body := []byte(`{"note":"` + strings.Repeat("x", 20<<10) + `"}`)
	const batches, perBatch = 100, 15 // some 30 MB of bodies, a WAL of 50 MB kept whole
	for b := range batches {
		var batch []*callvault.Record
		for i := range perBatch {
			r := batchRecord(fmt.Sprintf("r%d-%d", b, i), 1, 1)
			r.Body = body
			batch = append(batch, r)
		}
		if _, _, err := db.PutRecords(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// The writer checkpoints each 256 KiB it appends, after the
	// checkpointer, and the WAL starts over: with batches of some 300 KB, it
	// holds a batch or two.
	if st.Size() > 4<<20 {
		t.Errorf("the WAL grew to %d bytes for %d of bodies: it does not start over", st.Size(), batches*perBatch*len(body))
	}
	if n, err := db.CountRecords(ctx, callvault.RecordQuery{Tenant: "t"}); err != nil || n != batches*perBatch {
		t.Errorf("%d records stored (%v), want %d", n, err, batches*perBatch)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
		t.Errorf("the WAL is still there after Close: %v", err)
	}
}
