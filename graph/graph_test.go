package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/outbound"
	"github.com/callvault/callvault/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	tenantA   = "dc368399-474c-4d40-900c-6265431fd81f"
	tenantB   = "b7e1a5c0-1111-4222-8333-944455556666"
	seedID    = "e523d2ed-2966-4b6b-925b-754a88034cc5"
	meetingID = "0a1b2c3d-0000-4000-8000-000000000001"
	emptyID   = "0a1b2c3d-0000-4000-8000-000000000002"
)

var now = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// fixture is a server on a real SQLite store with the test records, and a
// signer whose tokens it accepts.
type fixture struct {
	server *httptest.Server
	srv    *graph.Server
	signer *auth.Signer
	store  callvault.Store
	db     *sqlite.DB
}

func newFixture(t testing.TB, wrap func(callvault.Store) callvault.Store) *fixture {
	return newFixtureWith(t, wrap, 0)
}

func newFixtureWith(t testing.TB, wrap func(callvault.Store) callvault.Store, retention time.Duration, configure ...func(*graph.Server)) *fixture {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var loadKind func(tenant, kind, file string, extra ...string)
	load := func(tenant, file string, extra ...string) { loadKind(tenant, "", file, extra...) }
	loadKind = func(tenant, kind, file string, extra ...string) {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var stats ingest.Stats
		im := &ingest.Importer{Store: db, Tenant: tenant, Kind: kind, OnReject: func(r ingest.Rejection) { t.Errorf("rejected: %v", r) }}
		if err := im.Import(ctx, file, f, &stats); err != nil {
			t.Fatal(err)
		}
		for _, rec := range extra {
			if err := im.Import(ctx, "extra", strings.NewReader(rec), &stats); err != nil {
				t.Fatal(err)
			}
		}
	}
	load(tenantA, "testdata/seed-record.json")
	load(tenantA, "testdata/meeting.jsonl")
	load(tenantA, "testdata/records.jsonl")
	loadKind(tenantA, "pstnCallLogRow", "testdata/pstn.jsonl")
	load(tenantA, "testdata/direct.jsonl")
	// Tenant B has a record with the same id as one of tenant A's.
	load(tenantB, "testdata/seed-record.json", `{"id":"`+meetingID+`","version":9,"sessions":[{"id":"only-in-b"}]}`)

	signer, err := auth.LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	var store callvault.Store = db
	if wrap != nil {
		store = wrap(db)
	}
	n := 0
	srv := &graph.Server{
		Store:     store,
		Auth:      signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }}),
		Cursors:   odata.Cursors{Key: []byte("0123456789abcdef0123456789abcdef")},
		PublicURL: "https://graph.microsoft.com",
		Now:       func() time.Time { return now },
		Retention: retention,
		Subscriptions: &graph.Subscriptions{
			Store:             db,
			Policy:            outbound.Policy{AllowHTTP: true},
			Client:            outbound.Policy{AllowHTTP: true}.Client(5 * time.Second),
			ValidationTimeout: 500 * time.Millisecond,
		},
		NewID: func() string {
			n++
			return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
		},
	}
	for _, c := range configure {
		c(srv)
	}
	f := &fixture{server: httptest.NewServer(srv.Handler()), srv: srv, signer: signer, store: store, db: db}
	t.Cleanup(f.server.Close)
	return f
}

