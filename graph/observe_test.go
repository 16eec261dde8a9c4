package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/sqlite"
)

func TestEachRequestIsObservedAndLoggedWithItsRouteAndTenant(t *testing.T) {
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
	var mu sync.Mutex
	var logs bytes.Buffer
	var seen []graph.RequestInfo
	extra := http.NewServeMux()
	extra.HandleFunc("GET /extra/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) })
	srv := &graph.Server{
		Store:   db,
		Auth:    signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }}),
		Cursors: odata.Cursors{Key: []byte("0123456789abcdef0123456789abcdef")},
		Now:     func() time.Time { return now },
		Extra:   extra,
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
		Observe: func(r *http.Request, info graph.RequestInfo) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, info)
		},
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	tok, err := signer.Mint(auth.TokenOptions{Tenant: tenantA, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, token    string
		route, version string
		tenant         string
		status         int
	}{
		{"/healthz", "", "/healthz", "", "", 200},
		{"/v1.0/communications/callRecords/" + meetingID + "/sessions", tok, "communications/callRecords/{}/sessions", "v1.0", tenantA, 404},
		{"/beta/communications/callRecords", tok, "communications/callRecords", "beta", tenantA, 200},
		{"/beta/communications/callRecords('x')/sessions/$count", tok, "communications/callRecords/{}/sessions/$count", "beta", tenantA, 404},
		{"/v1.0/subscriptions/abc", tok, "subscriptions/{}", "v1.0", tenantA, 501},
		{"/v1.0/$metadata", "", "$metadata", "v1.0", "", 200},
		{"/v1.0/communications/callRecords", "not-a-token", "", "v1.0", "", 401},
		{"/v1.0/no/such/thing", tok, "", "v1.0", tenantA, 400},
		{"/extra/42", "", "GET /extra/{id}", "", "", 200},
		{"/elsewhere", "", "", "", "", 404},
	} {
		mu.Lock()
		seen = nil
		before := logs.Len()
		mu.Unlock()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := plainClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The middleware logs and observes when the handler returns, which
		// may be after the client has read a response written before then.
		for wait := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			if len(seen) > 0 || time.Now().After(wait) {
				break
			}
			mu.Unlock()
		}
		var line struct {
			Route, Tenant string
			Status        int
		}
		json.Unmarshal(logs.Bytes()[before:], &line)
		if len(seen) != 1 {
			t.Errorf("%s: observed %d times, want once", tc.path, len(seen))
		} else if info := seen[0]; info.Route != tc.route || info.Version != tc.version || info.Tenant != tc.tenant ||
			info.Status != resp.StatusCode || info.Method != http.MethodGet || info.Bytes <= 0 {
			t.Errorf("%s: observed %+v, want route %q version %q tenant %q status %d", tc.path, info, tc.route, tc.version, tc.tenant, resp.StatusCode)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
		if line.Route != tc.route || line.Tenant != tc.tenant || line.Status != resp.StatusCode {
			t.Errorf("%s: the access log line has route %q tenant %q status %d; want %q %q %d", tc.path, line.Route, line.Tenant, line.Status, tc.route, tc.tenant, resp.StatusCode)
		}
		mu.Unlock()
	}
}
