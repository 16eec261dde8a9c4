// Package bench measures callvault against baselines taken in the same run.
// Nothing here is a timed test: run it with
//
//	go test ./bench -run '^$' -bench . -benchmem
package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
)

const tenant = "bench-tenant"

// setup serves one synthetic meeting of n sessions from a fresh SQLite
// store through the real handler, and returns a request for a page of it.
func setup(b *testing.B, sessions int, query string) (http.Handler, func() *http.Request) {
	b.Helper()
	dir := b.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "callvault.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	rec := synth.RecordWithSessions(tenant, 1, "meeting", sessions)
	var stats ingest.Stats
	im := &ingest.Importer{Store: db, Tenant: tenant}
	if err := im.Import(ctx, "bench", strings.NewReader(string(rec)), &stats); err != nil || stats.Rejected > 0 {
		b.Fatal(err, stats)
	}
	signer, err := auth.LoadOrCreateSigner(dir)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := signer.Mint(auth.TokenOptions{Tenant: tenant, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	srv := &graph.Server{Store: db, Auth: signer.Verifier(auth.VerifierOptions{}), Cursors: odata.Cursors{Key: make([]byte, 32)}, PublicURL: "https://graph.microsoft.com"}
	h := srv.Handler()
	return h, func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/v1.0/communications/callRecords/meeting/sessions"+query, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
}

// discard is a ResponseWriter that keeps nothing, so the benchmark measures
// the server and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkSessionsPage serves a page of 60 sessions with segments, in
// process (no network), and the baseline: the same response bytes written
// from memory by a bare handler. The ratio of the two is callvault's
// overhead over the cost of just writing the response.
func BenchmarkSessionsPage(b *testing.B) {
	for _, tc := range []struct{ name, query string }{
		{"expand=segments", "?$expand=segments"},
		{"no expand", ""},
		{"select=id,startDateTime", "?$select=id,startDateTime"},
	} {
		h, req := setup(b, 1000, tc.query)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req())
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		body := rec.Body.Bytes()
		baseline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", odata.ContentType)
			w.Write(body)
		})
		b.Run(tc.name+"/callvault", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(&discard{h: http.Header{}}, req())
			}
		})
		b.Run(tc.name+"/baseline", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				baseline.ServeHTTP(&discard{h: http.Header{}}, req())
			}
		})
	}
}
