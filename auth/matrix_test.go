package auth_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/sqlite"
	"github.com/golang-jwt/jwt/v5"
)

// TestBadTokenMatrix sends every kind of bad token to the real HTTP server
// (graph.Server) in both of its identity modes, the development issuer and
// Microsoft Entra ID (a fake one on 127.0.0.1), and checks that each gets
// a 401 or 403 in Graph's error envelope, never a 500. docs/security.md
// lists the same matrix.
func TestBadTokenMatrix(t *testing.T) {
	newServer := func(v graph.Authenticator) *httptest.Server {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "callvault.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		srv := &graph.Server{Store: db, Auth: v, Cursors: odata.Cursors{Key: make([]byte, 32)}, PublicURL: "https://graph.microsoft.com"}
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		return hs
	}
	trusted := []string{tenant, otherTenant}
	clockNow := func() time.Time { return now }

	signer, devKey := newSigner(t)
	dev := mode{name: "dev", kid: signer.KeyID(), key: devKey,
		server: newServer(signer.Verifier(auth.VerifierOptions{Now: clockNow, Tenants: trusted}))}

	entra := newFakeEntra(t, tenant, otherTenant, thirdTenant)
	entraKey := newKey(t)
	entra.publish("entra-kid", entraKey)
	issuers, err := auth.EntraIssuers(auth.Cloud{LoginURL: entra.URL}, trusted, auth.RemoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := issuers.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	real := mode{name: "entra", kid: "entra-kid", key: entraKey,
		server: newServer(issuers.Verifier(auth.VerifierOptions{Now: clockNow}))}

	const path = "/v1.0/communications/callRecords/c0ffee00-0000-4000-8000-000000000001/sessions"
	const badSignature = "Signature validation failed: the signature does not match signing key '%s'; the token was altered or signed with another key."
	tests := []struct {
		name   string
		header func(m mode) string // the Authorization header
		status int
		// message is Graph's error message; '%s' stands for the mode's kid,
		// and a final * for any text.
		// entraMessage, when set, is the message in Entra mode.
		message, entraMessage string
	}{
		{
			name:    "no token",
			header:  func(mode) string { return "" },
			status:  401,
			message: "Access token is empty.",
		},
		{
			name:    "garbage",
			header:  func(mode) string { return "Bearer garbage" },
			status:  401,
			message: "Access token is malformed: a JWT has 3 parts separated by dots, this token has 1.",
		},
		{
			name:    "not a bearer token",
			header:  func(mode) string { return "Basic dXNlcjpwYXNz" },
			status:  401,
			message: "The Authorization header uses the 'Basic' scheme; this API accepts only 'Bearer' access tokens.",
		},
		{
			name: "alg none",
			header: func(m mode) string {
				return "Bearer " + forge(t, map[string]any{"typ": "JWT", "alg": "none", "kid": m.kid}, appClaims(), func(string) []byte { return nil })
			},
			status:  401,
			message: "The token's signing algorithm 'none' is not accepted; tokens must be signed with RS256.",
		},
		{
			name: "HS256 signed with the public key",
			header: func(m mode) string {
				der, _ := x509.MarshalPKIXPublicKey(&m.key.PublicKey)
				public := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				return "Bearer " + forge(t, map[string]any{"typ": "JWT", "alg": "HS256", "kid": m.kid}, appClaims(), func(s string) []byte {
					sig, _ := jwt.SigningMethodHS256.Sign(s, public)
					return sig
				})
			},
			status:  401,
			message: "The token's signing algorithm 'HS256' is not accepted; tokens must be signed with RS256.",
		},
		{
			name: "unknown kid",
			header: func(m mode) string {
				return "Bearer " + forge(t, map[string]any{"alg": "RS256", "kid": "unknown-kid"}, appClaims(), rs256(t, m.key))
			},
			status:  401,
			message: "Signature validation failed: no signing key with kid 'unknown-kid' is known; the token comes from an issuer this server does not trust, or its key was rotated.",
		},
		{
			name: "bad signature",
			header: func(m mode) string {
				return "Bearer " + forge(t, map[string]any{"alg": "RS256", "kid": m.kid}, appClaims(), rs256(t, newKeyOnce(t)))
			},
			status:  401,
			message: badSignature,
		},
		{
			name: "claims altered after signing",
			header: func(m mode) string {
				parts := strings.Split(forge(t, map[string]any{"alg": "RS256", "kid": m.kid}, appClaims(), rs256(t, m.key)), ".")
				parts[1] = segment(t, with(map[string]any{"tid": otherTenant, "iss": "https://sts.windows.net/" + otherTenant + "/"}))
				return "Bearer " + strings.Join(parts, ".")
			},
			status:  401,
			message: badSignature,
		},
		{
			name:    "expired",
			header:  signedWith(t, map[string]any{"exp": now.Add(-time.Hour).Unix()}),
			status:  401,
			message: "Lifetime validation failed, the token is expired.",
		},
		{
			name:    "not yet valid",
			header:  signedWith(t, map[string]any{"nbf": now.Add(time.Hour).Unix()}),
			status:  401,
			message: "Lifetime validation failed, the token is not yet valid.",
		},
		{
			name:   "wrong issuer",
			header: signedWith(t, map[string]any{"iss": "https://issuer.example.com/" + tenant + "/"}),
			status: 401,
			message: "Access token validation failure. Invalid issuer. The issuer is 'https://issuer.example.com/" + tenant + "/'; " +
				"this server accepts 'https://sts.windows.net/" + tenant + "/' and 'https://login.microsoftonline.com/" + tenant + "/v2.0'.",
			entraMessage: "Access token validation failure. Invalid issuer. The issuer 'https://issuer.example.com/" + tenant + "/' is not one this server trusts.",
		},
		{
			name:   "wrong audience",
			header: signedWith(t, map[string]any{"aud": "https://management.azure.com"}),
			status: 401,
			message: "Access token validation failure. Invalid audience. The token's audience is 'https://management.azure.com'; " +
				"this server accepts 'https://graph.microsoft.com' or '00000003-0000-0000-c000-000000000000'.",
		},
		{
			name:   "wrong tenant: the issuer's is not the tid",
			header: signedWith(t, map[string]any{"iss": "https://sts.windows.net/" + otherTenant + "/"}),
			status: 401,
			message: "Access token validation failure. Invalid issuer. The issuer's tenant '" + otherTenant +
				"' is not the token's tenant (tid claim) '" + tenant + "'.",
		},
		{
			name:    "a tenant callvault does not trust",
			header:  signedWith(t, map[string]any{"iss": "https://sts.windows.net/" + thirdTenant + "/", "tid": thirdTenant}),
			status:  401,
			message: "Access token validation failure. Invalid tenant. This server does not accept tokens of tenant '" + thirdTenant + "'.",
		},
		{
			name:    "oversized Authorization header",
			header:  func(mode) string { return "Bearer " + strings.Repeat("a", 40<<10) },
			status:  401,
			message: "Access token is too large: it has 40960 bytes and the limit is 16384.",
		},
		{
			name: "oversized token header, validly signed",
			header: func(m mode) string {
				return "Bearer " + forge(t, map[string]any{"alg": "RS256", "kid": m.kid, "x": strings.Repeat("x", 16<<10)}, appClaims(), rs256(t, m.key))
			},
			status:  401,
			message: "Access token is too large: it has *", // the size depends on the kid
		},
		{
			name:   "delegated (scp)",
			header: signedWith(t, map[string]any{"scp": "CallRecords.Read.All", "idtyp": "user", "roles": nil}),
			status: 403,
			message: "This API supports only application permissions (CallRecords.Read.All); delegated (user) tokens are refused. " +
				"Use an app-only token from the client credentials flow.",
		},
		{
			name:   "app token without the role",
			header: signedWith(t, map[string]any{"roles": []string{"User.Read.All"}}),
			status: 403,
			message: "Insufficient privileges to complete the operation. The token lacks the application permission CallRecords.Read.All; " +
				"grant it to the app, have an administrator consent, and get a new token.",
		},
		{
			name:    "a good token passes (the record is unknown)",
			header:  signedWith(t, nil),
			status:  404,
			message: "The callRecord 'c0ffee00-0000-4000-8000-000000000001' was not found.",
		},
	}
	for _, m := range []mode{dev, real} {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, m.server.URL+path, nil)
				if h := tt.header(m); h != "" {
					req.Header.Set("Authorization", h)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				var env struct {
					Error struct {
						Code       string `json:"code"`
						Message    string `json:"message"`
						InnerError struct {
							Date            string `json:"date"`
							RequestID       string `json:"request-id"`
							ClientRequestID string `json:"client-request-id"`
						} `json:"innerError"`
					} `json:"error"`
				}
				if err := json.Unmarshal(body, &env); err != nil {
					t.Fatalf("HTTP %d, not Graph's envelope: %s", resp.StatusCode, body)
				}
				wantCode := map[int]string{401: "InvalidAuthenticationToken", 403: "Forbidden", 404: "NotFound"}[tt.status]
				message := tt.message
				if m.name == "entra" && tt.entraMessage != "" {
					message = tt.entraMessage
				}
				message = strings.ReplaceAll(message, "'%s'", "'"+m.kid+"'")
				got := env.Error.Message
				if prefix, ok := strings.CutSuffix(message, "*"); ok && strings.HasPrefix(got, prefix) {
					got = message
				}
				if resp.StatusCode != tt.status || env.Error.Code != wantCode || got != message {
					t.Errorf("got %d %s %q\nwant %d %s %q", resp.StatusCode, env.Error.Code, env.Error.Message, tt.status, wantCode, message)
				}
				inner := env.Error.InnerError
				if len(inner.Date) != 19 || inner.RequestID == "" || inner.ClientRequestID == "" {
					t.Errorf("innerError = %+v", inner)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				if www := resp.Header.Get("WWW-Authenticate"); (tt.status == 401) != (www != "") {
					t.Errorf("WWW-Authenticate %q on a %d", www, tt.status)
				}
			})
		}
	}
}

// mode is one identity mode of the server under test.
type mode struct {
	name   string
	kid    string // of the key that signs its good tokens
	key    *rsa.PrivateKey
	server *httptest.Server
}

// signedWith returns the Authorization header of appClaims changed by
// edits, signed by the mode's key.
func signedWith(t *testing.T, edits map[string]any) func(mode) string {
	return func(m mode) string {
		return "Bearer " + forge(t, map[string]any{"typ": "JWT", "alg": "RS256", "kid": m.kid}, with(edits), rs256(t, m.key))
	}
}