func (f *fixture) token(t testing.TB, o auth.TokenOptions) string {
	t.Helper()
	if o.Now.IsZero() {
		o.Now = now
	}
	tok, err := f.signer.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get sends a GET (or another method) with an app token of tenant A unless
// headers set Authorization.
func (f *fixture) do(t *testing.T, method, path string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token(t, auth.TokenOptions{Tenant: tenantA}))
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// render writes a response as a golden file holds it: the status, every
// header but Date, and the body indented (indenting keeps every byte of
// every value and the order of every member).
func render(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP %d\n", resp.StatusCode)
	var names []string
	for k := range resp.Header {
		if k != "Date" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(resp.Header[k], ", "))
	}
	b.WriteString("\n")
	if len(body) == 0 {
		b.WriteString("(no body)")
	} else if err := json.Indent(&b, body, "", "  "); err != nil {
		t.Errorf("the body is not JSON (%v): %s", err, body)
		b.Write(body)
	}
	b.WriteString("\n")
	return b.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./graph -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("response differs from %s (go test ./graph -update rewrites it; review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func sessionsPath(version, id string) string {
	return "/" + version + "/communications/callRecords/" + id + "/sessions"
}

// withoutScripts is a store whose sessions have no render scripts, as
// those stored before migration 0004 or by PostgreSQL: every page is
// merged with the schema.
type withoutScripts struct{ callvault.Store }

func (s withoutScripts) ListSessions(ctx context.Context, q callvault.SessionQuery) (*callvault.SessionPage, error) {
	page, err := s.Store.ListSessions(ctx, q)
	if page != nil {
		for i := range page.Sessions {
			row := &page.Sessions[i]
			row.Render = nil
			for j := range row.Segments {
				row.Segments[j].Render = nil
			}
		}
	}
	return page, err
}

// countScripts counts the sessions the store returns with a render script.
// Embedding Store, it drops the store's optional capabilities, among them
// callvault.SessionPageVisitor: the handler reads each page by ListSessions.
type countScripts struct {
	callvault.Store
	n *int
}

func (s countScripts) ListSessions(ctx context.Context, q callvault.SessionQuery) (*callvault.SessionPage, error) {
	page, err := s.Store.ListSessions(ctx, q)
	if page != nil {
		for _, row := range page.Sessions {
			if row.Render != nil {
				*s.n++
			}
		}
	}
	return page, err
}

// countVisits counts the pages read by VisitSessions, which the sessions
// handler uses for default pages when the store has it (SQLite does): the
// store's memory rendered straight into the response. It forwards that
// capability alone and drops the others.
type countVisits struct {
	callvault.Store
	n *int
}

func (s countVisits) VisitSessions(ctx context.Context, q callvault.SessionQuery, v callvault.SessionVisitor) (bool, error) {
	*s.n++
	return s.Store.(callvault.SessionPageVisitor).VisitSessions(ctx, q, v)
}

// TestSessionsResponses holds every response to its golden file three
// times: served from the render scripts the import stored, read from a
// page the store copied (ListSessions) or straight from the store's memory
// (VisitSessions), and merged from the bodies alone. All must write the
// same bytes.
func TestSessionsResponses(t *testing.T) {
	t.Run("scripts", func(t *testing.T) {
		var scripted int
		testSessionsResponses(t, func(s callvault.Store) callvault.Store { return countScripts{s, &scripted} })
		if scripted == 0 {
			t.Error("no session the store returned had a render script: the import did not compile them or the store lost them")
		}
	})
	t.Run("visited", func(t *testing.T) {
		var visits int
		testSessionsResponses(t, func(s callvault.Store) callvault.Store { return countVisits{s, &visits} })
		if visits == 0 {
			t.Error("no default page was read by VisitSessions")
		}
	})
	t.Run("merged", func(t *testing.T) {
		if *update {
			t.Skip("the goldens are written from the scripts")
		}
		testSessionsResponses(t, func(s callvault.Store) callvault.Store { return withoutScripts{s} })
	})
}

func testSessionsResponses(t *testing.T, wrap func(callvault.Store) callvault.Store) {
	f := newFixture(t, wrap)
	expired := f.token(t, auth.TokenOptions{Tenant: tenantA, Now: now.Add(-2 * time.Hour)})
	for _, tc := range []struct {
		name    string
		method  string
		path    string
		headers map[string]string
	}{
		{name: "v1.0 list", path: sessionsPath("v1.0", seedID)},
		{name: "beta list", path: sessionsPath("beta", seedID)},
		{name: "key in parentheses", path: "/v1.0/communications/callRecords('" + seedID + "')/sessions"},
		{name: "expand segments", path: sessionsPath("v1.0", seedID) + "?$expand=segments"},
		{name: "select", path: sessionsPath("v1.0", seedID) + "?$select=id,startDateTime,caller"},
		{name: "select and expand with nested select", path: sessionsPath("beta", meetingID) + "?$select=modalities,id&$expand=segments($select=id,failureInfo)"},
		{name: "beta takes options without dollar", path: sessionsPath("beta", meetingID) + "?select=id&expand=segments"},
		{name: "omit nulls", path: sessionsPath("v1.0", meetingID) + "?$expand=segments", headers: map[string]string{"Prefer": "omit-values=nulls"}},
		{name: "unknown enum members included", path: sessionsPath("v1.0", meetingID) + "?$select=id,caller", headers: map[string]string{"Prefer": "include-unknown-enum-members, omit-values=nulls"}},
		{name: "first page", path: sessionsPath("v1.0", meetingID) + "?$select=id", headers: map[string]string{"Prefer": "odata.maxpagesize=2"}},
		{name: "max page size above the cap", path: sessionsPath("v1.0", meetingID) + "?$select=id", headers: map[string]string{"Prefer": "odata.maxpagesize=1000"}},
		{name: "a record without sessions", path: sessionsPath("v1.0", emptyID)},
		{name: "client request id is echoed", path: sessionsPath("v1.0", emptyID), headers: map[string]string{"client-request-id": "7c6a4c1e-0d4b-4b53-9f4a-1c2d3e4f5a6b"}},
		{name: "the other tenant sees its own record", path: sessionsPath("v1.0", meetingID), headers: map[string]string{"Authorization": "Bearer " + f.token(t, auth.TokenOptions{Tenant: tenantB})}},
		{name: "HEAD", method: http.MethodHead, path: sessionsPath("v1.0", emptyID)},

		{name: "error no token", path: sessionsPath("v1.0", seedID), headers: map[string]string{"Authorization": ""}},
		{name: "error not bearer", path: sessionsPath("v1.0", seedID), headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}},
		{name: "error garbage token", path: sessionsPath("v1.0", seedID), headers: map[string]string{"Authorization": "Bearer not-a-token"}},
		{name: "error expired token", path: sessionsPath("v1.0", seedID), headers: map[string]string{"Authorization": "Bearer " + expired}},
		{name: "error wrong audience", path: sessionsPath("v1.0", seedID), headers: map[string]string{"Authorization": "Bearer " + f.token(t, auth.TokenOptions{Tenant: tenantA, Audience: "https://management.azure.com"})}},
		{name: "error delegated token", path: sessionsPath("v1.0", seedID), headers: map[string]string{"Authorization": "Bearer " + f.token(t, auth.TokenOptions{Tenant: tenantA, Delegated: true})}},
		{name: "error token without the role", path: sessionsPath("v1.0", seedID), headers: map[string]string{"Authorization": "Bearer " + f.token(t, auth.TokenOptions{Tenant: tenantA, Roles: []string{"User.Read.All"}})}},
		{name: "error unknown record", path: sessionsPath("v1.0", "no-such-record")},
		{name: "error another tenant's record", path: sessionsPath("v1.0", emptyID), headers: map[string]string{"Authorization": "Bearer " + f.token(t, auth.TokenOptions{Tenant: tenantB})}},
		{name: "error unknown select property", path: sessionsPath("v1.0", seedID) + "?$select=id,colour"},
		{name: "error select of a navigation property", path: sessionsPath("v1.0", seedID) + "?$select=segments"},
		{name: "error empty select", path: sessionsPath("v1.0", seedID) + "?$select="},
		{name: "error expand of a structural property", path: sessionsPath("v1.0", seedID) + "?$expand=caller"},
		{name: "error expand of an unknown property", path: sessionsPath("v1.0", seedID) + "?$expand=participants"},
		{name: "error unsupported option", path: sessionsPath("v1.0", seedID) + "?$top=5"},
		{name: "error filter", path: sessionsPath("v1.0", seedID) + "?$filter=isTest%20eq%20true"},
		{name: "error unknown dollar option", path: sessionsPath("v1.0", seedID) + "?$colour=red"},
		{name: "error repeated option", path: sessionsPath("v1.0", seedID) + "?$select=id&$select=caller"},
		{name: "error bad percent encoding", path: sessionsPath("v1.0", seedID) + "?$select=%zz"},
		{name: "error bad max page size", path: sessionsPath("v1.0", seedID), headers: map[string]string{"Prefer": "odata.maxpagesize=many"}},
		{name: "error zero max page size", path: sessionsPath("v1.0", seedID), headers: map[string]string{"Prefer": "odata.maxpagesize=0"}},
		{name: "error garbage skiptoken", path: sessionsPath("v1.0", meetingID) + "?$skiptoken=abc"},
		{name: "error unknown segment", path: "/v1.0/communications/callRecords/" + seedID + "/colours"},
		{name: "error unknown root", path: "/v1.0/users"},
		{name: "error unknown version", path: "/v2.0/communications/callRecords/" + seedID + "/sessions"},
		{name: "error POST", method: http.MethodPost, path: sessionsPath("v1.0", seedID)},
		{name: "the record itself", path: "/v1.0/communications/callRecords/" + seedID},
		{name: "beta expand segments of a meeting", path: sessionsPath("beta", meetingID) + "?$expand=segments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			golden(t, strings.ReplaceAll(tc.name, " ", "-"), render(t, f.do(t, method, tc.path, tc.headers)))
		})
	}
}

