package issuer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/issuer"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/sqlite"
)

const (
	tenant      = "5b7e0c4a-3f1d-4e2a-9b8c-7d6e5f4a3b2c"
	otherTenant = "0b6c2a54-6c3f-4a36-b2a8-3d1c9e6f1b11"
	correlation = "6d2b4f1e-8a9c-4e3b-b7d5-1f0a2c3e4d5b"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is the development issuer behind the Graph server, as serve runs
// them, with two registered apps.
type fixture struct {
	url                  string
	handler              http.Handler // what url serves, for requests in process
	signer               *auth.Signer
	data                 string
	app, noRoles, expiry auth.App
	secret, noRolesSec   string
	expirySecret         string
	clock                time.Time
}

func newFixture(t testing.TB, tenants ...string) *fixture {
	t.Helper()
	f := &fixture{data: t.TempDir(), clock: now}
	var err error
	if f.signer, err = auth.LoadOrCreateSigner(f.data); err != nil {
		t.Fatal(err)
	}
	apps := auth.OpenApps(filepath.Join(f.data, auth.AppsFile))
	if f.app, f.secret, err = apps.Add(auth.NewApp{Tenant: tenant, Name: "reader", Roles: []string{auth.RoleCallRecordsReadAll}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if f.noRoles, f.noRolesSec, err = apps.Add(auth.NewApp{Tenant: tenant, Name: "no roles", Now: now}); err != nil {
		t.Fatal(err)
	}
	if f.expiry, f.expirySecret, err = apps.Add(auth.NewApp{Tenant: tenant, Name: "expired", SecretTTL: time.Minute, Now: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(f.data, "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dev := &issuer.Issuer{Signer: f.signer, Apps: apps, Tenants: tenants, Now: func() time.Time { return f.clock }}
	srv := &graph.Server{
		Store:   db,
		Auth:    f.signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return f.clock }}),
		Cursors: odata.Cursors{Key: make([]byte, 32)},
		Extra:   dev.Routes(),
	}
	f.handler = srv.Handler()
	hs := httptest.NewServer(f.handler)
	t.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (f *fixture) do(t *testing.T, method, path string, form url.Values, edit func(*http.Request)) response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("client-request-id", correlation)
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("HTTP %d, not JSON: %s", resp.StatusCode, raw)
	}
	return r
}

func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) credentials(scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {f.app.ClientID}, "client_secret": {f.secret}, "scope": {scope}}
}

