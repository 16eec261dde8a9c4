package auth_test

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
)

// fakeEntra is a stand-in for Entra ID's login host on 127.0.0.1: per
// tenant a v2 and a v1 discovery document, and one key set, as Entra ID
// serves them. It never reaches the internet.
type fakeEntra struct {
	*httptest.Server
	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey // published, by kid
	domains map[string]string          // domain name → tenant id
	hits    map[string]int             // by path
	down    bool
}

func newFakeEntra(t *testing.T, tenants ...string) *fakeEntra {
	t.Helper()
	f := &fakeEntra{keys: map[string]*rsa.PrivateKey{}, domains: map[string]string{}, hits: map[string]int{}}
	for _, tid := range tenants {
		f.domains[tid] = tid
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeEntra) publish(kid string, key *rsa.PrivateKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[kid] = key
}

func (f *fakeEntra) hitCount(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func (f *fakeEntra) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeEntra) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits[r.URL.Path]++
	if f.down {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	segments := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if strings.HasSuffix(r.URL.Path, "/keys") {
		var set auth.JWKSet
		for kid, key := range f.keys {
			set.Keys = append(set.Keys, auth.NewJWK(kid, &key.PublicKey))
		}
		enc.Encode(set)
		return
	}
	tid, ok := f.domains[segments[0]]
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		enc.Encode(map[string]any{"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant '" + segments[0] + "' not found.\r\nTrace ID: x"})
		return
	}
	switch strings.Join(segments[1:], "/") {
	case "v2.0/.well-known/openid-configuration":
		enc.Encode(map[string]string{"issuer": f.URL + "/" + tid + "/v2.0", "jwks_uri": f.URL + "/" + tid + "/discovery/v2.0/keys"})
	case ".well-known/openid-configuration":
		enc.Encode(map[string]string{"issuer": "https://sts.windows.net/" + tid + "/", "jwks_uri": f.URL + "/common/discovery/keys"})
	default:
		http.NotFound(w, r)
	}
}

// clock is a settable time for the key cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const thirdTenant = "3c3c3c3c-3333-4333-8333-333333333333"

