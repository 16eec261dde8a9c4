package auth

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/callvault/callvault"
	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes caps the token before any decoding. Real Graph tokens are
// 1.5–3 KiB; 16 KiB leaves room for large roles claims.
const maxTokenBytes = 16 << 10

const defaultSkew = 2 * time.Minute

// VerifierOptions configure a Verifier. The zero value is ready to use.
type VerifierOptions struct {
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
	// Skew is the clock skew allowed on exp and nbf; 0 means two minutes,
	// a negative value none.
	Skew time.Duration
	// Audiences are the accepted aud values; empty means GraphResource and
	// GraphAppID.
	Audiences []string
	// Tenants, when not empty, are the only tenants (tid) whose tokens are
	// accepted; a token of any other tenant is refused even when its issuer
	// and signature are good. Empty means every tenant the issuer vouches for.
	Tenants []string
	// CacheSize is the most verified tokens the Verifier remembers, so
	// that a token's signature is checked once rather than on every
	// request; 0 means DefaultTokenCacheSize, a negative value no cache.
	// Tokens that fail are never remembered.
	CacheSize int
}

// Verifier checks access tokens: signature, lifetime, issuer, tenant and
// audience. It is safe for concurrent use.
type Verifier struct {
	keys      keySource
	audiences []string
	tenants   map[string]bool // nil: any
	now       func() time.Time
	skew      time.Duration
	cache     *tokenCache // nil: none

	// Cache counts the cache's answers, for metrics.
	Cache CacheCounters
}

// CacheCounters count how a Verifier's token cache answered since the
// Verifier was made: a hit skips the signature check; a miss (a token not
// cached, or whose entry may no longer be served) pays it. Tokens the
// cache never holds (a Verifier without cache, an empty or oversized
// token) count as neither.
type CacheCounters struct {
	Hits, Misses atomic.Int64
}

// keySource is where a Verifier's keys come from, and which issuers and
// tenants it trusts: fixed keys, a Signer's key file, or remote issuers.
type keySource interface {
	// verificationKey returns the key with id kid for a token that names
	// iss as its issuer and tid as its tenant (neither verified yet). A nil
	// key with a nil error means the kid is unknown. An error is the
	// caller's 401.
	verificationKey(iss, tid, kid string) (*rsa.PublicKey, error)
	// tenant checks the issuer and tenant claims of a token whose signature
	// is good, and returns the tenant the token speaks for.
	tenant(iss, tid string) (string, error)
	// generation changes whenever what verificationKey or tenant answer
	// may have changed (keys added, removed or replaced, issuers fetched
	// anew). A token verified under one generation is served from the
	// Verifier's cache only while the generation is the same. It may do
	// what verificationKey does to notice a change (a stat of a key file).
	generation() uint64
}

// NewVerifier returns a Verifier that accepts RS256 tokens signed by one of
// keys, looked up by the token's kid, from Entra ID's global v1 or v2 issuer
// of the token's own tenant.
func NewVerifier(keys map[string]*rsa.PublicKey, opts VerifierOptions) *Verifier {
	fixed := maps.Clone(keys) // the caller's map may change; ours must not
	maps.DeleteFunc(fixed, func(_ string, k *rsa.PublicKey) bool { return k == nil })
	return newVerifier(fixedKeys(fixed), opts)
}

