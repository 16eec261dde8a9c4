package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/sqlite"
)

// driftedSeed is the seed record as a source with a newer schema would
// send it: a property callvault's callRecord lacks, one its endpoint lacks
// (an object), and an enum member networkConnectionType lacks.
func driftedSeed(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/seed-record.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber() // 64-bit integers stay exact
	if err := d.Decode(&rec); err != nil {
		t.Fatal(err)
	}
	rec["aiSummaryState"] = "ready"
	session := rec["sessions"].([]any)[0].(map[string]any)
	session["caller"].(map[string]any)["satelliteLink"] = map[string]any{"orbit": "leo", "latencyMs": 610}
	media := session["segments"].([]any)[0].(map[string]any)["media"].([]any)[0].(map[string]any)
	media["callerNetwork"].(map[string]any)["connectionType"] = "satellite"
	out, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A record from a source whose schema is newer is refused by a strict
// import, kept whole by a lenient one, and served back once the server
// knows the drift: unknown properties after the declared ones (beta only),
// unknown enum members as unknownFutureValue unless the client asks.
func TestSchemaDriftIsKeptAndServedBack(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rec := driftedSeed(t)

	var rejected []string
	strict := &ingest.Importer{Store: db, Tenant: tenantA, OnReject: func(r ingest.Rejection) { rejected = append(rejected, r.Err.Error()) }}
	if err := strict.Import(ctx, "strict", strings.NewReader(string(rec)), &ingest.Stats{}); err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 1 || !strings.Contains(rejected[0], "unknown property 'aiSummaryState'") {
		t.Fatalf("a strict import: rejections %q, want the unknown property", rejected)
	}

	var drifted []string
	lenient := &ingest.Importer{Store: db, Tenant: tenantA, Lenient: true,
		OnReject: func(r ingest.Rejection) { t.Errorf("a lenient import refused the record: %v", r) },
		OnDrift: func(r *callvault.Record) {
			for _, d := range r.Drift {
				drifted = append(drifted, d.Kind+" "+d.Type+" "+d.Name)
			}
		}}
	if err := lenient.Import(ctx, "lenient", strings.NewReader(string(rec)), &ingest.Stats{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"property microsoft.graph.callRecords.callRecord aiSummaryState",
		"property microsoft.graph.callRecords.participantEndpoint satelliteLink",
		"member microsoft.graph.callRecords.networkConnectionType satellite",
	}
	if strings.Join(drifted, "\n") != strings.Join(want, "\n") {
		t.Errorf("drift reported:\n%s\nwant:\n%s", strings.Join(drifted, "\n"), strings.Join(want, "\n"))
	}
	kept, err := db.Drift(ctx)
	if err != nil || len(kept) != 3 || kept[0].RecordID != seedID || kept[0].Count != 1 {
		t.Fatalf("drift kept: %+v, %v", kept, err)
	}

	signer, err := auth.LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := &graph.Server{
		Store: db, Auth: signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }}),
		Cursors: odata.Cursors{Key: []byte("0123456789abcdef0123456789abcdef")}, PublicURL: "https://graph.microsoft.com",
		Now: func() time.Time { return now },
	}
	n := 0
	srv.NewID = func() string { // request ids the goldens can hold
		n++
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	tok, err := signer.Mint(auth.TokenOptions{Tenant: tenantA, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, prefer string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if prefer != "" {
			req.Header.Set("Prefer", prefer)
		}
		resp, err := plainClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	record := "/beta/communications/callRecords/" + seedID
	sessions := record + "/sessions?$expand=segments"
	before := string(render(t, get(record, "")))
	if strings.Contains(before, "aiSummaryState") {
		t.Error("the drift was served before the server knew it")
	}

	if err := srv.SetDrift(graph.DriftOf(kept)); err != nil {
		t.Fatal(err)
	}
	golden(t, "drift-record-beta", render(t, get(record, "")))
	golden(t, "drift-sessions-beta", render(t, get(sessions, "")))
	golden(t, "drift-sessions-beta-unknown-enums", render(t, get(sessions, "include-unknown-enum-members")))
	golden(t, "drift-sessions-v1", render(t, get(strings.Replace(sessions, "/beta/", "/v1.0/", 1), "include-unknown-enum-members")))
}
