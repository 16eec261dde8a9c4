package graph_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
)

// gated is a server whose Gate answers what refuse says and records the
// paths it was asked about. It has no store: every request the gate lets
// through fails, which the tests do not send.
func gated(t *testing.T, refuse func(graph.GateRequest) *graph.Refusal) (*httptest.Server, string, *[]string) {
	t.Helper()
	signer, err := auth.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.Mint(auth.TokenOptions{Tenant: tenantA, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var asked []string
	extra := http.NewServeMux()
	extra.HandleFunc("/ingest/v1/callRecords", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	n := 0
	srv := &graph.Server{
		Auth:      signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }}),
		PublicURL: "https://graph.microsoft.com",
		Now:       func() time.Time { return now },
		Extra:     extra,
		NewID: func() string {
			mu.Lock()
			defer mu.Unlock()
			n++
			return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
		},
		Gate: func(r *http.Request, g graph.GateRequest) *graph.Refusal {
			mu.Lock()
			asked = append(asked, g.Version+" "+g.Path+" "+g.Principal.Tenant)
			mu.Unlock()
			return refuse(g)
		},
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, tok, &asked
}

func gatedGet(t *testing.T, ts *httptest.Server, tok, path string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestGateRefusals holds the gate's answers to golden files: Graph's 429
// (body and headers), a 503 with a fractional Retry-After, and a 404 with
// an empty message as observed on Graph.
func TestGateRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refusal graph.Refusal
	}{
		{"throttled-429", graph.Refusal{Status: 429, RetryAfter: "16"}},
		{"fault-503-fractional-retry-after", graph.Refusal{Status: 503, Code: "serviceNotAvailable", Message: "The service is temporarily unavailable. Retry after the delay in Retry-After.", RetryAfter: "2.128"}},
		{"fault-404-empty-message", graph.Refusal{Status: 404, Code: "NotFound"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, tok, _ := gated(t, func(graph.GateRequest) *graph.Refusal { return &tc.refusal })
			resp := gatedGet(t, ts, tok, sessionsPath("v1.0", seedID), map[string]string{"client-request-id": "7c2f7e3a-0000-4000-8000-00000000c11e"})
			golden(t, tc.name, render(t, resp))
		})
	}
}

// TestGateSeesGraphPathsOnly: the gate is asked after authentication about
// every path under /v1.0 and /beta, subscriptions included, and never about
// $metadata, callvault's own endpoints or a request without a good token.
func TestGateSeesGraphPathsOnly(t *testing.T) {
	ts, tok, asked := gated(t, func(graph.GateRequest) *graph.Refusal { return &graph.Refusal{Status: 429, RetryAfter: "1"} })
	for _, tc := range []struct {
		path, tok string
		status    int
	}{
		{"/v1.0/communications/callRecords", tok, 429},
		{"/beta/communications/callRecords('x')/sessions", tok, 429},
		{"/v1.0/subscriptions", tok, 429},
		{"/v1.0/nothing/here", tok, 429},
		{"/v1.0/communications/callRecords", "", 401},
		{"/v1.0/$metadata", "", 200},
		{"/ingest/v1/callRecords", tok, 204},
	} {
		resp := gatedGet(t, ts, tc.tok, tc.path, nil)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
	}
	want := []string{
		"v1.0 communications/callRecords " + tenantA,
		"beta communications/callRecords('x')/sessions " + tenantA,
		"v1.0 subscriptions " + tenantA,
		"v1.0 nothing/here " + tenantA,
	}
	if fmt.Sprint(*asked) != fmt.Sprint(want) {
		t.Errorf("the gate was asked about\n%q\nwant\n%q", *asked, want)
	}
}

// TestGateDropsTheConnection: a dropped request gets no response at all.
func TestGateDropsTheConnection(t *testing.T) {
	ts, tok, _ := gated(t, func(graph.GateRequest) *graph.Refusal { return &graph.Refusal{Drop: true} })
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1.0/communications/callRecords", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := plainClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want the connection closed", resp.StatusCode)
	}
}