func TestEntraIssuers(t *testing.T) {
	entra := newFakeEntra(t, tenant, otherTenant, thirdTenant)
	entra.domains["contoso.example"] = otherTenant
	key := newKey(t)
	entra.publish("entra-1", key)
	cloud := auth.Cloud{Name: "test", LoginURL: entra.URL, GraphURL: "https://graph.microsoft.com"}
	clk := &clock{t: now}
	issuers, err := auth.EntraIssuers(cloud, []string{tenant, "contoso.example"}, auth.RemoteOptions{Now: clk.now, MinRefresh: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := issuers.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := issuers.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }})
	token := func(kid string, k *rsa.PrivateKey, edits map[string]any) string {
		return forge(t, map[string]any{"typ": "JWT", "alg": "RS256", "kid": kid, "x5t": kid}, with(edits), rs256(t, k))
	}
	v2 := func(tid string) map[string]any {
		return map[string]any{"iss": entra.URL + "/" + tid + "/v2.0", "tid": tid, "ver": "2.0", "aud": auth.GraphAppID, "appid": nil, "azp": app}
	}

	t.Run("a v1 token of a trusted tenant is accepted", func(t *testing.T) {
		p, err := v.Verify(token("entra-1", key, nil))
		if err != nil {
			t.Fatal(err)
		}
		want := &auth.Principal{Tenant: tenant, AppID: app, ObjectID: "9f1d7c1e-5b7a-4c53-9a0e-8f3b2d6c4e10", Roles: []string{auth.RoleCallRecordsReadAll}}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("principal %+v, want %+v", p, want)
		}
	})

	t.Run("a v2 token of a tenant named by its domain is accepted", func(t *testing.T) {
		p, err := v.Verify(token("entra-1", key, v2(otherTenant)))
		if err != nil {
			t.Fatal(err)
		}
		if p.Tenant != otherTenant || p.AppID != app {
			t.Errorf("principal %+v", p)
		}
	})

	t.Run("a Graph token, signed over its hashed header nonce, is accepted", func(t *testing.T) {
		const nonce = "AQABAAAAAAD--DLA3VO7QrddgJg7WevrQf5oTiwNHJvDYOMB5j2lNdrOK6SbBmLLgXaI3mlQm2cPtCGcPDW6RjM0"
		graph := func(signedNonce, sentNonce string) string {
			h := map[string]any{"typ": "JWT", "nonce": signedNonce, "alg": "RS256", "x5t": "entra-1", "kid": "entra-1"}
			parts := strings.Split(forge(t, h, appClaims(), rs256(t, key)), ".")
			h["nonce"] = sentNonce
			parts[0] = segment(t, h)
			return strings.Join(parts, ".")
		}
		sum := sha256.Sum256([]byte(nonce))
		hashed := base64.RawURLEncoding.EncodeToString(sum[:])
		if _, err := v.Verify(graph(hashed, nonce)); err != nil {
			t.Errorf("Graph's form: %v", err)
		}
		if _, err := v.Verify(graph(nonce, nonce)); err != nil {
			t.Errorf("a nonce signed as it is: %v", err)
		}
		_, err := v.Verify(graph(hashed, nonce+"x"))
		wantError(t, err, callvault.EUNAUTHORIZED, "Signature validation failed: the signature does not match signing key 'entra-1'; "+
			"the token was altered or signed with another key.")
	})

	bad := []struct {
		name    string
		token   string
		message string
	}{
		{
			name:    "a token of a tenant this server does not trust is refused, though Entra ID signed it",
			token:   token("entra-1", key, map[string]any{"iss": "https://sts.windows.net/" + thirdTenant + "/", "tid": thirdTenant}),
			message: "Access token validation failure. Invalid tenant. This server does not accept tokens of tenant '" + thirdTenant + "'.",
		},
		{
			name:    "a v2 token of an untrusted tenant is refused",
			token:   token("entra-1", key, v2(thirdTenant)),
			message: "Access token validation failure. Invalid tenant. This server does not accept tokens of tenant '" + thirdTenant + "'.",
		},
		{
			name:  "a token whose tid is not its issuer's tenant is refused",
			token: token("entra-1", key, map[string]any{"iss": "https://sts.windows.net/" + otherTenant + "/"}),
			message: "Access token validation failure. Invalid issuer. The issuer's tenant '" + otherTenant +
				"' is not the token's tenant (tid claim) '" + tenant + "'.",
		},
		{
			name:    "a token of a trusted tenant from another cloud's issuer is refused",
			token:   token("entra-1", key, map[string]any{"iss": "https://login.microsoftonline.us/" + tenant + "/v2.0"}),
			message: "Access token validation failure. Invalid issuer. The issuer 'https://login.microsoftonline.us/" + tenant + "/v2.0' is not one this server trusts.",
		},
		{
			name:    "a token without tid is refused",
			token:   token("entra-1", key, map[string]any{"tid": nil}),
			message: "Access token validation failure. The token has no tenant id (tid claim).",
		},
		{
			name:  "a token signed by another key under Entra ID's kid is refused",
			token: token("entra-1", newKey(t), nil),
			message: "Signature validation failed: the signature does not match signing key 'entra-1'; " +
				"the token was altered or signed with another key.",
		},
		{
			name:  "a token for another audience is refused",
			token: token("entra-1", key, map[string]any{"aud": "https://management.azure.com"}),
			message: "Access token validation failure. Invalid audience. The token's audience is 'https://management.azure.com'; " +
				"this server accepts 'https://graph.microsoft.com' or '00000003-0000-0000-c000-000000000000'.",
		},
		{
			name:    "alg none is refused",
			token:   forge(t, map[string]any{"alg": "none", "kid": "entra-1"}, appClaims(), func(string) []byte { return nil }),
			message: "The token's signing algorithm 'none' is not accepted; tokens must be signed with RS256.",
		},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(tt.token)
			if p != nil {
				t.Errorf("principal %+v", p)
			}
			wantError(t, err, callvault.EUNAUTHORIZED, tt.message)
		})
	}

	t.Run("an unknown kid fetches the keys again, at most once per MinRefresh", func(t *testing.T) {
		keysPath := "/" + tenant + "/discovery/v2.0/keys"
		before := entra.hitCount(keysPath) + entra.hitCount("/common/discovery/keys")
		fetches := func() int { return entra.hitCount(keysPath) + entra.hitCount("/common/discovery/keys") - before }

		// Entra ID rolls its keys: a token with the new kid comes first.
		rolled := newKey(t)
		entra.publish("entra-2", rolled)
		clk.advance(2 * time.Minute)
		if _, err := v.Verify(token("entra-2", rolled, nil)); err != nil {
			t.Fatalf("a token of the rolled key: %v", err)
		}
		if fetches() != 1 {
			t.Errorf("%d key fetches for the rolled key, want 1", fetches())
		}
		// Forged kids within MinRefresh fetch nothing.
		for i := range 5 {
			_, err := v.Verify(token("forged-"+string(rune('a'+i)), newKeyOnce(t), nil))
			if callvault.ErrorCode(err) != callvault.EUNAUTHORIZED {
				t.Fatalf("forged kid: %v", err)
			}
		}
		if fetches() != 1 {
			t.Errorf("%d key fetches after forged kids, want still 1", fetches())
		}
		clk.advance(time.Minute)
		v.Verify(token("forged-z", newKeyOnce(t), nil))
		if fetches() != 2 {
			t.Errorf("%d key fetches once MinRefresh has passed, want 2", fetches())
		}
	})

	t.Run("keys are fetched again after MaxAge, and kept if that fails", func(t *testing.T) {
		entra.setDown(true)
		defer entra.setDown(false)
		clk.advance(25 * time.Hour)
		if _, err := v.Verify(token("entra-1", key, nil)); err != nil {
			t.Errorf("with the issuer down, keys fetched a day ago: %v", err)
		}
	})

	t.Run("a misspelt tenant is a 4xx FetchError from Refresh", func(t *testing.T) {
		is, err := auth.EntraIssuers(cloud, []string{"contoso.invalid"}, auth.RemoteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = is.Refresh(context.Background())
		var fe *auth.FetchError
		if !errors.As(err, &fe) || fe.StatusCode != 400 || fe.Detail != "AADSTS90002: Tenant 'contoso.invalid' not found." {
			t.Errorf("Refresh = %v, want a FetchError with Entra's description", err)
		}
	})

	t.Run("multi-tenant names and plain http elsewhere than loopback are refused", func(t *testing.T) {
		if _, err := auth.EntraIssuers(cloud, []string{"common"}, auth.RemoteOptions{}); err == nil {
			t.Error("common was accepted")
		}
		if _, err := auth.EntraIssuers(cloud, nil, auth.RemoteOptions{}); err == nil {
			t.Error("no tenants was accepted")
		}
		if _, err := auth.EntraIssuers(auth.Cloud{LoginURL: "http://login.example.com"}, []string{tenant}, auth.RemoteOptions{}); err == nil {
			t.Error("http login host was accepted")
		}
		if _, err := auth.OIDCIssuer("http://issuer.example.com", nil, auth.RemoteOptions{}); err == nil {
			t.Error("http issuer was accepted")
		}
	})
}