// walk follows next links from path and returns the session ids in order.
func (f *fixture) walk(t *testing.T, path string, headers map[string]string) (ids []string, pages int) {
	t.Helper()
	for path != "" {
		resp := f.do(t, http.MethodGet, path, headers)
		var page struct {
			Value []struct {
				ID       string            `json:"id"`
				Segments []json.RawMessage `json:"segments"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Value {
			ids = append(ids, s.ID)
		}
		pages++
		path = strings.TrimPrefix(page.NextLink, "https://graph.microsoft.com")
		if pages > 1000 {
			t.Fatal("the walk does not end")
		}
	}
	return ids, pages
}

func bigRecord(id string, sessions int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":%q,"version":1,"sessions":[`, id)
	for i := range sessions {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"s%04d","startDateTime":"2024-01-01T00:00:00Z","endDateTime":"2024-01-01T01:00:00Z","segments":[{"id":"g1","startDateTime":"2024-01-01T00:00:00Z","endDateTime":"2024-01-01T00:30:00Z"},{"id":"g2","startDateTime":"2024-01-01T00:30:00Z","endDateTime":"2024-01-01T01:00:00Z"}]}`, i)
	}
	b.WriteString("]}")
	return b.String()
}

func TestPagingReturnsEverySessionOnce(t *testing.T) {
	f := newFixture(t, nil)
	im := &ingest.Importer{Store: f.store, Tenant: tenantA}
	var stats ingest.Stats
	if err := im.Import(context.Background(), "big", strings.NewReader(bigRecord("big", 150)), &stats); err != nil || stats.Rejected > 0 {
		t.Fatal(err, stats)
	}
	for _, tc := range []struct {
		name    string
		path    string
		headers map[string]string
		pages   int
	}{
		{"pages of 60 by default", sessionsPath("v1.0", "big") + "?$expand=segments", nil, 3},
		{"pages of 7 when preferred", sessionsPath("beta", "big") + "?$select=id", map[string]string{"Prefer": "odata.maxpagesize=7"}, 22},
		{"one page of 150 cannot be asked for", sessionsPath("v1.0", "big"), map[string]string{"Prefer": "odata.maxpagesize=150"}, 3},
		{"the last page is full", sessionsPath("v1.0", "big"), map[string]string{"Prefer": "odata.maxpagesize=50"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, pages := f.walk(t, tc.path, tc.headers)
			if len(ids) != 150 || pages != tc.pages {
				t.Fatalf("got %d sessions in %d pages, want 150 in %d", len(ids), pages, tc.pages)
			}
			for i, id := range ids {
				if want := fmt.Sprintf("s%04d", i); id != want {
					t.Fatalf("session %d is %s, want %s", i, id, want)
				}
			}
		})
	}
}

func TestSkipTokensAreBoundToTheirRequest(t *testing.T) {
	f := newFixture(t, nil)
	resp := f.do(t, http.MethodGet, sessionsPath("v1.0", meetingID)+"?$select=id", map[string]string{"Prefer": "odata.maxpagesize=1"})
	var page struct {
		NextLink string `json:"@odata.nextLink"`
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	_, token, ok := strings.Cut(page.NextLink, "$skiptoken=")
	if !ok {
		t.Fatalf("no skiptoken in %q", page.NextLink)
	}
	tenantBToken := "Bearer " + f.token(t, auth.TokenOptions{Tenant: tenantB})
	tampered := []byte(token)
	tampered[3] ^= 1
	for _, tc := range []struct {
		name, path string
		headers    map[string]string
		status     int
	}{
		{"the same request goes on", sessionsPath("v1.0", meetingID) + "?$select=id&$skiptoken=" + token, nil, 200},
		{"another tenant's token on the same id", sessionsPath("v1.0", meetingID) + "?$select=id&$skiptoken=" + token, map[string]string{"Authorization": tenantBToken}, 400},
		{"another record", sessionsPath("v1.0", seedID) + "?$select=id&$skiptoken=" + token, nil, 400},
		{"another query", sessionsPath("v1.0", meetingID) + "?$select=id,caller&$skiptoken=" + token, nil, 400},
		{"another version", sessionsPath("beta", meetingID) + "?$select=id&$skiptoken=" + token, nil, 400},
		{"an altered token", sessionsPath("v1.0", meetingID) + "?$select=id&$skiptoken=" + string(tampered), nil, 400},
		{"an empty token", sessionsPath("v1.0", meetingID) + "?$select=id&$skiptoken=", nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(t, http.MethodGet, tc.path, tc.headers)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == 400 && !bytes.Contains(body, []byte(`"code":"BadRequest"`)) {
				t.Errorf("not Graph's error envelope: %s", body)
			}
		})
	}
}

// panicStore fails in the worst way, to show the server answers anyway.
// It drops the store's optional capabilities, so that ListSessions is
// called.
type panicStore struct{ callvault.Store }

func (panicStore) ListSessions(context.Context, callvault.SessionQuery) (*callvault.SessionPage, error) {
	panic("the store broke")
}

func TestAPanicIsA500InGraphsEnvelope(t *testing.T) {
	f := newFixture(t, func(s callvault.Store) callvault.Store { return panicStore{s} })
	golden(t, "error-panic", render(t, f.do(t, http.MethodGet, sessionsPath("v1.0", seedID), nil)))
}

func TestHeadersKeepGraphsSpelling(t *testing.T) {
	f := newFixture(t, nil)
	resp := f.do(t, http.MethodGet, sessionsPath("v1.0", emptyID), nil)
	resp.Body.Close()
	// The client canonicalizes names; the raw map of the server does not,
	// so ask a raw connection.
	raw := rawGET(t, f.server.URL, sessionsPath("v1.0", emptyID), "Bearer "+f.token(t, auth.TokenOptions{Tenant: tenantA}))
	for _, want := range []string{"\r\nrequest-id: ", "\r\nclient-request-id: ", "\r\nOData-Version: 4.0\r\n"} {
		if !strings.Contains(raw, want) {
			t.Errorf("response lacks %q:\n%s", want, raw)
		}
	}
}
