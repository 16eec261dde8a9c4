package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
)

// bulkStore notes when the Importer begins a bulk load and how it ends it,
// and fails the batches after failAfter (0: none).
type bulkStore struct {
	*sqlite.DB
	failAfter int
	batches   int
	begunAt   int // the batches stored when BeginBulk was called; 0: never
	ended     int
	endedDone bool // end was called with a context already done
}

func (b *bulkStore) PutRecords(ctx context.Context, rs []*callvault.Record) ([]callvault.PutOutcome, []error, error) {
	if b.failAfter > 0 && b.batches >= b.failAfter {
		return nil, nil, errors.New("disk on fire")
	}
	b.batches++
	return b.DB.PutRecords(ctx, rs)
}

func (b *bulkStore) BeginBulk(ctx context.Context) (func(context.Context) error, error) {
	b.begunAt = b.batches
	end, err := b.DB.BeginBulk(ctx)
	if end == nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		b.ended++
		b.endedDone = b.endedDone || ctx.Err() != nil
		return end(ctx)
	}, err
}

// An import begins a bulk load once it has stored BulkAfter batches, never
// before and never for fewer, and ends it once however the import ends:
// at the end of the stream, on a store that fails, or when its context is
// cancelled, with a context that is not.
func TestImportBeginsABulkLoadAfterBulkAfterBatches(t *testing.T) {
	var in bytes.Buffer
	if _, err := synth.Write(&in, synth.Config{Tenant: tenant, Seed: 5, Records: 30}); err != nil {
		t.Fatal(err)
	}
	records := in.String()
	for _, tc := range []struct {
		name                string
		bulkAfter, failAt   int
		batchRecords        int // 3 if 0
		cancelAt            int // cancel the import once this many records are stored; 0: never
		begunAt, ended, got int
		err                 string
	}{
		{name: "after four batches of three records", bulkAfter: 4, begunAt: 4, ended: 1, got: 30},
		{name: "never, when BulkAfter is negative", bulkAfter: -1, got: 30},
		{name: "not for an import of fewer batches than DefaultBulkAfter", batchRecords: 5, got: 30},
		{name: "ended when the store fails", bulkAfter: 2, failAt: 5, begunAt: 2, ended: 1, got: 15, err: "disk on fire"},
		{name: "ended when the import is cancelled", bulkAfter: 2, cancelAt: 12, begunAt: 2, ended: 1, err: "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &bulkStore{DB: openDB(t), failAfter: tc.failAt}
			batch := tc.batchRecords
			if batch == 0 {
				batch = 3
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			im := &ingest.Importer{Store: store, Tenant: tenant, BatchRecords: batch, BulkAfter: tc.bulkAfter,
				OnRecord: func(st ingest.Stats) {
					if tc.cancelAt > 0 && st.Records >= tc.cancelAt {
						cancel()
					}
				}}
			var st ingest.Stats
			err := im.Import(ctx, "calls", strings.NewReader(records), &st)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Import: %v, want %q", err, tc.err)
			}
			if store.begunAt != tc.begunAt || store.ended != tc.ended || store.endedDone {
				t.Errorf("begun after %d batches, ended %d times (with a done context: %v); want %d and %d",
					store.begunAt, store.ended, store.endedDone, tc.begunAt, tc.ended)
			}
			if tc.got > 0 {
				n, _ := store.CountRecords(t.Context(), callvault.RecordQuery{Tenant: tenant})
				if n != int64(tc.got) || st.Records != tc.got {
					t.Errorf("stored %d, counted %d; want %d", n, st.Records, tc.got)
				}
			}
		})
	}
}

// With HoldBulk, the imports of one job count their batches together and
// share one bulk load, which only EndBulk ends; the next import counts
// from zero again.
func TestHeldBulkLoadSpansImports(t *testing.T) {
	var in bytes.Buffer
	if _, err := synth.Write(&in, synth.Config{Tenant: tenant, Seed: 6, Records: 12}); err != nil {
		t.Fatal(err)
	}
	records := in.String()
	store := &bulkStore{DB: openDB(t)}
	im := &ingest.Importer{Store: store, Tenant: tenant, BatchRecords: 3, BulkAfter: 6, HoldBulk: true}
	var st ingest.Stats
	for i := range 2 { // 4 batches each: the load begins in the second
		if err := im.Import(t.Context(), fmt.Sprint("file ", i), strings.NewReader(records), &st); err != nil {
			t.Fatal(err)
		}
	}
	if store.begunAt != 6 || store.ended != 0 || !im.InBulk() {
		t.Fatalf("begun after %d batches, ended %d times, in bulk %v; want 6, 0, true", store.begunAt, store.ended, im.InBulk())
	}
	if err := im.EndBulk(t.Context()); err != nil {
		t.Fatal(err)
	}
	if store.ended != 1 || im.InBulk() {
		t.Fatalf("ended %d times, in bulk %v; want once, not", store.ended, im.InBulk())
	}
	if err := im.EndBulk(t.Context()); err != nil || store.ended != 1 {
		t.Errorf("EndBulk again: %v, ended %d times", err, store.ended)
	}
	store.begunAt = 0
	if err := im.Import(t.Context(), "file 3", strings.NewReader(records), &st); err != nil {
		t.Fatal(err)
	}
	if store.begunAt != 0 || im.InBulk() {
		t.Errorf("a third import of 4 batches began a load after %d: it counts from zero", store.begunAt)
	}
}