var spareKey struct {
	once sync.Once
	key  *rsa.PrivateKey
}

// newKeyOnce returns one extra key for the whole test binary: forged tokens
// need a key, not a fresh one each.
func newKeyOnce(t *testing.T) *rsa.PrivateKey {
	spareKey.once.Do(func() { spareKey.key = newKey(t) })
	return spareKey.key
}

func TestIssuerUnreachableAtStart(t *testing.T) {
	entra := newFakeEntra(t, tenant)
	key := newKey(t)
	entra.publish("k", key)
	entra.setDown(true)
	clk := &clock{t: now}
	issuers, err := auth.EntraIssuers(auth.Cloud{LoginURL: entra.URL}, []string{tenant}, auth.RemoteOptions{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	var fe *auth.FetchError
	if err := issuers.Refresh(context.Background()); !errors.As(err, &fe) || fe.StatusCode != 503 {
		t.Fatalf("Refresh = %v, want HTTP 503", err)
	}
	v := issuers.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }})
	tok := forge(t, map[string]any{"alg": "RS256", "kid": "k"}, appClaims(), rs256(t, key))
	_, err = v.Verify(tok)
	wantError(t, err, callvault.EUNAUTHORIZED, "Access token validation failure. The signing keys of the issuers this server trusts "+
		"could not be fetched, so the token cannot be validated now; try again later.")

	entra.setDown(false)
	if _, err := v.Verify(tok); err == nil {
		t.Error("accepted before the retry interval: the issuer was asked again at once")
	}
	clk.advance(11 * time.Second)
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("once the issuer is back: %v", err)
	}
}

