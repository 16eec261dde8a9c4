package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/golang-jwt/jwt/v5"
)

const (
	tenant      = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	otherTenant = "0b6c2a54-6c3f-4a36-b2a8-3d1c9e6f1b11"
	app         = "11112222-3333-4444-5555-666677778888"
)

// now is the fixed clock of the verifier under test.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newSigner returns a signer on a fresh data directory and its private key,
// which the test writes itself so that it can forge tokens with it.
func newSigner(t testing.TB) (*auth.Signer, *rsa.PrivateKey) {
	t.Helper()
	key := newKey(t)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, auth.SigningKeyFile), pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := auth.LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, key
}

func newKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func segment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// forge builds a token from any header and claims, signed by sign (which
// gets the signing string and returns the raw signature).
func forge(t testing.TB, header, claims map[string]any, sign func(string) []byte) string {
	t.Helper()
	s := segment(t, header) + "." + segment(t, claims)
	return s + "." + base64.RawURLEncoding.EncodeToString(sign(s))
}

func rs256(t testing.TB, key *rsa.PrivateKey) func(string) []byte {
	return func(s string) []byte {
		sig, err := jwt.SigningMethodRS256.Sign(s, key)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

// appClaims are the claims of a good v1 app token issued at now.
func appClaims() map[string]any {
	return map[string]any{
		"aud":   auth.GraphResource,
		"iss":   "https://sts.windows.net/" + tenant + "/",
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"appid": app,
		"idtyp": "app",
		"oid":   "9f1d7c1e-5b7a-4c53-9a0e-8f3b2d6c4e10",
		"roles": []string{auth.RoleCallRecordsReadAll},
		"tid":   tenant,
		"ver":   "1.0",
	}
}

// with returns appClaims changed by edits; a nil value deletes the claim.
func with(edits map[string]any) map[string]any {
	c := appClaims()
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// wantError fails t unless err is a *callvault.Error with code and message.
func wantError(t *testing.T, err error, code, message string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s %q", code, message)
	}
	if got := callvault.ErrorCode(err); got != code {
		t.Errorf("code = %q, want %q (error: %v)", got, code, err)
	}
	if got := callvault.ErrorMessage(err); got != message {
		t.Errorf("message:\n got %q\nwant %q", got, message)
	}
}

func TestVerify(t *testing.T) {
	signer, key := newSigner(t)
	other := newKey(t)
	kid := signer.KeyID()
	rsHeader := map[string]any{"typ": "JWT", "alg": "RS256", "kid": kid}
	signed := func(claims map[string]any) string { return forge(t, rsHeader, claims, rs256(t, key)) }
	b64 := base64.RawURLEncoding.EncodeToString

	publicPEM, err := x509.MarshalPKIXPublicKey(signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	publicPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicPEM})

	appPrincipal := &auth.Principal{
		Tenant:   tenant,
		AppID:    app,
		ObjectID: "9f1d7c1e-5b7a-4c53-9a0e-8f3b2d6c4e10",
		Roles:    []string{auth.RoleCallRecordsReadAll},
	}

	tests := []struct {
		name    string
		token   string
		opts    auth.VerifierOptions // Now is set to the fixed clock when nil
		want    *auth.Principal      // when the token is accepted
		message string               // EUNAUTHORIZED message when it is refused
	}{
		{
			name:  "a good v1 app token is accepted",
			token: signed(appClaims()),
			want:  appPrincipal,
		},
		{
			name:    "an empty token is refused",
			token:   "",
			message: "Access token is empty.",
		},
		{
			name:    "alg none is refused",
			token:   forge(t, map[string]any{"typ": "JWT", "alg": "none", "kid": kid}, appClaims(), func(string) []byte { return nil }),
			message: "The token's signing algorithm 'none' is not accepted; tokens must be signed with RS256.",
		},
		{
			name: "HS256 keyed with the public key bytes is refused",
			token: forge(t, map[string]any{"typ": "JWT", "alg": "HS256", "kid": kid}, appClaims(), func(s string) []byte {
				sig, err := jwt.SigningMethodHS256.Sign(s, publicPEM)
				if err != nil {
					t.Fatal(err)
				}
				return sig
			}),
			message: "The token's signing algorithm 'HS256' is not accepted; tokens must be signed with RS256.",
		},
		{
			name:    "a header without alg is refused",
			token:   forge(t, map[string]any{"typ": "JWT", "kid": kid}, appClaims(), rs256(t, key)),
			message: "Access token is malformed: the header has no 'alg' parameter.",
		},
		{
			name:    "an alg that is not a string is refused",
			token:   forge(t, map[string]any{"alg": 256, "kid": kid}, appClaims(), rs256(t, key)),
			message: "Access token is malformed: header parameter 'alg' must be a string.",
		},
		{
			name:    "a header without kid is refused",
			token:   forge(t, map[string]any{"typ": "JWT", "alg": "RS256"}, appClaims(), rs256(t, key)),
			message: "Signature validation failed: the token header has no 'kid', so no signing key can be chosen.",
		},
		{
			name:  "an unknown kid is refused",
			token: forge(t, map[string]any{"typ": "JWT", "alg": "RS256", "kid": "nOo3ZDrODXEK1jKWhXslHR_KXEg"}, appClaims(), rs256(t, key)),
			message: "Signature validation failed: no signing key with kid 'nOo3ZDrODXEK1jKWhXslHR_KXEg' is known; " +
				"the token comes from an issuer this server does not trust, or its key was rotated.",
		},
		{
			name:  "a token signed by another key with the same kid is refused",
			token: forge(t, rsHeader, appClaims(), rs256(t, other)),
			message: "Signature validation failed: the signature does not match signing key '" + kid + "'; " +
				"the token was altered or signed with another key.",
		},
		{
			name: "a token whose claims were altered after signing is refused",
			token: func() string {
				parts := strings.Split(signed(appClaims()), ".")
				parts[1] = segment(t, with(map[string]any{"roles": []string{"Directory.ReadWrite.All"}}))
				return strings.Join(parts, ".")
			}(),
			message: "Signature validation failed: the signature does not match signing key '" + kid + "'; " +
				"the token was altered or signed with another key.",
		},
		{
			name:    "an expired token is refused",
			token:   signed(with(map[string]any{"exp": now.Add(-3 * time.Minute).Unix()})),
			message: "Lifetime validation failed, the token is expired.",
		},
		{
			name:    "a token expired exactly the clock skew ago is refused",
			token:   signed(with(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()})),
			message: "Lifetime validation failed, the token is expired.",
		},
		{
			name:  "a token expired less than the clock skew ago is accepted",
			token: signed(with(map[string]any{"exp": now.Add(-119 * time.Second).Unix()})),
			want:  appPrincipal,
		},
		{
			name:    "a token that is not yet valid is refused",
			token:   signed(with(map[string]any{"nbf": now.Add(3 * time.Minute).Unix()})),
			message: "Lifetime validation failed, the token is not yet valid.",
		},
		{
			name:  "a token valid within the clock skew is accepted",
			token: signed(with(map[string]any{"nbf": now.Add(2 * time.Minute).Unix()})),
			want:  appPrincipal,
		},
		{
			name:    "a smaller clock skew is honoured",
			token:   signed(with(map[string]any{"exp": now.Add(-10 * time.Second).Unix()})),
			opts:    auth.VerifierOptions{Skew: 5 * time.Second},
			message: "Lifetime validation failed, the token is expired.",
		},
		{
			name:    "a token without exp is refused",
			token:   signed(with(map[string]any{"exp": nil})),
			message: "Lifetime validation failed, the token has no expiry (exp claim).",
		},
		{
			name:  "a token from another issuer is refused",
			token: signed(with(map[string]any{"iss": "https://issuer.example.com/" + tenant + "/"})),
			message: "Access token validation failure. Invalid issuer. The issuer is 'https://issuer.example.com/" + tenant + "/'; " +
				"this server accepts 'https://sts.windows.net/" + tenant + "/' and 'https://login.microsoftonline.com/" + tenant + "/v2.0'.",
		},
		{
			name:    "a token without iss is refused",
			token:   signed(with(map[string]any{"iss": nil})),
			message: "Access token validation failure. Invalid issuer. The token has no issuer (iss claim).",
		},
		{
			name:  "an issuer of another tenant than tid is refused",
			token: signed(with(map[string]any{"iss": "https://sts.windows.net/" + otherTenant + "/"})),
			message: "Access token validation failure. Invalid issuer. The issuer's tenant '" + otherTenant +
				"' is not the token's tenant (tid claim) '" + tenant + "'.",
		},
		{
			name:  "a v2 issuer of another tenant than tid is refused",
			token: signed(with(map[string]any{"iss": "https://login.microsoftonline.com/" + otherTenant + "/v2.0"})),
			message: "Access token validation failure. Invalid issuer. The issuer's tenant '" + otherTenant +
				"' is not the token's tenant (tid claim) '" + tenant + "'.",
		},
		{
			name: "a v2 token is accepted and its azp is the app id",
			token: signed(with(map[string]any{
				"iss": "https://login.microsoftonline.com/" + tenant + "/v2.0", "ver": "2.0",
				"aud": auth.GraphAppID, "appid": nil, "azp": app,
			})),
			want: appPrincipal,
		},
		{
			name:    "a token without tid is refused",
			token:   signed(with(map[string]any{"tid": nil})),
			message: "Access token validation failure. The token has no tenant id (tid claim).",
		},
		{
			name:  "a token for another audience is refused",
			token: signed(with(map[string]any{"aud": "api://callvault-other"})),
			message: "Access token validation failure. Invalid audience. The token's audience is 'api://callvault-other'; " +
				"this server accepts 'https://graph.microsoft.com' or '00000003-0000-0000-c000-000000000000'.",
		},
		{
			name:    "a token without aud is refused",
			token:   signed(with(map[string]any{"aud": nil})),
			message: "Access token validation failure. Invalid audience. The token has no audience (aud claim).",
		},
		{
			name:  "the Graph resource URI is an accepted audience",
			token: signed(with(map[string]any{"aud": "https://graph.microsoft.com"})),
			want:  appPrincipal,
		},
		{
			name:  "Graph's application id is an accepted audience",
			token: signed(with(map[string]any{"aud": "00000003-0000-0000-c000-000000000000"})),
			want:  appPrincipal,
		},
		{
			name:  "an audience array that contains Graph is accepted",
			token: signed(with(map[string]any{"aud": []string{"api://something-else", auth.GraphResource}})),
			want:  appPrincipal,
		},
		{
			name:  "configured audiences replace the default ones",
			token: signed(appClaims()),
			opts:  auth.VerifierOptions{Audiences: []string{"https://graph.microsoft.us"}},
			message: "Access token validation failure. Invalid audience. The token's audience is 'https://graph.microsoft.com'; " +
				"this server accepts 'https://graph.microsoft.us'.",
		},
		{
			name:  "a delegated token is verified and marked delegated",
			token: signed(with(map[string]any{"idtyp": "user", "scp": "CallRecords.Read.All User.Read", "roles": nil})),
			want: &auth.Principal{
				Tenant: tenant, AppID: app, ObjectID: "9f1d7c1e-5b7a-4c53-9a0e-8f3b2d6c4e10",
				Scopes: []string{"CallRecords.Read.All", "User.Read"}, Delegated: true,
			},
		},
		{
			name:    "a token of a tenant this server does not serve is refused",
			token:   signed(appClaims()),
			opts:    auth.VerifierOptions{Tenants: []string{otherTenant}},
			message: "Access token validation failure. Invalid tenant. This server does not accept tokens of tenant '" + tenant + "'.",
		},
		{
			name:  "a token of one of the tenants served is accepted",
			token: signed(appClaims()),
			opts:  auth.VerifierOptions{Tenants: []string{otherTenant, tenant}},
			want:  appPrincipal,
		},
		{
			name:    "garbage is refused",
			token:   "garbage",
			message: "Access token is malformed: a JWT has 3 parts separated by dots, this token has 1.",
		},
		{
			name:    "a token with three dots is refused",
			token:   signed(appClaims()) + ".e30",
			message: "Access token is malformed: a JWT has 3 parts separated by dots, this token has 4.",
		},
		{
			name:    "a header that is not base64url is refused",
			token:   "eyJ!!!.e30.e30",
			message: "Access token is malformed: the header is not base64url-encoded.",
		},
		{
			name:    "padded base64 is refused",
			token:   base64.URLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k"}`)) + ".e30.e30",
			message: "Access token is malformed: the header is not base64url-encoded.",
		},
		{
			name:    "a header that is not JSON is refused",
			token:   b64([]byte(`{"alg":"RS256",`)) + ".e30.e30",
			message: "Access token is malformed: the header is not a JSON object.",
		},
		{
			name:    "a header that is a JSON array is refused",
			token:   b64([]byte(`["RS256"]`)) + ".e30.e30",
			message: "Access token is malformed: the header is not a JSON object.",
		},
		{
			name:    "a payload that is not base64url is refused",
			token:   segment(t, rsHeader) + ".%%%.e30",
			message: "Access token is malformed: the payload is not base64url-encoded.",
		},
		{
			name:    "a payload that is not JSON is refused",
			token:   segment(t, rsHeader) + "." + b64([]byte("not json")) + ".e30",
			message: "Access token is malformed: the payload is not a JSON object.",
		},
		{
			name:    "a payload of JSON null is refused",
			token:   segment(t, rsHeader) + "." + b64([]byte("null")) + ".e30",
			message: "Access token is malformed: the payload is not a JSON object.",
		},
		{
			name:    "a tid that is not a string is refused",
			token:   signed(with(map[string]any{"tid": 42})),
			message: "Access token is malformed: claim 'tid' must be a string.",
		},
		{
			name:    "an exp that is not a number is refused",
			token:   signed(with(map[string]any{"exp": "tomorrow"})),
			message: "Access token is malformed: claim 'exp' must be a number of seconds since 1970.",
		},
		{
			name:    "an nbf past 2^63 seconds is refused, not wrapped into the past",
			token:   signed(with(map[string]any{"nbf": 1e19})),
			message: "Access token is malformed: claim 'nbf' must be a number of seconds since 1970, at most 253402300799 (the end of year 9999).",
		},
		{
			name:    "an exp past year 9999 is refused",
			token:   signed(with(map[string]any{"exp": json.Number("1" + strings.Repeat("0", 400))})),
			message: "Access token is malformed: claim 'exp' must be a number of seconds since 1970, at most 253402300799 (the end of year 9999).",
		},
		{
			name:    "an exp written as a JSON string of digits is refused",
			token:   signed(with(map[string]any{"exp": strconv.FormatInt(now.Add(time.Hour).Unix(), 10)})),
			message: "Access token is malformed: claim 'exp' must be a number of seconds since 1970.",
		},
		{
			name:    "an nbf written as a JSON string of digits is refused",
			token:   signed(with(map[string]any{"nbf": strconv.FormatInt(now.Unix(), 10)})),
			message: "Access token is malformed: claim 'nbf' must be a number of seconds since 1970.",
		},
		{
			name:    "a crit header parameter is refused",
			token:   forge(t, map[string]any{"typ": "JWT", "alg": "RS256", "kid": kid, "crit": []string{"exp"}, "exp": 1}, appClaims(), rs256(t, key)),
			message: "Access token is malformed: the header has a 'crit' parameter, which names extensions this server does not understand; RFC 7515 requires such tokens to be refused.",
		},
		{
			name:    "an empty crit header parameter is refused too",
			token:   forge(t, map[string]any{"typ": "JWT", "alg": "RS256", "kid": kid, "crit": []string{}}, appClaims(), rs256(t, key)),
			message: "Access token is malformed: the header has a 'crit' parameter, which names extensions this server does not understand; RFC 7515 requires such tokens to be refused.",
		},
		{
			name:    "roles that are not an array of strings are refused",
			token:   signed(with(map[string]any{"roles": "CallRecords.Read.All"})),
			message: "Access token is malformed: claim 'roles' must be an array of strings.",
		},
		{
			name:    "an aud that is neither string nor array is refused",
			token:   signed(with(map[string]any{"aud": 7})),
			message: "Access token is malformed: claim 'aud' must be a string or an array of strings.",
		},
		{
			name:    "a signature that is not base64url is refused",
			token:   segment(t, rsHeader) + "." + segment(t, appClaims()) + ".not+base64/",
			message: "Access token is malformed: the signature is not base64url-encoded.",
		},
		{
			name:    "an oversized token is refused before it is decoded",
			token:   strings.Repeat("a", 16<<10+1),
			message: "Access token is too large: it has 16385 bytes and the limit is 16384.",
		},
		{
			name:    "a long unknown alg is clipped in the message",
			token:   forge(t, map[string]any{"alg": strings.Repeat("X", 100) + "\n", "kid": kid}, appClaims(), rs256(t, key)),
			message: "The token's signing algorithm '" + strings.Repeat("X", 64) + "…' is not accepted; tokens must be signed with RS256.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Now == nil {
				opts.Now = func() time.Time { return now }
			}
			got, err := signer.Verifier(opts).Verify(tt.token)
			if tt.want == nil {
				if got != nil {
					t.Errorf("got principal %+v, want none", got)
				}
				wantError(t, err, callvault.EUNAUTHORIZED, tt.message)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("principal:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestVerifierChoosesTheKeyByKid(t *testing.T) {
	_, key1 := newSigner(t)
	key2 := newKey(t)
	v := auth.NewVerifier(map[string]*rsa.PublicKey{"one": &key1.PublicKey, "two": &key2.PublicKey},
		auth.VerifierOptions{Now: func() time.Time { return now }})
	for _, kid := range []string{"one", "two"} {
		key := map[string]*rsa.PrivateKey{"one": key1, "two": key2}[kid]
		token := forge(t, map[string]any{"alg": "RS256", "kid": kid}, appClaims(), rs256(t, key))
		if _, err := v.Verify(token); err != nil {
			t.Errorf("kid %s: %v", kid, err)
		}
	}
}

func TestMint(t *testing.T) {
	signer, _ := newSigner(t)
	verifier := signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now.Add(30 * time.Minute) }})

	t.Run("a minted app token verifies to the right principal", func(t *testing.T) {
		token, err := signer.Mint(auth.TokenOptions{Tenant: tenant, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		p, err := verifier.Verify(token)
		if err != nil {
			t.Fatal(err)
		}
		if p.Tenant != tenant || p.AppID != auth.DefaultAppID || p.Delegated || p.ObjectID == "" {
			t.Errorf("principal = %+v", p)
		}
		if !reflect.DeepEqual(p.Roles, []string{auth.RoleCallRecordsReadAll}) {
			t.Errorf("roles = %q, want the default [CallRecords.Read.All]", p.Roles)
		}
		if err := p.Require(auth.RoleCallRecordsReadAll); err != nil {
			t.Errorf("Require: %v", err)
		}
	})

	t.Run("a minted token looks like a Graph v1 app token", func(t *testing.T) {
		token, err := signer.Mint(auth.TokenOptions{Tenant: tenant, AppID: app, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		header, claims := decode(t, token)
		wantHeader := map[string]any{"typ": "JWT", "alg": "RS256", "kid": signer.KeyID()}
		if !reflect.DeepEqual(header, wantHeader) {
			t.Errorf("header = %v, want %v", header, wantHeader)
		}
		oid, _ := claims["oid"].(string)
		uti, _ := claims["uti"].(string)
		if len(oid) != 36 || oid[14] != '5' || len(uti) != 22 {
			t.Errorf("oid %q, uti %q: want a GUID and a 22-character id", oid, uti)
		}
		delete(claims, "oid")
		delete(claims, "uti")
		iss := "https://sts.windows.net/" + tenant + "/"
		want := map[string]any{
			"aud": "https://graph.microsoft.com", "iss": iss, "idp": iss,
			"iat": float64(now.Unix()), "nbf": float64(now.Unix()), "exp": float64(now.Add(time.Hour).Unix()),
			"appid": app, "appidacr": "1", "idtyp": "app", "sub": oid,
			"roles": []any{"CallRecords.Read.All"}, "tid": tenant, "ver": "1.0",
		}
		if !reflect.DeepEqual(claims, want) {
			t.Errorf("claims:\n got %v\nwant %v", claims, want)
		}
	})

	t.Run("the oid is the same for the same tenant and app and differs for another", func(t *testing.T) {
		oid := func(o auth.TokenOptions) any {
			token, err := signer.Mint(o)
			if err != nil {
				t.Fatal(err)
			}
			_, c := decode(t, token)
			return c["oid"]
		}
		a, b := oid(auth.TokenOptions{Tenant: tenant}), oid(auth.TokenOptions{Tenant: tenant})
		c := oid(auth.TokenOptions{Tenant: otherTenant})
		if a != b || a == c {
			t.Errorf("oids %v, %v (same tenant) and %v (other tenant)", a, b, c)
		}
	})

	t.Run("roles round-trip", func(t *testing.T) {
		for _, roles := range [][]string{
			{auth.RolePstnCallsReadAll},
			{auth.RoleCallRecordsReadAll, auth.RolePstnCallsReadAll, "Directory.Read.All"},
		} {
			token, err := signer.Mint(auth.TokenOptions{Tenant: tenant, Roles: roles, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			p, err := verifier.Verify(token)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Roles, roles) {
				t.Errorf("roles = %q, want %q", p.Roles, roles)
			}
		}
	})

	t.Run("an empty roles list mints a token without roles", func(t *testing.T) {
		token, err := signer.Mint(auth.TokenOptions{Tenant: tenant, Roles: []string{}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, c := decode(t, token); c["roles"] != nil {
			t.Errorf("roles = %v, want no roles claim", c["roles"])
		}
	})

	t.Run("a delegated token carries scp and a user, and no roles", func(t *testing.T) {
		token, err := signer.Mint(auth.TokenOptions{Tenant: tenant, Delegated: true, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		_, c := decode(t, token)
		if c["scp"] != "CallRecords.Read.All" || c["idtyp"] != "user" || c["roles"] != nil ||
			c["name"] == nil || c["upn"] == nil || c["sub"] == c["oid"] {
			t.Errorf("claims = %v", c)
		}
		p, err := verifier.Verify(token)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Delegated || !reflect.DeepEqual(p.Scopes, []string{"CallRecords.Read.All"}) || p.Roles != nil {
			t.Errorf("principal = %+v", p)
		}
	})

	t.Run("the TTL and audience options are honoured", func(t *testing.T) {
		token, err := signer.Mint(auth.TokenOptions{Tenant: tenant, Now: now, TTL: 5 * time.Minute, Audience: auth.GraphAppID})
		if err != nil {
			t.Fatal(err)
		}
		_, c := decode(t, token)
		if c["exp"] != float64(now.Add(5*time.Minute).Unix()) || c["aud"] != auth.GraphAppID {
			t.Errorf("exp %v, aud %v", c["exp"], c["aud"])
		}
		_, err = verifier.Verify(token) // 30 minutes later
		wantError(t, err, callvault.EUNAUTHORIZED, "Lifetime validation failed, the token is expired.")
	})

	t.Run("a token without a tenant is not minted", func(t *testing.T) {
		_, err := signer.Mint(auth.TokenOptions{})
		wantError(t, err, callvault.EINVALID, "A tenant id is required to mint a token.")
	})

	t.Run("a negative TTL is not minted", func(t *testing.T) {
		_, err := signer.Mint(auth.TokenOptions{Tenant: tenant, TTL: -time.Second})
		wantError(t, err, callvault.EINVALID, "The token lifetime must not be negative; got -1s.")
	})
}

// decode returns the header and claims of a token without verifying it.
func decode(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func TestRequire(t *testing.T) {
	signer, _ := newSigner(t)
	verifier := signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }})
	principal := func(o auth.TokenOptions) *auth.Principal {
		o.Tenant, o.Now = tenant, now
		token, err := signer.Mint(o)
		if err != nil {
			t.Fatal(err)
		}
		p, err := verifier.Verify(token)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	both := []string{auth.RoleCallRecordsReadAll, auth.RolePstnCallsReadAll}

	tests := []struct {
		name    string
		p       *auth.Principal
		anyOf   []string
		code    string // "" when allowed
		message string
	}{
		{
			name:  "an app token with the role is allowed",
			p:     principal(auth.TokenOptions{}),
			anyOf: []string{auth.RoleCallRecordsReadAll},
		},
		{
			name:  "an app token with any one of the roles is allowed",
			p:     principal(auth.TokenOptions{Roles: []string{auth.RolePstnCallsReadAll}}),
			anyOf: both,
		},
		{
			name:  "a delegated token is forbidden even with the scope",
			p:     principal(auth.TokenOptions{Delegated: true}),
			anyOf: []string{auth.RoleCallRecordsReadAll},
			code:  callvault.EFORBIDDEN,
			message: "This API supports only application permissions (CallRecords.Read.All); delegated (user) tokens are refused. " +
				"Use an app-only token from the client credentials flow.",
		},
		{
			name:  "a delegated token with the role as well is forbidden",
			p:     principal(auth.TokenOptions{Delegated: true, Roles: []string{auth.RoleCallRecordsReadAll}}),
			anyOf: both,
			code:  callvault.EFORBIDDEN,
			message: "This API supports only application permissions (CallRecords.Read.All or CallRecord-PstnCalls.Read.All); " +
				"delegated (user) tokens are refused. Use an app-only token from the client credentials flow.",
		},
		{
			name:  "an app token without the role is forbidden",
			p:     principal(auth.TokenOptions{Roles: []string{"User.Read.All"}}),
			anyOf: []string{auth.RoleCallRecordsReadAll},
			code:  callvault.EFORBIDDEN,
			message: "Insufficient privileges to complete the operation. The token lacks the application permission CallRecords.Read.All; " +
				"grant it to the app, have an administrator consent, and get a new token.",
		},
		{
			name:  "an app token with no roles at all is forbidden",
			p:     principal(auth.TokenOptions{Roles: []string{}}),
			anyOf: both,
			code:  callvault.EFORBIDDEN,
			message: "Insufficient privileges to complete the operation. The token has none of the application permissions " +
				"CallRecords.Read.All, CallRecord-PstnCalls.Read.All; grant one to the app, have an administrator consent, and get a new token.",
		},
		{
			name:  "the role check is case-sensitive",
			p:     principal(auth.TokenOptions{Roles: []string{"callrecords.read.all"}}),
			anyOf: []string{auth.RoleCallRecordsReadAll},
			code:  callvault.EFORBIDDEN,
			message: "Insufficient privileges to complete the operation. The token lacks the application permission CallRecords.Read.All; " +
				"grant it to the app, have an administrator consent, and get a new token.",
		},
		{
			name:    "no principal is unauthorized",
			p:       nil,
			anyOf:   []string{auth.RoleCallRecordsReadAll},
			code:    callvault.EUNAUTHORIZED,
			message: "Access token is empty.",
		},
		{
			name:    "asking for no role is an internal error",
			p:       principal(auth.TokenOptions{}),
			code:    callvault.EINTERNAL,
			message: "An internal server error occurred.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Require(tt.anyOf...)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Require: %v", err)
				}
				return
			}
			wantError(t, err, tt.code, tt.message)
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		want    string
		message string // EUNAUTHORIZED message when refused
	}{
		{name: "a bearer token is returned", header: "Bearer abc.def.ghi", want: "abc.def.ghi"},
		{name: "the scheme is case-insensitive", header: "bEaReR abc.def.ghi", want: "abc.def.ghi"},
		{name: "extra spaces around the token are ignored", header: "  Bearer   abc.def.ghi  ", want: "abc.def.ghi"},
		{name: "a tab may separate scheme and token", header: "Bearer\t abc.def.ghi", want: "abc.def.ghi"},
		{name: "an empty header is refused", header: "", message: "Access token is empty."},
		{name: "a blank header is refused", header: "   ", message: "Access token is empty."},
		{name: "a scheme without a token is refused", header: "Bearer", message: "Access token is empty."},
		{name: "a scheme with only spaces after it is refused", header: "Bearer   ", message: "Access token is empty."},
		{
			name:    "a Basic header is refused",
			header:  "Basic xyz",
			message: "The Authorization header uses the 'Basic' scheme; this API accepts only 'Bearer' access tokens.",
		},
		{
			name:    "a token without a scheme is refused and not echoed",
			header:  "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
			message: "The Authorization header must have the form 'Bearer <access token>'.",
		},
		{
			name:    "a token with spaces is refused",
			header:  "Bearer abc def",
			message: "The Authorization header must have the form 'Bearer <access token>', with no spaces in the token.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.BearerToken(tt.header)
			if tt.message != "" {
				wantError(t, err, callvault.EUNAUTHORIZED, tt.message)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("BearerToken(%q) = %q, %v; want %q", tt.header, got, err, tt.want)
			}
		})
	}
}

func TestLoadOrCreateSigner(t *testing.T) {
	t.Run("a new data directory gets a 0600 key that is reloaded with the same kid", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		s1, err := auth.LoadOrCreateSigner(dir)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, auth.SigningKeyFile)
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("key file mode = %o, want 600", mode)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "PRIVATE KEY" {
			t.Fatalf("key file is not a PKCS#8 PEM:\n%s", data)
		}
		if s1.PublicKey().N.BitLen() != 2048 {
			t.Errorf("key has %d bits, want 2048", s1.PublicKey().N.BitLen())
		}
		s2, err := auth.LoadOrCreateSigner(dir)
		if err != nil {
			t.Fatal(err)
		}
		if s1.KeyID() != s2.KeyID() || s1.KeyID() != auth.Thumbprint(s2.PublicKey()) {
			t.Errorf("kids %q and %q, want the same thumbprint", s1.KeyID(), s2.KeyID())
		}
		token, err := s1.Mint(auth.TokenOptions{Tenant: tenant})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Verifier(auth.VerifierOptions{}).Verify(token); err != nil {
			t.Errorf("a token of the first signer does not verify with the reloaded one: %v", err)
		}
	})

	t.Run("signers created at once on one directory share one key", func(t *testing.T) {
		dir := t.TempDir()
		const n = 4
		kids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s, err := auth.LoadOrCreateSigner(dir)
				if err == nil {
					kids[i] = s.KeyID()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if kids[i] != kids[0] {
				t.Errorf("kids = %q, want one", kids)
				break
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if names := entryNames(entries); !slices.Equal(names, []string{auth.ChangesFile, auth.SigningKeyFile}) {
			t.Errorf("data directory holds %q, want only the key and its change counter", names)
		}
	})

	t.Run("a corrupt key file is an error and is left alone", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, auth.SigningKeyFile)
		if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := auth.LoadOrCreateSigner(dir); err == nil {
			t.Fatal("got no error")
		}
		if data, _ := os.ReadFile(path); string(data) != "not a key" {
			t.Errorf("key file was changed to %q", data)
		}
	})

	t.Run("a PKCS#1 key written by an operator is accepted", func(t *testing.T) {
		dir := t.TempDir()
		key := newKey(t)
		data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		if err := os.WriteFile(filepath.Join(dir, auth.SigningKeyFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := auth.LoadOrCreateSigner(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !s.PublicKey().Equal(&key.PublicKey) {
			t.Error("the signer does not use the operator's key")
		}
	})
}

func TestThumbprintMatchesRFC7638(t *testing.T) {
	// The example key and thumbprint of RFC 7638, section 3.1.
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	key := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	if got, want := auth.Thumbprint(key), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("Thumbprint = %q, want %q", got, want)
	}
}

// FuzzVerify checks that no input makes Verify panic or fail with anything
// but a 401.
func FuzzVerify(f *testing.F) {
	signer, key := newSigner(f)
	good, err := signer.Mint(auth.TokenOptions{Tenant: tenant, Now: now})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(forge(f, map[string]any{"alg": "RS256", "kid": signer.KeyID()}, map[string]any{"exp": 1e300, "nbf": -1e300}, rs256(f, key)))
	f.Add(forge(f, map[string]any{"alg": "RS256", "kid": signer.KeyID()}, map[string]any{"aud": []any{nil, 1}}, rs256(f, key)))
	f.Add("e30.e30.")
	f.Add("..")
	f.Add("\xff\xfe.\x00.")
	verifier := signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }})
	f.Fuzz(func(t *testing.T, token string) {
		p, err := verifier.Verify(token)
		if err == nil {
			if p == nil {
				t.Fatal("no principal and no error")
			}
			return
		}
		if code := callvault.ErrorCode(err); code != callvault.EUNAUTHORIZED {
			t.Fatalf("code %q for %q: %v", code, token, err)
		}
	})
}
