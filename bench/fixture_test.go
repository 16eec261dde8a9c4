// Package bench measures callvault: Go benchmarks of the encoder, the store
// and the handler in process (this package), and a load test of the real
// binary against a baseline over loopback (cmd/loadtest). Nothing here is a
// timed test. Run the benchmarks with
//
//	go test ./bench -run '^$' -bench . -benchmem -count 10 > new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest old.txt new.txt
//
// and see docs/performance.md for what they measure and the figures.
package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
)

const (
	tenant   = "5eed1e55-0000-4000-8000-00000000be7c"
	meeting  = "b16b16b1-0000-4000-8000-000000000001"
	pageSize = 60
)

// The fixture's size: a meeting of 20 pages, and otherRecords records
// beside it for the variety of their shapes (peer-to-peer calls, PSTN,
// failures, feedback). The race detector, under which only the tests run,
// gets a smaller one.
var (
	sessions     = 1200
	otherRecords = 100
)

func init() {
	if raceEnabled {
		sessions, otherRecords = 180, 20
	}
}

// fixture is one SQLite store holding a synthetic meeting, shared by every
// benchmark of the package (importing it is the slow part).
type fixture struct {
	dir     string
	db      *sqlite.DB
	records []string // ids of the other records: synth.Write's mix of calls
	signer  *auth.Signer
	token   string
	handler http.Handler
}

var (
	fixtureOnce sync.Once
	shared      *fixture
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.db.Close()
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// getFixture returns the shared fixture, building it on first use.
func getFixture(tb testing.TB) *fixture {
	tb.Helper()
	fixtureOnce.Do(func() { shared, fixtureErr = newFixture() })
	if fixtureErr != nil {
		tb.Fatal(fixtureErr)
	}
	return shared
}

func newFixture() (_ *fixture, err error) {
	dir, err := os.MkdirTemp("", "callvault-bench-")
	if err != nil {
		return nil, err
	}
	f := &fixture{dir: dir}
	defer func() {
		if err != nil {
			if f.db != nil {
				f.db.Close()
			}
			os.RemoveAll(dir)
		}
	}()
	ctx := context.Background()
	if f.db, err = sqlite.Open(ctx, filepath.Join(dir, "callvault.db")); err != nil {
		return nil, err
	}
	rec := synth.RecordWithSessions(tenant, 1, meeting, sessions)
	var stats ingest.Stats
	im := &ingest.Importer{Store: f.db, Tenant: tenant}
	if err := im.Import(ctx, "bench", strings.NewReader(string(rec)), &stats); err != nil {
		return nil, err
	} else if stats.Rejected > 0 {
		return nil, fmt.Errorf("the synthetic meeting was rejected: %+v", stats)
	}
	var mix strings.Builder
	if _, err := synth.Write(&mix, synth.Config{Tenant: tenant, Seed: 7, Records: otherRecords}); err != nil {
		return nil, err
	}
	for line := range strings.Lines(mix.String()) {
		id, ok := strings.CutPrefix(line, `{"id":"`)
		if !ok {
			return nil, fmt.Errorf("synth.Write wrote a record that does not start with its id: %.60s", line)
		}
		f.records = append(f.records, id[:strings.IndexByte(id, '"')])
	}
	if err := im.Import(ctx, "mix", strings.NewReader(mix.String()), &stats); err != nil {
		return nil, err
	} else if stats.Rejected > 0 {
		return nil, fmt.Errorf("synthetic records were rejected: %+v", stats)
	}
	if f.signer, err = auth.LoadOrCreateSigner(dir); err != nil {
		return nil, err
	}
	if f.token, err = f.signer.Mint(auth.TokenOptions{Tenant: tenant, TTL: time.Hour}); err != nil {
		return nil, err
	}
	srv := &graph.Server{Store: f.db, Auth: f.signer.Verifier(auth.VerifierOptions{}), Cursors: odata.Cursors{Key: make([]byte, 32)}, PublicURL: "https://graph.microsoft.com"}
	f.handler = srv.Handler()
	return f, nil
}

// page reads one page of sessions (after the session at position after)
// from the store.
func (f *fixture) page(tb testing.TB, after int64, segments bool) *callvault.SessionPage {
	tb.Helper()
	p, err := f.db.ListSessions(context.Background(), callvault.SessionQuery{Tenant: tenant, RecordID: meeting, After: after, Limit: pageSize, Segments: segments})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
