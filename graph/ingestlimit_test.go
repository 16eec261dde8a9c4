package graph_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/sqlite"
)

// slowStore counts the batches being stored at once, holding each a while.
type slowStore struct {
	*sqlite.DB
	now, peak atomic.Int32
}

func (s *slowStore) PutRecords(ctx context.Context, recs []*callvault.Record) ([]callvault.PutOutcome, []error, error) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	time.Sleep(50 * time.Millisecond)
	return s.DB.PutRecords(ctx, recs)
}

func TestIngestsRunAtMostIngestConcurrencyAtOnceAndSpoolToDisk(t *testing.T) {
	dir := t.TempDir()
	spool := t.TempDir()
	t.Setenv("TMPDIR", spool)
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	signer, err := auth.LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := &slowStore{DB: db}
	srv := &graph.Server{
		Store:             store,
		Auth:              signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }}),
		Cursors:           odata.Cursors{Key: []byte("0123456789abcdef0123456789abcdef")},
		PublicURL:         "https://graph.microsoft.com",
		Now:               func() time.Time { return now },
		IngestConcurrency: 2,
	}
	srv.Extra = http.NewServeMux()
	srv.Extra.Handle(graph.IngestPath, srv.IngestHandler(0))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f := &ingestFixture{server: ts, signer: signer, store: db}

	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			resp, body := f.post(t, lines(ingestRecords(2)...), ingestRole, nil)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	if p := store.peak.Load(); p > 2 {
		t.Errorf("%d ingests stored at once, want at most 2", p)
	}
	left, err := os.ReadDir(spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("spooled bodies left behind: %v", left)
	}
}
