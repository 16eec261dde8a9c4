package main

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/tlsca"
	"github.com/golang-jwt/jwt/v5"
)

const idTenant = "5b7e0c4a-3f1d-4e2a-9b8c-7d6e5f4a3b2c"

// addApp registers an app with the binary and returns its client id and secret.
func addApp(t *testing.T, data string, args ...string) (clientID, secret string) {
	t.Helper()
	out, errs, status := runCLI(t, "", append([]string{"app", "add", "--data", data, "--tenant", idTenant}, args...)...)
	if status != 0 {
		t.Fatalf("app add: %d %s", status, errs)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "AZURE_CLIENT_ID="); ok {
			clientID = v
		}
		if v, ok := strings.CutPrefix(line, "AZURE_CLIENT_SECRET="); ok {
			secret = v
		}
	}
	if clientID == "" || len(secret) != 40 || !strings.Contains(out, "AZURE_TENANT_ID="+idTenant+"\n") {
		t.Fatalf("app add printed:\n%s", out)
	}
	return clientID, secret
}

// trusting returns the CA certificate of the PEM file caPath, as a pool, and
// an HTTP/1.1 client that trusts it alone.
func trusting(t *testing.T, caPath string) (*x509.CertPool, *http.Client) {
	t.Helper()
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", caPath)
	}
	return pool, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
}

