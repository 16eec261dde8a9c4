package graph_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/sqlite"
)

// fullStore is a SQLite store whose disk is full: every write fails as
// sqlite.DB's do then (SQLITE_FULL, wrapped in callvault.ErrStorageFull).
type fullStore struct{ *sqlite.DB }

var errDiskFull = fmt.Errorf("sqlite: put records: %w: %w", callvault.ErrStorageFull, errors.New("database or disk is full (13)"))

func (fullStore) PutRecord(context.Context, *callvault.Record) (callvault.PutOutcome, error) {
	return 0, errDiskFull
}

func (fullStore) PutRecords(context.Context, []*callvault.Record) ([]callvault.PutOutcome, []error, error) {
	return nil, nil, errDiskFull
}

// fullPerRecordStore refuses each record of a batch for lack of room, as a
// batch retried with a savepoint per record does on a full disk.
type fullPerRecordStore struct{ fullStore }

func (fullPerRecordStore) PutRecords(_ context.Context, recs []*callvault.Record) ([]callvault.PutOutcome, []error, error) {
	errs := make([]error, len(recs))
	for i := range errs {
		errs[i] = errDiskFull
	}
	return make([]callvault.PutOutcome, len(recs)), errs, nil
}

func TestIngestOnAFullDiskAnswers507AndLogsWhy(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(*sqlite.DB) callvault.Store
	}{
		{"the batch fails", func(db *sqlite.DB) callvault.Store { return fullStore{db} }},
		{"each record of the batch fails", func(db *sqlite.DB) callvault.Store { return fullPerRecordStore{fullStore{db}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := sqlite.Open(t.Context(), filepath.Join(dir, "callvault.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			signer, err := auth.LoadOrCreateSigner(dir)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			srv := &graph.Server{
				Store:     tc.wrap(db),
				Auth:      signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }}),
				Cursors:   odata.Cursors{Key: []byte("0123456789abcdef0123456789abcdef")},
				PublicURL: "https://graph.microsoft.com",
				Now:       func() time.Time { return now },
				NewID:     func() string { return "00000000-0000-4000-8000-000000000001" },
				Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
			}
			srv.Extra = http.NewServeMux()
			srv.Extra.Handle(graph.IngestPath, srv.IngestHandler(0))
			ts := httptest.NewServer(srv.Handler())
			t.Cleanup(ts.Close)
			f := &ingestFixture{server: ts, signer: signer, store: db}
			resp, body := f.post(t, lines(ingestRecords(3)...), []string{graph.RoleCallRecordsIngest}, nil)
			resp.Body = nopBody(body)
			golden(t, "ingest-disk-full", render(t, resp))
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "storage full") || !strings.Contains(logs.String(), "database or disk is full") {
				t.Errorf("the log does not say why:\n%s", logs.String())
			}
		})
	}
}

func nopBody(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
