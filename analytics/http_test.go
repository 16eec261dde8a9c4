package analytics_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/sqlite"
)

func TestHTTPServesJSONAndCSVBehindTokensAndTenantWalls(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	load(t, st, generated(t, 60))
	signer, err := auth.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &analytics.Handler{Store: st, Auth: signer.Verifier(auth.VerifierOptions{}),
		Now: func() time.Time { return time.Date(2026, 8, 17, 0, 0, 0, 0, time.UTC) }}
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux) // 127.0.0.1
	defer srv.Close()
	token := func(tenant string, roles ...string) string {
		tok, err := signer.Mint(auth.TokenOptions{Tenant: tenant, Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	do := func(method, path, tok, body string) (int, string, http.Header) {
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	reader := token(tenant, auth.RoleCallRecordsReadAll)
	q := "/analytics/v1/streams?from=2026-08-03&to=2026-08-17&media=audio&by=day"

	status, body, _ := do("GET", q, reader, "")
	var res analytics.Result
	if status != 200 || json.Unmarshal([]byte(body), &res) != nil || len(res.Rows) == 0 || res.Total.Streams == 0 {
		t.Fatalf("JSON: %d %s", status, body)
	}
	status, body, hdr := do("GET", q+"&format=csv", reader, "")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if status != 200 || err != nil || hdr.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != len(res.Rows)+1 || rows[0][0] != "day" || rows[0][1] != "streams" {
		t.Fatalf("CSV: %d %v %q", status, err, body)
	}

	for _, tt := range []struct {
		name, method, path, tok, body string
		status                        int
	}{
		{"no token", "GET", q, "", "", 401},
		{"a token without the role", "GET", q, token(tenant, "Other.Role"), "", 403},
		{"an unknown dimension", "GET", q + ",nope", reader, "", 400},
		{"a bad range", "GET", "/analytics/v1/streams?from=2026-08-10&to=2026-08-01", reader, "", 400},
		{"an unknown resource", "GET", "/analytics/v1/nothing", reader, "", 404},
		{"no building file yet", "GET", "/analytics/v1/buildings", reader, "", 404},
		{"a reader may not upload", "PUT", "/analytics/v1/buildings", reader, buildingFile, 403},
		{"an overlapping file is refused", "PUT", "/analytics/v1/buildings", token(tenant, analytics.RoleFilesWrite), buildingFile + "10.1.0.0,X,16,X,,,,,,,,,0,0,0\n", 400},
		{"a good file is taken", "PUT", "/analytics/v1/buildings", token(tenant, analytics.RoleFilesWrite), buildingFile, 200},
		{"and read back", "GET", "/analytics/v1/buildings", reader, "", 200},
		{"another tenant has none", "GET", "/analytics/v1/buildings", token("other-tenant", auth.RoleCallRecordsReadAll), "", 404},
		{"dimensions are listed", "GET", "/analytics/v1/dimensions", reader, "", 200},
	} {
		status, body, _ := do(tt.method, tt.path, tt.tok, tt.body)
		if status != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, status, body, tt.status)
		} else if status >= 400 && !strings.Contains(body, `"error":{"code"`) {
			t.Errorf("%s: %s is not an error envelope", tt.name, body)
		}
	}
	// The same figures as Prometheus gauges, by a few bounded dimensions.
	status, body, hdr = do("GET", "/analytics/v1/metrics?window=336h", reader, "")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("metrics: %d %s", status, body)
	}
	for _, want := range []string{"# TYPE callvault_quality_audio_poor_call_percent gauge", `media="audio"`, `pstn="VoIP"`, `connection="wifi"`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	var all analytics.Result
	_, b, _ := do("GET", "/analytics/v1/streams?from=2026-08-03&to=2026-08-17", reader, "")
	json.Unmarshal([]byte(b), &all)
	if total := fmt.Sprintf(`callvault_quality_streams{tenant=%q,window_seconds="1209600"} %d`, tenant, all.Total.Streams); !strings.Contains(body, total+"\n") {
		t.Errorf("metrics lack %q:\n%.600s", total, body)
	}
	if status, _, _ := do("GET", "/analytics/v1/metrics?window=forever", reader, ""); status != 400 {
		t.Errorf("a bad window: %d", status)
	}

	// Another tenant's token sees none of this tenant's streams.
	status, body, _ = do("GET", q, token("other-tenant", auth.RoleCallRecordsReadAll), "")
	var other analytics.Result
	if status != 200 || json.Unmarshal([]byte(body), &other) != nil || other.Total.Streams != 0 || len(other.Rows) != 0 {
		t.Fatalf("another tenant: %d %s", status, body)
	}
	// With the file, buildings are a dimension.
	status, body, _ = do("GET", "/analytics/v1/streams?from=2026-08-03&to=2026-08-17&by=second.building", reader, "")
	if status != 200 || !strings.Contains(body, `"Building B"`) {
		t.Errorf("by building: %d %s", status, body)
	}
}
