package ui_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/ui"
)

// fakeIssuer is an OpenID Connect provider on the loopback interface: it
// signs in whoever asks, as a user of tenant, and checks PKCE as a real
// one does. Edits change the ID token's claims, to test refusals.
type fakeIssuer struct {
	*httptest.Server
	key      *rsa.PrivateKey
	clientID string
	tenant   string

	mu     sync.Mutex
	codes  map[string]url.Values // the authorization request of each code
	edits  map[string]any
	authzQ url.Values
}

func newFakeIssuer(t *testing.T, clientID, tenant string) *fakeIssuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIssuer{key: key, clientID: clientID, tenant: tenant, codes: map[string]url.Values{}}
	mux := http.NewServeMux()
	f.Server = httptest.NewServer(mux) // 127.0.0.1
	t.Cleanup(f.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": f.URL, "jwks_uri": f.URL + "/keys",
			"authorization_endpoint": f.URL + "/authorize", "token_endpoint": f.URL + "/token"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(auth.JWKSet{Keys: []auth.JWK{auth.NewJWK("k1", &key.PublicKey)}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f.mu.Lock()
		f.authzQ = q
		code := base64.RawURLEncoding.EncodeToString([]byte(q.Get("state")))
		f.codes[code] = q
		f.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f.mu.Lock()
		authz, ok := f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code"))
		edits := f.edits
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || r.PostForm.Get("client_id") != clientID || r.PostForm.Get("redirect_uri") != authz.Get("redirect_uri") ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != authz.Get("code_challenge") {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		now := time.Now()
		claims := map[string]any{"iss": f.URL, "aud": clientID, "sub": "user-1", "tid": tenant, "nonce": authz.Get("nonce"),
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "name": "Ada"}
		for k, v := range edits {
			claims[k] = v
		}
		json.NewEncoder(w).Encode(map[string]string{"id_token": f.sign(t, claims), "token_type": "Bearer"})
	})
	return f
}

func (f *fakeIssuer) sign(t *testing.T, claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	head := enc(map[string]string{"alg": "RS256", "kid": "k1", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(head))
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return head + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestOIDCSignIn(t *testing.T) {
	const tenant = "5b0d7c1e-8a11-4f6e-9c2d-3e4f5a6b7c8d"
	issuer := newFakeIssuer(t, "callvault-ui", tenant)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	signer, err := auth.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	issuers, err := auth.OIDCIssuer(issuer.URL, []string{tenant}, auth.RemoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux) // 127.0.0.1
	t.Cleanup(hs.Close)
	web := &ui.Server{Store: st, Quality: st, Signer: signer,
		OIDC: &ui.OIDC{Issuer: issuer.URL, Issuers: issuers, ClientID: "callvault-ui", RedirectURL: hs.URL + "/ui/oidc/callback"}}
	if err := web.Mount(mux); err != nil {
		t.Fatal(err)
	}
	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: time.Minute}
	}

	t.Run("a page sends the browser through the issuer and back, signed in", func(t *testing.T) {
		c := browser()
		res, err := c.Get(hs.URL + "/ui/breakdown?by=second.platform")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/ui/breakdown" {
			t.Fatalf("ended at %s with %s", res.Request.URL, res.Status)
		}
		q := issuer.authzQ
		if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") {
			t.Errorf("authorization request %v", q)
		}
		u, _ := url.Parse(hs.URL + "/ui/")
		if len(c.Jar.Cookies(u)) != 1 {
			t.Errorf("cookies %v", c.Jar.Cookies(u))
		}
	})

	refused := func(t *testing.T, edits map[string]any) {
		t.Helper()
		issuer.mu.Lock()
		issuer.edits = edits
		issuer.mu.Unlock()
		defer func() { issuer.mu.Lock(); issuer.edits = nil; issuer.mu.Unlock() }()
		res, err := browser().Get(hs.URL + "/ui/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("with %v: %s at %s", edits, res.Status, res.Request.URL)
		}
	}
	t.Run("another tenant is refused", func(t *testing.T) { refused(t, map[string]any{"tid": "11111111-2222-3333-4444-555555555555"}) })
	t.Run("another audience is refused", func(t *testing.T) { refused(t, map[string]any{"aud": "someone-else"}) })
	t.Run("another nonce is refused", func(t *testing.T) { refused(t, map[string]any{"nonce": "replayed"}) })
	t.Run("an expired token is refused", func(t *testing.T) {
		refused(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "nbf": time.Now().Add(-2 * time.Hour).Unix()})
	})

	t.Run("a callback without its sign-in is refused", func(t *testing.T) {
		res, err := browser().Get(hs.URL + "/ui/oidc/callback?state=forged&code=x")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s", res.Status)
		}
	})
}