func newVerifier(keys keySource, opts VerifierOptions) *Verifier {
	v := &Verifier{
		keys:      keys,
		audiences: slices.Clone(opts.Audiences),
		now:       opts.Now,
		skew:      opts.Skew,
	}
	if len(v.audiences) == 0 {
		v.audiences = []string{GraphResource, GraphAppID}
	}
	if len(opts.Tenants) > 0 {
		v.tenants = make(map[string]bool, len(opts.Tenants))
		for _, t := range opts.Tenants {
			v.tenants[t] = true
		}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.skew == 0 {
		v.skew = defaultSkew
	} else if v.skew < 0 {
		v.skew = 0
	}
	switch {
	case opts.CacheSize == 0:
		v.cache = newTokenCache(DefaultTokenCacheSize)
	case opts.CacheSize > 0:
		v.cache = newTokenCache(opts.CacheSize)
	}
	return v
}

// ClearCache forgets every token verified so far, so that each is verified
// in full on its next use. Changes of the keys a Verifier trusts clear the
// cache by themselves; this is for trust changes the Verifier cannot see.
func (v *Verifier) ClearCache() {
	if v.cache != nil {
		v.cache.clear()
	}
}

// fixedKeys are keys given once, with Entra ID's global issuers.
type fixedKeys map[string]*rsa.PublicKey

func (k fixedKeys) verificationKey(_, _, kid string) (*rsa.PublicKey, error) { return k[kid], nil }

func (fixedKeys) generation() uint64 { return 0 } // they never change

func (fixedKeys) tenant(iss, tid string) (string, error) { return entraTenant(iss, tid) }

// entraTenant accepts Entra ID's global v1 and v2 issuers of the token's own
// tenant, which is what callvault's development issuer writes.
func entraTenant(iss, tid string) (string, error) {
	if tid == "" {
		return "", unauthorized("Access token validation failure. The token has no tenant id (tid claim).")
	}
	if err := checkIssuer(iss, tid); err != nil {
		return "", err
	}
	return tid, nil
}

// header holds the JOSE header parameters Verify looks at.
type header struct {
	Algorithm string
	KeyID     string
}

// claims holds the claims Verify looks at, from v1 and v2 tokens alike.
type claims struct {
	jwt.RegisteredClaims
	TenantID        string   `json:"tid"`
	AppID           string   `json:"appid"` // v1
	AuthorizedParty string   `json:"azp"`   // v2
	ObjectID        string   `json:"oid"`
	Roles           []string `json:"roles"`
	Scope           *string  `json:"scp"` // a pointer, so that even an empty scp marks a user token
	IdentityType    string   `json:"idtyp"`
}

// member is one JSON member of a token segment, decoded on its own so that a
// wrong type can be reported by name.
type member struct {
	name string
	dst  any
	want string
}

// Verify checks token and returns the principal it speaks for. Any failure
// is an EUNAUTHORIZED error whose message says what is wrong with the token.
// Verify does not check permissions; see Principal.Require.
//
// A token that verified is remembered (see VerifierOptions.CacheSize), and
// its next uses return the same *Principal, which callers must therefore
// not modify, until it expires or the trusted keys change.
func (v *Verifier) Verify(token string) (*Principal, error) {
	if v.cache == nil || token == "" || len(token) > maxTokenBytes {
		return v.verify(token, nil)
	}
	// The generation is read before the token is checked, so that a change
	// of keys during the check leaves an entry that is never served.
	gen := v.keys.generation()
	k := keyOf(token)
	now := v.now()
	if p, ok := v.cache.get(&k, gen, now); ok {
		v.Cache.Hits.Add(1)
		return p, nil
	}
	v.Cache.Misses.Add(1)
	var lt lifetime
	p, err := v.verify(token, &lt)
	if err != nil {
		return nil, err // never cached: a bad token costs the full check each time
	}
	e := cacheEntry{p: p, gen: gen, notAfter: lt.exp.Add(v.skew), verified: now}
	if !lt.nbf.IsZero() {
		e.notBefore = lt.nbf.Add(-v.skew)
	}
	v.cache.put(&k, e)
	return p, nil
}

// lifetime is when a verified token may be used: its exp and nbf (zero when
// it has none).
type lifetime struct{ exp, nbf time.Time }

// verify checks token in full, and returns its principal; lt, if not nil,
// gets its lifetime.
func (v *Verifier) verify(token string, lt *lifetime) (*Principal, error) {
	if token == "" {
		return nil, unauthorized("Access token is empty.")
	}
	if len(token) > maxTokenBytes {
		return nil, unauthorized("Access token is too large: it has %d bytes and the limit is %d.", len(token), maxTokenBytes)
	}
	h, c, err := inspect(token)
	if err != nil {
		return nil, err
	}
	switch h.Algorithm {
	case "RS256":
	case "":
		return nil, malformed("the header has no 'alg' parameter.")
	default:
		return nil, unauthorized("The token's signing algorithm '%s' is not accepted; tokens must be signed with RS256.", clip(h.Algorithm))
	}
	if h.KeyID == "" {
		return nil, unauthorized("Signature validation failed: the token header has no 'kid', so no signing key can be chosen.")
	}
	key, err := v.keys.verificationKey(c.Issuer, c.TenantID, h.KeyID)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, unauthorized("Signature validation failed: no signing key with kid '%s' is known; "+
			"the token comes from an issuer this server does not trust, or its key was rotated.", clip(h.KeyID))
	}

	c = claims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}), // again, so the library enforces it too
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.skew),
		jwt.WithTimeFunc(v.now),
	)
	keyFunc := func(*jwt.Token) (any, error) { return key, nil }
	_, err = parser.ParseWithClaims(token, &c, keyFunc)
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		// Microsoft Graph's own tokens carry a nonce in the header, and
		// Entra ID signs them with the nonce replaced by its hash.
		if alt, ok := graphNonceForm(token); ok {
			c = claims{}
			if _, altErr := parser.ParseWithClaims(alt, &c, keyFunc); !errors.Is(altErr, jwt.ErrTokenSignatureInvalid) {
				err = altErr
			}
		}
	}
	if err != nil {
		return nil, parseError(err, h.KeyID)
	}

	tenant, err := v.keys.tenant(c.Issuer, c.TenantID)
	if err != nil {
		return nil, err
	}
	if v.tenants != nil && !v.tenants[tenant] {
		return nil, untrustedTenant(tenant)
	}
	if err := v.checkAudience(c.Audience); err != nil {
		return nil, err
	}

	p := &Principal{
		Tenant:    tenant,
		AppID:     c.AppID,
		ObjectID:  c.ObjectID,
		Roles:     c.Roles,
		Delegated: c.Scope != nil || c.IdentityType == "user",
	}
	if p.AppID == "" {
		p.AppID = c.AuthorizedParty
	}
	if c.Scope != nil {
		p.Scopes = strings.Fields(*c.Scope)
	}
	if lt != nil {
		lt.exp = c.ExpiresAt.Time // required: the parser refused a token without it
		if c.NotBefore != nil {
			lt.nbf = c.NotBefore.Time
		}
	}
	return p, nil
}