// fetchToken runs the client credentials grant against a server.
func fetchToken(t *testing.T, client *http.Client, base, clientID, secret string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
		"scope": {"https://graph.microsoft.com/.default"}}
	resp, err := client.PostForm(base+"/"+idTenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func getWith(t *testing.T, client *http.Client, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestAppCommand(t *testing.T) {
	data := t.TempDir()
	clientID, secret := addApp(t, data, "--name", "dashboard", "--roles", "CallRecords.Read.All,CallRecord-PstnCalls.Read.All")
	raw, _ := os.ReadFile(filepath.Join(data, "apps.json"))
	if strings.Contains(string(raw), secret) {
		t.Error("apps.json holds the secret")
	}
	out, _, status := runCLI(t, "", "app", "list", "--data", data)
	if status != 0 || !strings.Contains(out, clientID) || !strings.Contains(out, "CallRecords.Read.All,CallRecord-PstnCalls.Read.All") ||
		!strings.Contains(out, secret[:3]+"…") || strings.Contains(out, secret) {
		t.Errorf("app list: %d\n%s", status, out)
	}
	if _, errs, status := runCLI(t, "", "app", "add", "--data", data, "--tenant", idTenant, "--name", "Dashboard"); status != 1 ||
		!strings.Contains(errs, "already has an app named 'dashboard'") {
		t.Errorf("a duplicate name: %d %s", status, errs)
	}
	if _, errs, status := runCLI(t, "", "app", "add", "--data", data, "--name", "x"); status != 2 || !strings.Contains(errs, "--tenant and --name") {
		t.Errorf("no tenant: %d %s", status, errs)
	}
	if _, errs, status := runCLI(t, "", "app", "frobnicate", "--data", data); status != 2 || !strings.Contains(errs, "use add, list or remove") {
		t.Errorf("unknown verb: %d %s", status, errs)
	}
	if out, errs, status := runCLI(t, "", "app", "remove", "--data", data, clientID); status != 0 || !strings.Contains(out, "Removed app \"dashboard\"") {
		t.Errorf("app remove: %d %s %s", status, out, errs)
	}
	if out, _, _ := runCLI(t, "", "app", "list", "--data", data); strings.Contains(out, clientID) {
		t.Errorf("the removed app is listed:\n%s", out)
	}
	if _, errs, status := runCLI(t, "", "app", "remove", "--data", data, clientID); status != 1 || !strings.Contains(errs, "No app has the client id") {
		t.Errorf("removing twice: %d %s", status, errs)
	}
}

func TestDevIssuerOverTLS(t *testing.T) {
	data := t.TempDir()
	if _, errs, status := runCLI(t, record("rec-1", 3), "import", "--data", data, "--tenant", idTenant, "-"); status != 0 {
		t.Fatalf("import: %s", errs)
	}
	clientID, secret := addApp(t, data, "--name", "reader")
	serverURL, _ := serve(t, "--data", data, "--tls", "auto")
	if !strings.HasPrefix(serverURL, "https://127.0.0.1:") {
		t.Fatalf("serve --tls auto listens on %s", serverURL)
	}
	caPath, errs, status := runCLI(t, "", "ca", "--data", data)
	caPath = strings.TrimSpace(caPath)
	if status != 0 || caPath != filepath.Join(data, "tls", "ca.pem") {
		t.Fatalf("ca: %d %q %s", status, caPath, errs)
	}
	pool, client := trusting(t, caPath)
	base := "https://localhost:" + serverURL[strings.LastIndex(serverURL, ":")+1:]

	t.Run("the certificate is good for localhost and 127.0.0.1", func(t *testing.T) {
		for _, u := range []string{base, serverURL} {
			if status, body := getWith(t, client, u+"/"+idTenant+"/v2.0/.well-known/openid-configuration", ""); status != 200 {
				t.Errorf("%s: %d %s", u, status, body)
			}
		}
	})

	t.Run("an app gets a token and lists sessions over https", func(t *testing.T) {
		status, body := fetchToken(t, client, base, clientID, secret)
		if status != 200 {
			t.Fatalf("token: %d %v", status, body)
		}
		token, _ := body["access_token"].(string)
		status, page := getWith(t, client, base+"/v1.0/communications/callRecords/rec-1/sessions", token)
		var p struct {
			Context string            `json:"@odata.context"`
			Value   []json.RawMessage `json:"value"`
		}
		json.Unmarshal(page, &p)
		if status != 200 || len(p.Value) != 3 || !strings.HasPrefix(p.Context, base+"/v1.0/") {
			t.Errorf("sessions: %d %s", status, page)
		}
	})

	t.Run("a wrong secret is Entra ID's AADSTS7000215", func(t *testing.T) {
		status, body := fetchToken(t, client, base, clientID, "wrong")
		if desc, _ := body["error_description"].(string); status != 401 || body["error"] != "invalid_client" || !strings.HasPrefix(desc, "AADSTS7000215: ") {
			t.Errorf("%d %v", status, body)
		}
	})

	t.Run("HTTP/2 is served, and the issuer sees https", func(t *testing.T) {
		h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
		// At 127.0.0.1, not the public URL's host, the issuer's scheme comes from r.TLS.
		for name, c := range map[string]*http.Client{"HTTP/2.0": h2, "HTTP/1.1": client} {
			resp, err := c.Get(serverURL + "/" + idTenant + "/v2.0/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				TokenEndpoint string `json:"token_endpoint"`
			}
			json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if resp.Proto != name || !strings.HasPrefix(doc.TokenEndpoint, serverURL+"/") {
				t.Errorf("%s: served as %s, token endpoint %q", name, resp.Proto, doc.TokenEndpoint)
			}
		}
	})

	t.Run("net/http's own errors come in Graph's envelope, over https and to plain http", func(t *testing.T) {
		host := serverURL[len("https://"):]
		for name, dial := range map[string]func() (net.Conn, error){
			"a request without Host over https": func() (net.Conn, error) {
				return tls.Dial("tcp", host, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
			},
			"plain http to the https port": func() (net.Conn, error) { return net.Dial("tcp", host) },
		} {
			conn, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			request := "GET /v1.0/communications/callRecords HTTP/1.1\r\nHost: x\r\n\r\n"
			if _, ok := conn.(*tls.Conn); ok {
				request = "GET /v1.0/communications/callRecords HTTP/1.1\r\n\r\n"
			}
			io.WriteString(conn, request)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			conn.Close()
			if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"code":"BadRequest"`) {
				t.Errorf("%s: %d %s %s", name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
	})

	t.Run("callvault token tokens still work", func(t *testing.T) {
		token, _, _ := runCLI(t, "", "token", "--data", data, "--tenant", idTenant)
		if status, body := getWith(t, client, base+"/v1.0/communications/callRecords/rec-1/sessions", strings.TrimSpace(token)); status != 200 {
			t.Errorf("%d %s", status, body)
		}
	})
}

func TestKeysRotateWhileServing(t *testing.T) {
	data := t.TempDir()
	if _, errs, status := runCLI(t, record("rec-1", 1), "import", "--data", data, "--tenant", idTenant, "-"); status != 0 {
		t.Fatalf("import: %s", errs)
	}
	serverURL, _ := serve(t, "--data", data)
	mint := func() string {
		out, errs, status := runCLI(t, "", "token", "--data", data, "--tenant", idTenant)
		if status != 0 {
			t.Fatalf("token: %s", errs)
		}
		return strings.TrimSpace(out)
	}
	sessions := serverURL + "/v1.0/communications/callRecords/rec-1/sessions"
	kidOf := func(token string) string {
		tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Header["kid"].(string)
	}

	before := mint()
	newKid, errs, status := runCLI(t, "", "keys", "rotate", "--data", data)
	newKid = strings.TrimSpace(newKid)
	if status != 0 || newKid == "" || newKid == kidOf(before) {
		t.Fatalf("keys rotate: %d %q %s", status, newKid, errs)
	}
	after := mint()
	if kidOf(after) != newKid {
		t.Errorf("a token minted after the rotation has kid %s, want %s", kidOf(after), newKid)
	}
	for name, token := range map[string]string{"old key": before, "new key": after} {
		if status, body := get(t, sessions, token); status != 200 {
			t.Errorf("a token of the %s: %d %s", name, status, body)
		}
	}
	status, body := get(t, serverURL+"/"+idTenant+"/discovery/v2.0/keys", "")
	if status != 200 || !strings.Contains(string(body), kidOf(before)) || !strings.Contains(string(body), newKid) {
		t.Errorf("the key set does not list both keys: %d %s", status, body)
	}
	out, _, _ := runCLI(t, "", "keys", "list", "--data", data)
	if !strings.Contains(out, kidOf(before)+"  ") || !strings.Contains(out, newKid) || !strings.Contains(out, "signs and verifies") {
		t.Errorf("keys list:\n%s", out)
	}
	if _, errs, status := runCLI(t, "", "keys", "remove", "--data", data, "--", newKid); status != 1 || !strings.Contains(errs, "rotate to a new key before removing it") {
		t.Errorf("removing the signing key: %d %s", status, errs)
	}
	if _, errs, status := runCLI(t, "", "keys", "remove", "--data", data, "--", kidOf(before)); status != 0 {
		t.Fatalf("keys remove: %s", errs)
	}
	if status, body := get(t, sessions, before); status != 401 || !strings.Contains(string(body), "no signing key with kid") {
		t.Errorf("a token of the removed key: %d %s", status, body)
	}
}

func TestServeTrustsAnOIDCIssuer(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	issuer := httptest.NewServer(mux)
	defer issuer.Close()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": issuer.URL, "jwks_uri": issuer.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(auth.JWKSet{Keys: []auth.JWK{auth.NewJWK("idp-key", &key.PublicKey)}})
	})
	sign := func(claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "idp-key"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(tid string) jwt.MapClaims {
		c := jwt.MapClaims{"iss": issuer.URL, "aud": "https://graph.microsoft.com", "exp": time.Now().Add(time.Hour).Unix(),
			"azp": "reporting", "roles": []string{"CallRecords.Read.All"}}
		if tid != "" {
			c["tid"] = tid
		}
		return c
	}

	data := t.TempDir()
	if _, errs, status := runCLI(t, record("rec-1", 1), "import", "--data", data, "--tenant", idTenant, "-"); status != 0 {
		t.Fatalf("import: %s", errs)
	}
	serverURL, _ := serve(t, "--data", data, "--issuer", "oidc", "--issuer-url", issuer.URL, "--tenant", idTenant)
	sessions := serverURL + "/v1.0/communications/callRecords/rec-1/sessions"

	if status, body := get(t, sessions, sign(claims(""))); status != 200 {
		t.Errorf("a token of the issuer without tid: %d %s", status, body)
	}
	if status, body := get(t, sessions, sign(claims("0b6c2a54-6c3f-4a36-b2a8-3d1c9e6f1b11"))); status != 401 || !strings.Contains(string(body), "Invalid tenant") {
		t.Errorf("a token of another tenant: %d %s", status, body)
	}
	devToken, _, _ := runCLI(t, "", "token", "--data", data, "--tenant", idTenant)
	if status, body := get(t, sessions, strings.TrimSpace(devToken)); status != 401 {
		t.Errorf("a development token in oidc mode: %d %s", status, body)
	}
	if status, _ := get(t, serverURL+"/"+idTenant+"/discovery/v2.0/keys", ""); status != 404 {
		t.Errorf("the development issuer's key set is served in oidc mode: %d", status)
	}
}

func TestServeIdentityFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--issuer", "entra"}, "--issuer entra needs --tenant"},
		{[]string{"--issuer", "entra", "--tenant", "common"}, "stands for many tenants"},
		{[]string{"--issuer", "oidc"}, "--issuer oidc needs --issuer-url"},
		{[]string{"--issuer", "oidc", "--issuer-url", "http://idp.example.com"}, "not an https URL"},
		{[]string{"--issuer", "google"}, "use dev, entra or oidc"},
		{[]string{"--issuer-url", "https://idp.example.com"}, "--issuer-url goes with --issuer oidc"},
		{[]string{"--cloud", "mars"}, "use global, usgov, dod or china"},
		{[]string{"--tls", "yes"}, "--tls \"yes\""},
		{[]string{"--tls", "auto", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "--tls auto makes its own certificate"},
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
	} {
		_, errs, status := runCLI(t, "", append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, tc.args...)...)
		if status != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("serve %s: exit %d, %s\nwant exit 2 and %q", strings.Join(tc.args, " "), status, errs, tc.want)
		}
	}
}

func TestCloudSetsThePublicURL(t *testing.T) {
	data := t.TempDir()
	if _, errs, status := runCLI(t, record("rec-1", 1), "import", "--data", data, "--tenant", idTenant, "-"); status != 0 {
		t.Fatalf("import: %s", errs)
	}
	serverURL, _ := serve(t, "--data", data, "--cloud", "usgov")
	token, _, _ := runCLI(t, "", "token", "--data", data, "--tenant", idTenant)
	status, body := get(t, serverURL+"/v1.0/communications/callRecords/rec-1/sessions", strings.TrimSpace(token))
	if status != 200 || !strings.Contains(string(body), `"@odata.context":"https://graph.microsoft.us/v1.0/`) {
		t.Errorf("%d %s", status, body)
	}
	// The development issuer gives US Government Graph tokens.
	clientID, secret := addApp(t, data, "--name", "gov")
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {"https://graph.microsoft.us/.default"}}
	resp, err := http.PostForm(serverURL+"/"+idTenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if status, body := get(t, serverURL+"/v1.0/communications/callRecords/rec-1/sessions", tok.AccessToken); status != 200 {
		t.Errorf("a graph.microsoft.us token: %d %s", status, body)
	}
}

func TestServeWithGivenCertificate(t *testing.T) {
	data := t.TempDir()
	cert, caPath, err := tlsca.DirCertificate(t.TempDir(), []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(data, "cert.pem")
	os.WriteFile(certFile, pemCert(cert.Leaf.Raw), 0o600)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	keyFile := filepath.Join(data, "key.pem")
	os.WriteFile(keyFile, pemBlock("PRIVATE KEY", keyDER), 0o600)

	serverURL, _ := serve(t, "--data", data, "--tls-cert", certFile, "--tls-key", keyFile)
	caPEM, _ := os.ReadFile(caPath)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if status, body := getWith(t, client, serverURL+"/v1.0/communications/callRecords/x/sessions", ""); status != 401 {
		t.Errorf("%d %s", status, body)
	}
	if _, err := os.Stat(filepath.Join(data, "tls")); err == nil {
		t.Error("a local CA was made although a certificate was given")
	}
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func pemCert(der []byte) []byte { return pemBlock("CERTIFICATE", der) }
