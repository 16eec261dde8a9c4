package graph_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/callvault/callvault/auth"
)

// raw sends one GET and returns the answer as it is, a
// redirect included.
func (f *fixture) raw(t *testing.T, path string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: plainClient.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestNonCanonicalPathsGetGraphsEnvelopeAfterAuthentication(t *testing.T) {
	f := newFixture(t, nil)
	good := map[string]string{"Authorization": "Bearer " + f.token(t, auth.TokenOptions{Tenant: tenantA})}
	for _, tc := range []struct {
		name    string
		path    string
		headers map[string]string
	}{
		{name: "dot dot without a token", path: "/v1.0/../../etc/passwd"},
		{name: "double slash without a token", path: "/v1.0//communications/callRecords"},
		{name: "dot segment without a token", path: "/beta/./communications/callRecords"},
		{name: "the version alone without a token", path: "/v1.0"},
		{name: "dot segment with a token", path: "/v1.0/communications/./callRecords", headers: good},
		{name: "dot dot with a token", path: "/v1.0/communications/callRecords/../callRecords", headers: good},
		{name: "double slash before the version", path: "//v1.0/communications/callRecords", headers: good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, "path-"+strings.ReplaceAll(tc.name, " ", "-"), render(t, f.raw(t, tc.path, tc.headers)))
		})
	}
}

func TestQueryErrorsAreConsistentAndBounded(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name string
		path string
	}{
		{name: "a nested select given twice", path: sessionsPath("v1.0", seedID) + "?$expand=segments($select=id;$select=failureInfo)"},
		{name: "a nested expand given twice", path: "/v1.0/communications/callRecords/" + seedID + "?$expand=sessions($expand=segments;$expand=segments)"},
		{name: "a 40 KB expand", path: sessionsPath("v1.0", seedID) + "?$expand=" + strings.Repeat("x", 40<<10)},
		{name: "a 40 KB select", path: sessionsPath("v1.0", seedID) + "?$select=id," + strings.Repeat("x", 40<<10)},
		{name: "a 40 KB nested option", path: sessionsPath("v1.0", seedID) + "?$expand=segments(" + strings.Repeat("x", 40<<10) + "=1)"},
		{name: "a 40 KB key", path: "/v1.0/communications/callRecords/" + strings.Repeat("k", 40<<10)},
		{name: "a 40 KB unknown option", path: sessionsPath("v1.0", seedID) + "?$" + strings.Repeat("y", 40<<10) + "=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(t, http.MethodGet, tc.path, nil)
			got := render(t, resp)
			if len(got) > 2000 {
				t.Errorf("the answer has %d bytes: the message echoes the input", len(got))
			}
			golden(t, "query-"+strings.ReplaceAll(tc.name, " ", "-"), got)
		})
	}
}