// graphNonceForm returns the token as Entra ID signed it when its header
// has a nonce, as Microsoft Graph's access tokens do: the same header with
// the nonce replaced by the base64url SHA-256 of it, byte for byte otherwise.
// (The scheme is Microsoft's own, undocumented; Graph verifies it, and so do
// those who checked, e.g. AzureAD/azure-activedirectory-identitymodel-
// extensions-for-dotnet#609.)
func graphNonceForm(token string) (string, bool) {
	headerPart, rest, _ := strings.Cut(token, ".")
	header, err := base64.RawURLEncoding.DecodeString(headerPart)
	if err != nil {
		return "", false
	}
	var h struct {
		Nonce *string `json:"nonce"`
	}
	if json.Unmarshal(header, &h) != nil || h.Nonce == nil {
		return "", false
	}
	quoted, err := json.Marshal(*h.Nonce)
	if err != nil {
		return "", false
	}
	member := []byte(`"nonce":` + string(quoted))
	if !bytes.Contains(header, member) {
		return "", false // not written compactly: the signed form cannot be rebuilt
	}
	sum := sha256.Sum256([]byte(*h.Nonce))
	hashed := []byte(`"nonce":"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`)
	return base64.RawURLEncoding.EncodeToString(bytes.Replace(header, member, hashed, 1)) + "." + rest, true
}

// untrustedTenant is the error for a good token of a tenant this server
// does not serve.
func untrustedTenant(tenant string) error {
	return unauthorized("Access token validation failure. Invalid tenant. This server does not accept tokens of tenant '%s'.", clip(tenant))
}

// inspect decodes the three parts of a compact JWS and the members Verify
// uses, so that a malformed token gets a precise message before any key is
// chosen, and the key can be chosen by the (unverified) issuer. The parser decodes the token again; at 16 KiB at most that is cheap.
func inspect(token string) (header, claims, error) {
	var h header
	var c claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return h, c, malformed("a JWT has 3 parts separated by dots, this token has %d.", len(parts))
	}
	var crit json.RawMessage
	err := decodeSegment(parts[0], "the header", "header parameter", []member{
		{"alg", &h.Algorithm, "a string"},
		{"kid", &h.KeyID, "a string"},
		{"crit", &crit, "an array of strings"},
	})
	if err != nil {
		return h, c, err
	}
	// RFC 7515 §4.1.11: a recipient must refuse a token whose crit names
	// an extension it does not understand, and this server understands none.
	if crit != nil {
		return h, c, malformed("the header has a 'crit' parameter, which names extensions this server does not understand; RFC 7515 requires such tokens to be refused.")
	}
	err = decodeSegment(parts[1], "the payload", "claim", []member{
		{"iss", &c.Issuer, "a string"},
		{"sub", &c.Subject, "a string"},
		{"aud", &c.Audience, "a string or an array of strings"},
		{"exp", &c.ExpiresAt, secondsSince1970},
		{"nbf", &c.NotBefore, secondsSince1970},
		{"iat", &c.IssuedAt, secondsSince1970},
		{"jti", &c.ID, "a string"},
		{"tid", &c.TenantID, "a string"},
		{"appid", &c.AppID, "a string"},
		{"azp", &c.AuthorizedParty, "a string"},
		{"oid", &c.ObjectID, "a string"},
		{"roles", &c.Roles, "an array of strings"},
		{"scp", &c.Scope, "a string"},
		{"idtyp", &c.IdentityType, "a string"},
	})
	if err != nil {
		return h, c, err
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return h, c, malformed("the signature is not base64url-encoded.")
	}
	return h, c, nil
}

