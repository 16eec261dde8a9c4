package graph_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/callvault/callvault/synth"
)

// ingestFixture is a server on an empty SQLite store, with the ingest API
// mounted unless disabled.
type ingestFixture struct {
	server  *httptest.Server
	handler http.Handler // the server's, for requests in process
	signer  *auth.Signer
	store   callvault.Store
}

func newIngestFixture(t testing.TB, enabled bool, limit int64) *ingestFixture {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	signer, err := auth.LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := &graph.Server{
		Store:     db,
		Auth:      signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }}),
		Cursors:   odata.Cursors{Key: []byte("0123456789abcdef0123456789abcdef")},
		PublicURL: "https://graph.microsoft.com",
		Now:       func() time.Time { return now },
	}
	if enabled {
		srv.Extra = http.NewServeMux()
		srv.Extra.Handle(graph.IngestPath, srv.IngestHandler(limit))
	}
	h := srv.Handler()
	f := &ingestFixture{server: httptest.NewServer(h), handler: h, signer: signer, store: db}
	t.Cleanup(f.server.Close)
	return f
}

func (f *ingestFixture) post(t *testing.T, body []byte, roles []string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.server.URL+graph.IngestPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.signer.Mint(auth.TokenOptions{Tenant: tenantA, Roles: roles, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/x-ndjson")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

var ingestRole = []string{graph.RoleCallRecordsIngest}

type ingestAnswer struct {
	Inserted, Replaced, Stale, Rejected int
	Value                               []struct {
		Index   int
		Line    int
		ID      string
		Outcome string
		Error   *struct{ Path, Reason string }
	}
}

func (f *ingestFixture) answer(t *testing.T, body []byte, headers map[string]string) ingestAnswer {
	t.Helper()
	resp, body := f.post(t, body, ingestRole, headers)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
	}
	var a ingestAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return a
}

func outcomes(a ingestAnswer) string {
	var s []string
	for _, v := range a.Value {
		s = append(s, fmt.Sprintf("%d:%s", v.Line, v.Outcome))
	}
	return strings.Join(s, " ")
}

// withVersion sets a generated record's version.
func withVersion(rec []byte, v int) []byte {
	return bytes.Replace(rec, []byte(`"version":1,`), fmt.Appendf(nil, `"version":%d,`, v), 1)
}

func ingestRecords(n int) [][]byte {
	var recs [][]byte
	for i := range n {
		recs = append(recs, synth.RecordWithSessions(tenantA, int64(i), fmt.Sprintf("ingest-%d", i), 1+i))
	}
	return recs
}

func lines(recs ...[]byte) []byte { return append(bytes.Join(recs, []byte("\n")), '\n') }

func TestIngestStoresRecordsAndIsIdempotent(t *testing.T) {
	f := newIngestFixture(t, true, 0)
	recs := ingestRecords(3)
	a := f.answer(t, lines(recs...), nil)
	if got := outcomes(a); got != "1:inserted 2:inserted 3:inserted" || a.Inserted != 3 {
		t.Fatalf("first post: %s (%+v)", got, a)
	}
	for i, v := range a.Value {
		if v.ID != fmt.Sprintf("ingest-%d", i) || v.Index != i {
			t.Errorf("result %d: %+v", i, v)
		}
	}
	h, err := f.store.GetRecord(context.Background(), tenantA, "ingest-2")
	if err != nil || h.Sessions != 3 {
		t.Fatalf("stored record: %+v, %v", h, err)
	}

	// The same body again replaces (same version); a lower version is stale;
	// a higher one replaces.
	a = f.answer(t, lines(recs...), nil)
	if got := outcomes(a); got != "1:replaced 2:replaced 3:replaced" {
		t.Errorf("second post: %s", got)
	}
	a = f.answer(t, lines(withVersion(recs[0], 3)), nil)
	if got := outcomes(a); got != "1:replaced" {
		t.Errorf("version 3: %s", got)
	}
	a = f.answer(t, lines(recs[0]), nil)
	if got := outcomes(a); got != "1:stale" || a.Stale != 1 {
		t.Errorf("version 1 after 3: %s", got)
	}
	page, err := f.store.ListRecords(context.Background(), callvault.RecordQuery{Tenant: tenantA, Limit: 10})
	if err != nil || len(page.Records) != 3 {
		t.Fatalf("records after re-posting: %d, %v", len(page.Records), err)
	}
}

func TestIngestGzipAndJSONArray(t *testing.T) {
	f := newIngestFixture(t, true, 0)
	recs := ingestRecords(2)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(lines(recs...))
	zw.Close()
	a := f.answer(t, zb.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	if got := outcomes(a); got != "1:inserted 2:inserted" {
		t.Errorf("gzip: %s", got)
	}
	array := append(append([]byte("[\n"), bytes.Join(recs, []byte(",\n"))...), "\n]"...)
	a = f.answer(t, array, map[string]string{"Content-Type": "application/json"})
	if got := outcomes(a); got != "2:replaced 3:replaced" {
		t.Errorf("array: %s", got)
	}
}

func TestIngestReportsRejectsAndStoresTheRest(t *testing.T) {
	f := newIngestFixture(t, true, 0)
	recs := ingestRecords(2)
	bad := bytes.Replace(synth.RecordWithSessions(tenantA, 9, "ingest-bad", 2), []byte(`"isTest":`), []byte(`"isTast":true,"isTest":`), 1)
	row := []byte(`{"@odata.type":"#microsoft.graph.callRecords.pstnCallLogRow","id":"r1","startDateTime":"2026-08-03T10:00:00Z"}`)
	a := f.answer(t, lines(recs[0], bad, []byte(`{"id":`), row, recs[1]), nil)
	if got := outcomes(a); got != "1:inserted 2:rejected 3:rejected 4:rejected 5:inserted" || a.Rejected != 3 || a.Inserted != 2 {
		t.Fatalf("outcomes: %s (%+v)", got, a)
	}
	if e := a.Value[1].Error; e == nil || e.Path != "$.sessions[0].isTast" || !strings.Contains(e.Reason, "unknown property") {
		t.Errorf("the bad record's error: %+v", e)
	}
	if e := a.Value[2].Error; e == nil || e.Reason == "" {
		t.Errorf("the broken line's error: %+v", e)
	}
	if _, err := f.store.GetRecord(context.Background(), tenantA, "ingest-bad"); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("the rejected record left rows: %v", err)
	}
}

func TestIngestRefusals(t *testing.T) {
	rec := lines(ingestRecords(1)...)
	errorCode := func(t *testing.T, body []byte) string {
		var e struct{ Error struct{ Code string } }
		json.Unmarshal(body, &e)
		return e.Error.Code
	}
	t.Run("wrong role", func(t *testing.T) {
		f := newIngestFixture(t, true, 0)
		resp, body := f.post(t, rec, []string{graph.RoleCallRecordsRead}, nil)
		if resp.StatusCode != http.StatusForbidden || errorCode(t, body) != "Forbidden" {
			t.Errorf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		f := newIngestFixture(t, false, 0)
		resp, body := f.post(t, rec, ingestRole, nil)
		if resp.StatusCode != http.StatusNotFound || errorCode(t, body) != "NotFound" {
			t.Errorf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("too large", func(t *testing.T) {
		f := newIngestFixture(t, true, 1000)
		resp, body := f.post(t, rec, ingestRole, nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d: %s", resp.StatusCode, body)
		}
		// Compressed small, too large once decompressed.
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(bytes.Repeat([]byte(" "), 5000))
		zw.Write(rec)
		zw.Close()
		resp, body = f.post(t, zb.Bytes(), ingestRole, map[string]string{"Content-Encoding": "gzip"})
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("gzip: status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		f := newIngestFixture(t, true, 0)
		for name, c := range map[string]struct {
			body    []byte
			headers map[string]string
		}{
			"broken array": {append(append([]byte("["), bytes.TrimSpace(rec)...), ",{"...), nil},
			"bad gzip":     {rec, map[string]string{"Content-Encoding": "gzip"}},
			"empty":        {nil, nil},
		} {
			resp, body := f.post(t, c.body, ingestRole, c.headers)
			if resp.StatusCode != http.StatusBadRequest || errorCode(t, body) != "BadRequest" {
				t.Errorf("%s: status %d: %s", name, resp.StatusCode, body)
			}
		}
		// Nothing of the broken array was stored.
		if _, err := f.store.GetRecord(context.Background(), tenantA, "ingest-0"); callvault.ErrorCode(err) != callvault.ENOTFOUND {
			t.Errorf("a refused body stored a record: %v", err)
		}
	})
	t.Run("method and media type", func(t *testing.T) {
		f := newIngestFixture(t, true, 0)
		resp, body := f.post(t, rec, ingestRole, map[string]string{"Content-Type": "text/csv"})
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("text/csv: status %d: %s", resp.StatusCode, body)
		}
		req, _ := http.NewRequest(http.MethodGet, f.server.URL+graph.IngestPath, nil)
		tok, _ := f.signer.Mint(auth.TokenOptions{Tenant: tenantA, Roles: ingestRole, Now: now})
		req.Header.Set("Authorization", "Bearer "+tok)
		r, err := plainClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET: status %d", r.StatusCode)
		}
	})
}