func TestTokenEndpoint(t *testing.T) {
	f := newFixture(t)
	tokenPath := "/" + tenant + "/oauth2/v2.0/token"

	t.Run("client credentials get a Graph token, as from Entra ID", func(t *testing.T) {
		// MSAL adds openid, offline_access and profile to every request.
		r := f.do(t, http.MethodPost, tokenPath, f.credentials("https://graph.microsoft.com/.default openid offline_access profile"), nil)
		if r.status != 200 {
			t.Fatalf("HTTP %d %v", r.status, r.body)
		}
		if r.body["token_type"] != "Bearer" || r.body["expires_in"] != 3599.0 || r.body["ext_expires_in"] != 3599.0 || len(r.body) != 4 {
			t.Errorf("response %v", r.body)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store, no-cache" {
			t.Errorf("Cache-Control %q", cc)
		}
		token := r.body["access_token"].(string)
		c := claimsOf(t, token)
		if c["aud"] != auth.GraphResource || c["appid"] != f.app.ClientID || c["tid"] != tenant ||
			c["iss"] != "https://sts.windows.net/"+tenant+"/" || !reflect.DeepEqual(c["roles"], []any{auth.RoleCallRecordsReadAll}) ||
			c["exp"] != float64(now.Add(time.Hour).Unix()) {
			t.Errorf("claims %v", c)
		}
		// The API takes it.
		req, _ := http.NewRequest(http.MethodGet, f.url+"/v1.0/communications/callRecords/x/sessions", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("the API answered %d to the token, want 404 for an unknown record", resp.StatusCode)
		}
	})

	t.Run("client_secret_basic works too", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}}
		r := f.do(t, http.MethodPost, tokenPath, form, func(req *http.Request) {
			req.SetBasicAuth(url.QueryEscape(f.app.ClientID), url.QueryEscape(f.secret))
		})
		if r.status != 200 {
			t.Fatalf("HTTP %d %v", r.status, r.body)
		}
	})

	t.Run("Graph's app id as the resource is the token's audience", func(t *testing.T) {
		r := f.do(t, http.MethodPost, tokenPath, f.credentials(auth.GraphAppID+"/.default"), nil)
		if r.status != 200 || claimsOf(t, r.body["access_token"].(string))["aud"] != auth.GraphAppID {
			t.Errorf("HTTP %d %v", r.status, r.body)
		}
	})

	t.Run("an app without roles gets a token without roles", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {f.noRoles.ClientID}, "client_secret": {f.noRolesSec}, "scope": {"https://graph.microsoft.com/.default"}}
		r := f.do(t, http.MethodPost, tokenPath, form, nil)
		if r.status != 200 {
			t.Fatalf("HTTP %d %v", r.status, r.body)
		}
		if c := claimsOf(t, r.body["access_token"].(string)); c["roles"] != nil {
			t.Errorf("roles %v", c["roles"])
		}
	})

	t.Run("the v1 endpoint takes a resource and answers with strings", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {f.app.ClientID}, "client_secret": {f.secret}, "resource": {"https://graph.microsoft.com"}}
		r := f.do(t, http.MethodPost, "/"+tenant+"/oauth2/token", form, nil)
		if r.status != 200 {
			t.Fatalf("HTTP %d %v", r.status, r.body)
		}
		if r.body["expires_in"] != "3599" || r.body["resource"] != "https://graph.microsoft.com" ||
			r.body["expires_on"] != "1772370000" || r.body["not_before"] != "1772366400" {
			t.Errorf("response %v", r.body)
		}
	})

	t.Run("a rotated key signs the next token", func(t *testing.T) {
		kid, err := auth.RotateSigningKey(f.data, now)
		if err != nil {
			t.Fatal(err)
		}
		r := f.do(t, http.MethodPost, tokenPath, f.credentials("https://graph.microsoft.com/.default"), nil)
		header, _ := base64.RawURLEncoding.DecodeString(strings.Split(r.body["access_token"].(string), ".")[0])
		if !strings.Contains(string(header), kid) {
			t.Errorf("token header %s, want kid %s", header, kid)
		}
	})
}