func TestOIDCIssuer(t *testing.T) {
	key := newKey(t)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	issuerURL := srv.URL + "/realms/callvault"
	mux.HandleFunc("/realms/callvault/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": issuerURL, "jwks_uri": srv.URL + "/certs"})
	})
	mux.HandleFunc("/certs", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(auth.JWKSet{Keys: []auth.JWK{auth.NewJWK("oidc-1", &key.PublicKey), {KeyType: "EC", KeyID: "ec"}}})
	})
	oidcToken := func(edits map[string]any) string {
		c := with(map[string]any{"iss": issuerURL, "tid": nil, "appid": nil, "azp": "reporting-service"})
		for k, v := range edits {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return forge(t, map[string]any{"alg": "RS256", "kid": "oidc-1"}, c, rs256(t, key))
	}
	verifier := func(tenants ...string) *auth.Verifier {
		is, err := auth.OIDCIssuer(issuerURL+"/", tenants, auth.RemoteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return is.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }})
	}

	t.Run("a token without tid belongs to the one tenant configured", func(t *testing.T) {
		p, err := verifier(tenant).Verify(oidcToken(nil))
		if err != nil {
			t.Fatal(err)
		}
		if p.Tenant != tenant || p.AppID != "reporting-service" {
			t.Errorf("principal %+v", p)
		}
	})
	t.Run("a token's tid must be a configured tenant", func(t *testing.T) {
		if _, err := verifier(tenant, otherTenant).Verify(oidcToken(map[string]any{"tid": otherTenant})); err != nil {
			t.Error(err)
		}
		_, err := verifier(tenant, otherTenant).Verify(oidcToken(map[string]any{"tid": thirdTenant}))
		wantError(t, err, callvault.EUNAUTHORIZED, "Access token validation failure. Invalid tenant. This server does not accept tokens of tenant '"+thirdTenant+"'.")
	})
	t.Run("without tid and without one tenant, the token is refused", func(t *testing.T) {
		_, err := verifier().Verify(oidcToken(nil))
		wantError(t, err, callvault.EUNAUTHORIZED, "Access token validation failure. The token has no tenant id (tid claim), "+
			"and this server is not set up with the one tenant its issuer's tokens belong to.")
	})
	t.Run("another issuer is refused", func(t *testing.T) {
		_, err := verifier(tenant).Verify(oidcToken(map[string]any{"iss": srv.URL + "/realms/other"}))
		wantError(t, err, callvault.EUNAUTHORIZED, "Access token validation failure. Invalid issuer. The issuer '"+srv.URL+"/realms/other' is not one this server trusts.")
	})
}
