package issuer_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
)

// FuzzToken sends the issuer's endpoints whatever method, path, headers and
// body the fuzzer makes, in process, and holds every answer to what a
// client and the server's owner rely on: never a 5xx (a panic is one), JSON
// whenever the answer says it is JSON, Entra ID's error JSON on every other
// 4xx, and a token only for a request that carried a registered app's
// secret, for that app, that the API's verifier takes.
//
// In the fuzzed strings, {tenant}, {client} and {secret} stand for the
// fixture's tenant and its app's client id and secret, which are made anew
// each run. The request is parsed by http.ReadRequest from the bytes a
// client would send; what it refuses, net/http answers itself.
func FuzzToken(f *testing.F) {
	fx := newFixture(f)
	verifier := fx.signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return fx.clock }})
	secrets := map[string]string{fx.app.ClientID: fx.secret, fx.noRoles.ClientID: fx.noRolesSec, fx.expiry.ClientID: fx.expirySecret}
	fill := strings.NewReplacer("{tenant}", tenant, "{client}", fx.app.ClientID, "{secret}", fx.secret).Replace

	const form = "application/x-www-form-urlencoded"
	const v2 = "grant_type=client_credentials&client_id={client}&client_secret={secret}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
	for _, seed := range []struct{ method, path, contentType, body, basic string }{
		{"POST", "/{tenant}/oauth2/v2.0/token", form, v2, ""},
		{"POST", "/{tenant}/oauth2/v2.0/token", form, v2 + "+openid+profile", ""},
		{"POST", "/{tenant}/oauth2/token", form, "grant_type=client_credentials&client_id={client}&client_secret={secret}&resource=https%3A%2F%2Fgraph.microsoft.com", ""},
		{"POST", "/{tenant}/oauth2/v2.0/token", form, "grant_type=client_credentials&scope=00000003-0000-0000-c000-000000000000%2F.default", "{client}:{secret}"},
		{"POST", "/{tenant}/oauth2/v2.0/token", form, strings.Replace(v2, "{secret}", "wrong", 1), ""},
		{"POST", "/common/oauth2/v2.0/token", "application/json", `{"grant_type":"client_credentials"}`, ""},
		{"GET", "/{tenant}/v2.0/.well-known/openid-configuration", "", "", ""},
		{"HEAD", "/organizations/.well-known/openid-configuration", "", "", ""},
		{"GET", "/{tenant}/discovery/v2.0/keys", "", "", ""},
		{"PUT", "/{tenant}/discovery/keys", form, "a=b", ""},
	} {
		f.Add(seed.method, seed.path, seed.contentType, seed.body, seed.basic)
	}
	f.Fuzz(func(t *testing.T, method, path, contentType, body, basic string) {
		path, body, basic = fill(path), fill(body), fill(basic)
		raw := method + " " + path + " HTTP/1.1\r\nHost: login.example\r\nContent-Type: " + contentType +
			"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
		if basic != "" {
			raw += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(basic)) + "\r\n"
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n" + body)))
		if err != nil {
			t.Skip() // net/http answers it before any handler
		}
		req.RemoteAddr = "127.0.0.1:1"
		w := httptest.NewRecorder()
		fx.handler.ServeHTTP(w, req)
		got := w.Body.Bytes()
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, path, w.Code, got)
		}
		if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && method != http.MethodHead && !json.Valid(got) {
			t.Fatalf("%s %q: %d says JSON, is not: %q", method, path, w.Code, got)
		}
		if w.Code == http.StatusTooManyRequests {
			return
		}
		if w.Code >= 400 && method != http.MethodHead {
			var e struct {
				Error      string `json:"error"`
				ErrorCodes []int  `json:"error_codes"`
			}
			var graph struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal(got, &e) != nil || e.Error == "" || len(e.ErrorCodes) != 1 {
				if json.Unmarshal(got, &graph) != nil || graph.Error.Code == "" { // outside the issuer's routes
					t.Fatalf("%s %q: %d is neither Entra ID's error nor Graph's: %s", method, path, w.Code, got)
				}
			}
			return
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if w.Code != http.StatusOK || json.Unmarshal(got, &tok) != nil || tok.AccessToken == "" {
			return // discovery documents and keys
		}
		p, err := verifier.Verify(tok.AccessToken)
		if err != nil {
			t.Fatalf("%s %q: the token issued is refused by the API: %v", method, path, err)
		}
		secret, ok := secrets[p.AppID]
		if !ok || p.Tenant != tenant {
			t.Fatalf("a token for app %q of tenant %q, not registered there", p.AppID, p.Tenant)
		}
		if !carries(secret, body, basic) {
			t.Fatalf("a token for app %s to a request without its secret: body %q, basic %q", p.AppID, body, basic)
		}
	})
}

// carries reports whether a request's body or basic credentials hold
// secret, as sent or form-decoded.
func carries(secret string, sent ...string) bool {
	for _, s := range sent {
		decoded, _ := url.QueryUnescape(s)
		if strings.Contains(s, secret) || strings.Contains(decoded, secret) {
			return true
		}
	}
	return false
}