func TestTokenEndpointErrors(t *testing.T) {
	f := newFixture(t, tenant, otherTenant)
	tokenPath := "/" + tenant + "/oauth2/v2.0/token"
	good := func(edits map[string]string) url.Values {
		form := f.credentials("https://graph.microsoft.com/.default")
		for k, v := range edits {
			if v == "" {
				form.Del(k)
			} else {
				form.Set(k, v)
			}
		}
		return form
	}
	tests := []struct {
		name   string
		method string
		path   string
		form   url.Values
		edit   func(*http.Request)
		status int
		error  string
		code   int
		text   string // the start of the description after "AADSTSnnn: "
	}{
		{"GET is refused", http.MethodGet, tokenPath, nil, nil, 400, "invalid_request", 900561,
			"The endpoint only accepts POST, OPTIONS requests. Received a GET request."},
		{"a tenant not served", http.MethodPost, "/contoso.example/oauth2/v2.0/token", good(nil), nil, 400, "invalid_request", 90002,
			"Tenant 'contoso.example' not found."},
		{"no grant_type", http.MethodPost, tokenPath, good(map[string]string{"grant_type": ""}), nil, 400, "invalid_request", 900144,
			"The request body must contain the following parameter: 'grant_type'."},
		{"a JSON body", http.MethodPost, tokenPath, nil, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"grant_type":"client_credentials"}`))
			r.Header.Set("Content-Type", "application/json")
		}, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."},
		{"the password grant", http.MethodPost, tokenPath, good(map[string]string{"grant_type": "password"}), nil, 400, "unsupported_grant_type", 70003,
			"The app requested an unsupported grant type 'password'."},
		{"no client_id", http.MethodPost, tokenPath, good(map[string]string{"client_id": ""}), nil, 400, "invalid_request", 900144,
			"The request body must contain the following parameter: 'client_id'."},
		{"no scope", http.MethodPost, tokenPath, good(map[string]string{"scope": ""}), nil, 400, "invalid_request", 900144,
			"The request body must contain the following parameter: 'scope'."},
		{"a scope without /.default", http.MethodPost, tokenPath, good(map[string]string{"scope": "https://graph.microsoft.com/CallRecords.Read.All"}), nil, 400, "invalid_scope", 1002012,
			"The provided value for scope https://graph.microsoft.com/CallRecords.Read.All is not valid. Client credential flows must have a scope value with /.default"},
		{"two resources", http.MethodPost, tokenPath, good(map[string]string{"scope": "https://graph.microsoft.com/.default https://management.azure.com/.default"}), nil, 400, "invalid_scope", 28000,
			"Provided value for the input parameter scope is not valid because it contains more than one resource."},
		{"another resource", http.MethodPost, tokenPath, good(map[string]string{"scope": "https://management.azure.com/.default"}), nil, 400, "invalid_resource", 500011,
			"The resource principal named https://management.azure.com was not found in the tenant named " + tenant + "."},
		{"another cloud's Graph", http.MethodPost, tokenPath, good(map[string]string{"scope": "https://graph.microsoft.us/.default"}), nil, 400, "invalid_resource", 500011,
			"The resource principal named https://graph.microsoft.us was not found"},
		{"no secret", http.MethodPost, tokenPath, good(map[string]string{"client_secret": ""}), nil, 401, "invalid_client", 7000216,
			"'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."},
		{"a client assertion", http.MethodPost, tokenPath, good(map[string]string{"client_secret": "", "client_assertion": "eyJ.x.y"}), nil, 401, "invalid_client", 7000216,
			"'client_secret' is required for the 'client_credentials' grant type: callvault's development issuer does not take client assertions"},
		{"an unknown app", http.MethodPost, tokenPath, good(map[string]string{"client_id": "11111111-2222-4333-8444-555555555555"}), nil, 400, "unauthorized_client", 700016,
			"Application with identifier '11111111-2222-4333-8444-555555555555' was not found in the directory '" + tenant + "'."},
		{"another tenant's app", http.MethodPost, "/" + otherTenant + "/oauth2/v2.0/token", good(nil), nil, 400, "unauthorized_client", 700016,
			"Application with identifier '" + f.app.ClientID + "' was not found in the directory '" + otherTenant + "'."},
		{"a wrong secret", http.MethodPost, tokenPath, good(map[string]string{"client_secret": "not-the-secret"}), nil, 401, "invalid_client", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" + f.app.ClientID + "'."},
		{"the secret in the query string only", http.MethodPost, tokenPath + "?client_secret=" + url.QueryEscape(f.secret), good(map[string]string{"client_secret": ""}), nil, 401, "invalid_client", 7000216,
			"'client_assertion', 'client_secret' or 'request' is required"},
		{"an expired secret", http.MethodPost, tokenPath, good(map[string]string{"client_id": f.expiry.ClientID, "client_secret": f.expirySecret}), nil, 401, "invalid_client", 7000222,
			"The provided client secret keys for app '" + f.expiry.ClientID + "' are expired."},
		{"a body over 64 KiB", http.MethodPost, tokenPath, good(map[string]string{"padding": strings.Repeat("x", 70<<10)}), nil, 400, "invalid_request", 90023,
			"The request body must be application/x-www-form-urlencoded parameters of at most 64 KiB."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, tt.method, tt.path, tt.form, tt.edit)
			b := r.body
			if r.status != tt.status || b["error"] != tt.error || !reflect.DeepEqual(b["error_codes"], []any{float64(tt.code)}) {
				t.Fatalf("got %d %v %v, want %d %s [%d]", r.status, b["error"], b["error_codes"], tt.status, tt.error, tt.code)
			}
			desc, _ := b["error_description"].(string)
			prefix := "AADSTS" + itoa(tt.code) + ": " + tt.text
			if !strings.HasPrefix(desc, prefix) {
				t.Errorf("error_description:\n got %q\nwant it to start with %q", desc, prefix)
			}
			trace, _ := b["trace_id"].(string)
			ts, _ := b["timestamp"].(string)
			suffix := "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + correlation + "\r\nTimestamp: " + ts
			if !strings.HasSuffix(desc, suffix) || ts != "2026-03-01 12:00:00Z" {
				t.Errorf("error_description %q does not end with %q", desc, suffix)
			}
			if b["correlation_id"] != correlation || trace != r.header.Get("request-id") || trace != r.header.Get("x-ms-request-id") {
				t.Errorf("correlation_id %v, trace_id %v, request-id %q", b["correlation_id"], trace, r.header.Get("request-id"))
			}
			if b["error_uri"] != "https://login.microsoftonline.com/error?code="+itoa(tt.code) {
				t.Errorf("error_uri %v", b["error_uri"])
			}
			if keys := mapKeys(b); !slices.Equal(keys, []string{"correlation_id", "error", "error_codes", "error_description", "error_uri", "timestamp", "trace_id"}) {
				t.Errorf("members %v", keys)
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func mapKeys(m map[string]any) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestDiscovery(t *testing.T) {
	f := newFixture(t, tenant)
	base := f.url

	t.Run("the v2 document names this server, as MSAL requires", func(t *testing.T) {
		r := f.do(t, http.MethodGet, "/"+tenant+"/v2.0/.well-known/openid-configuration", nil, nil)
		if r.status != 200 {
			t.Fatalf("HTTP %d %v", r.status, r.body)
		}
		want := map[string]any{
			"issuer":                 base + "/" + tenant + "/v2.0",
			"token_endpoint":         base + "/" + tenant + "/oauth2/v2.0/token",
			"jwks_uri":               base + "/" + tenant + "/discovery/v2.0/keys",
			"authorization_endpoint": base + "/" + tenant + "/oauth2/v2.0/authorize",
			"msgraph_host":           "graph.microsoft.com",
			"cloud_instance_name":    "microsoftonline.com",
		}
		for k, v := range want {
			if r.body[k] != v {
				t.Errorf("%s = %v, want %v", k, r.body[k], v)
			}
		}
		if !reflect.DeepEqual(r.body["grant_types_supported"], []any{"client_credentials"}) ||
			!reflect.DeepEqual(r.body["id_token_signing_alg_values_supported"], []any{"RS256"}) {
			t.Errorf("document %v", r.body)
		}
	})

	t.Run("the v1 document names the issuer of Graph's v1 tokens", func(t *testing.T) {
		r := f.do(t, http.MethodGet, "/"+tenant+"/.well-known/openid-configuration", nil, nil)
		if r.body["issuer"] != "https://sts.windows.net/"+tenant+"/" || r.body["token_endpoint"] != base+"/"+tenant+"/oauth2/token" ||
			r.body["jwks_uri"] != base+"/common/discovery/keys" {
			t.Errorf("document %v", r.body)
		}
	})

	t.Run("the common document has Entra ID's placeholder", func(t *testing.T) {
		r := f.do(t, http.MethodGet, "/common/v2.0/.well-known/openid-configuration", nil, nil)
		if r.body["issuer"] != base+"/{tenantid}/v2.0" {
			t.Errorf("issuer %v", r.body["issuer"])
		}
	})

	t.Run("the key set lists every key, the rotated ones too", func(t *testing.T) {
		old := f.signer.KeyID()
		kid, err := auth.RotateSigningKey(f.data, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/" + tenant + "/discovery/v2.0/keys", "/common/discovery/keys"} {
			r := f.do(t, http.MethodGet, path, nil, nil)
			var kids []string
			for _, k := range r.body["keys"].([]any) {
				kids = append(kids, k.(map[string]any)["kid"].(string))
			}
			if !slices.Equal(kids, []string{old, kid}) {
				t.Errorf("%s: kids %v, want %v", path, kids, []string{old, kid})
			}
		}
	})

	t.Run("a tenant not served is Entra ID's invalid_tenant", func(t *testing.T) {
		r := f.do(t, http.MethodGet, "/"+otherTenant+"/v2.0/.well-known/openid-configuration", nil, nil)
		if r.status != 400 || r.body["error"] != "invalid_tenant" || !strings.HasPrefix(r.body["error_description"].(string), "AADSTS90002: Tenant '"+otherTenant+"' not found.") {
			t.Errorf("HTTP %d %v", r.status, r.body)
		}
	})

	t.Run("POST is refused", func(t *testing.T) {
		r := f.do(t, http.MethodPost, "/"+tenant+"/discovery/v2.0/keys", url.Values{}, nil)
		if r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("HTTP %d %v", r.status, r.body)
		}
	})

	t.Run("other paths are still Graph's 404", func(t *testing.T) {
		r := f.do(t, http.MethodGet, "/"+tenant+"/oauth2/v2.0/authorize", nil, nil)
		if r.status != 404 || r.body["error"].(map[string]any)["code"] != "NotFound" {
			t.Errorf("HTTP %d %v", r.status, r.body)
		}
	})
}