// decodeSegment decodes one base64url JSON object and the given members of it.
func decodeSegment(segment, what, kind string, members []member) error {
	data, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return malformed("%s is not base64url-encoded.", what)
	}
	var object map[string]json.RawMessage
	if err := json.Unmarshal(data, &object); err != nil || object == nil {
		return malformed("%s is not a JSON object.", what)
	}
	for _, m := range members {
		raw, ok := object[m.name]
		if !ok {
			continue
		}
		if m.want == secondsSince1970 {
			if err := checkNumericDate(raw, kind, m.name); err != nil {
				return err
			}
		}
		if err := json.Unmarshal(raw, m.dst); err != nil {
			return malformed("%s '%s' must be %s.", kind, m.name, m.want)
		}
	}
	return nil
}

const secondsSince1970 = "a number of seconds since 1970"

// maxNumericDate is the last second of year 9999. A larger time claim is
// refused: the jwt library converts it to int64 seconds, and past 2^63 the
// conversion wraps, so that a far-future nbf would count as long past.
const maxNumericDate = 253402300799

// checkNumericDate refuses a time claim that is not a JSON number (the jwt
// library would take "1700000000" as well) or is out of range.
func checkNumericDate(raw json.RawMessage, kind, name string) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return malformed("%s '%s' must be %s.", kind, name, secondsSince1970)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return malformed("%s '%s' must be %s.", kind, name, secondsSince1970)
	}
	if err != nil || math.Abs(f) > maxNumericDate {
		return malformed("%s '%s' must be %s, at most %d (the end of year 9999).", kind, name, secondsSince1970, maxNumericDate)
	}
	return nil
}

// parseError turns an error of the jwt parser into the message for the
// caller. Signature errors come first: the parser checks the signature before
// any claim.
func parseError(err error, kid string) error {
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized("Signature validation failed: the signature does not match signing key '%s'; "+
			"the token was altered or signed with another key.", clip(kid))
	case errors.Is(err, jwt.ErrTokenExpired):
		return unauthorized("Lifetime validation failed, the token is expired.")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthorized("Lifetime validation failed, the token is not yet valid.")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return unauthorized("Lifetime validation failed, the token has no expiry (exp claim).")
	case errors.Is(err, jwt.ErrTokenMalformed):
		// inspect has already caught what this could be; keep the detail.
		return malformed("%s.", clip(strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": ")))
	default:
		return unauthorized("Access token validation failure: %s.", clip(err.Error()))
	}
}

// checkIssuer accepts Entra ID's v1 and v2 issuers of the token's own tenant.
func checkIssuer(iss, tid string) error {
	if iss == "" {
		return unauthorized("Access token validation failure. Invalid issuer. The token has no issuer (iss claim).")
	}
	tenant, ok := issuerTenant(iss)
	if !ok {
		return unauthorized("Access token validation failure. Invalid issuer. "+
			"The issuer is '%s'; this server accepts 'https://sts.windows.net/%s/' and 'https://login.microsoftonline.com/%s/v2.0'.",
			clip(iss), clip(tid), clip(tid))
	}
	if tenant != tid {
		return unauthorized("Access token validation failure. Invalid issuer. "+
			"The issuer's tenant '%s' is not the token's tenant (tid claim) '%s'.", clip(tenant), clip(tid))
	}
	return nil
}

// issuerTenant returns the tenant of an Entra ID v1 or v2 issuer URL.
func issuerTenant(iss string) (string, bool) {
	for _, form := range [][2]string{
		{"https://sts.windows.net/", "/"},
		{"https://login.microsoftonline.com/", "/v2.0"},
	} {
		rest, ok := strings.CutPrefix(iss, form[0])
		if !ok {
			continue
		}
		tenant, ok := strings.CutSuffix(rest, form[1])
		if ok && tenant != "" && !strings.Contains(tenant, "/") {
			return tenant, true
		}
	}
	return "", false
}

func (v *Verifier) checkAudience(aud jwt.ClaimStrings) error {
	if len(aud) == 0 {
		return unauthorized("Access token validation failure. Invalid audience. The token has no audience (aud claim).")
	}
	for _, a := range aud {
		if slices.Contains(v.audiences, a) {
			return nil
		}
	}
	return unauthorized("Access token validation failure. Invalid audience. "+
		"The token's audience is '%s'; this server accepts '%s'.",
		clip(strings.Join(aud, "', '")), strings.Join(v.audiences, "' or '"))
}

func unauthorized(format string, args ...any) error {
	return callvault.Errorf(callvault.EUNAUTHORIZED, format, args...)
}

func malformed(format string, args ...any) error {
	return callvault.Errorf(callvault.EUNAUTHORIZED, "Access token is malformed: "+format, args...)
}

// clip makes a value taken from the token fit to quote in a message: at most
// 64 characters, nothing unprintable.
func clip(s string) string { return clipTo(s, 64) }

// clipTo is clip with another limit, for values such as URLs that are long
// and useful whole.
func clipTo(s string, limit int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == limit {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
