package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/golang-jwt/jwt/v5"
)

// DefaultAppID is the application (client) id of tokens minted without one:
// callvault's own development app.
const DefaultAppID = "7669e5d7-df89-418c-871f-eee59a3e3f69"

// SigningKeyFile is the name of the signing key in the data directory.
const SigningKeyFile = "signing-key.pem"

const (
	signingKeyBits = 2048
	defaultTTL     = time.Hour
)

// Signer is callvault's development issuer: an RSA key that signs RS256
// access tokens. It is immutable and safe for concurrent use.
type Signer struct {
	key *rsa.PrivateKey
	kid string
}

// LoadOrCreateSigner returns the signer whose key is dataDir/signing-key.pem,
// creating the directory and a new RSA 2048 key (PKCS#8 PEM, mode 0600) if
// there is none. Processes that start at the same time on one data directory
// all end up with the same key.
func LoadOrCreateSigner(dataDir string) (*Signer, error) {
	if dataDir == "" {
		return nil, errors.New("auth: no data directory for the signing key")
	}
	path := filepath.Join(dataDir, SigningKeyFile)
	s, err := loadSigner(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create data directory: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return nil, fmt.Errorf("auth: generate signing key: %w", err)
	}
	if err := publishKey(path, key); err != nil {
		return nil, err
	}
	// Read back what is on disk: another process may have won the race, and
	// its key, not ours, is the one every process must sign with.
	return loadSigner(path)
}

// publishKey writes key to path atomically, without replacing a key another
// process put there first.
func publishKey(path string, key *rsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("auth: encode signing key: %w", err)
	}
	// CreateTemp makes the file 0600 before any key byte is written.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signing-key-*.tmp")
	if err != nil {
		return fmt.Errorf("auth: write signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("auth: write signing key: %w", err)
	}
	// A hard link, unlike a rename, fails if the key already exists, so the
	// first process to finish wins and nobody's key is overwritten.
	err = os.Link(tmp.Name(), path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	// Some file systems have no hard links. A rename is still atomic; the
	// caller re-reads the file, so processes converge on the last key renamed.
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("auth: write signing key: %w", err)
	}
	return nil
}

// loadSigner reads a signing key; an absent file yields an fs.ErrNotExist error.
func loadSigner(path string) (*Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: read signing key: %w", err)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key %s: %w", path, err)
	}
	return &Signer{key: key, kid: Thumbprint(&key.PublicKey)}, nil
}

// parseKey accepts PKCS#8 (what callvault writes) and PKCS#1 RSA keys, so an
// operator can drop in a key made with either openssl default.
func parseKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"PRIVATE KEY\"", block.Type)
	}
	if err != nil {
		return nil, err
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want an RSA key", key)
	}
	if n := rsaKey.N.BitLen(); n < signingKeyBits {
		return nil, fmt.Errorf("RSA key has %d bits, want at least %d", n, signingKeyBits)
	}
	return rsaKey, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of key, base64url-encoded:
// the key id callvault uses for it.
func Thumbprint(key *rsa.PublicKey) string {
	// RFC 7638: the required members in lexicographic order, no whitespace.
	jwk := fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`,
		base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		base64.RawURLEncoding.EncodeToString(key.N.Bytes()))
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// KeyID returns the kid of the signer's key, its RFC 7638 thumbprint.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey returns the public half of the signer's key.
func (s *Signer) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// Verifier returns a Verifier that trusts this signer's key only.
func (s *Signer) Verifier(opts VerifierOptions) *Verifier {
	return NewVerifier(map[string]*rsa.PublicKey{s.kid: s.PublicKey()}, opts)
}

// TokenOptions describe a token to mint. Only Tenant is required.
type TokenOptions struct {
	Tenant    string        // tid; required
	AppID     string        // appid; DefaultAppID if empty
	Roles     []string      // roles; for app tokens, nil means [CallRecords.Read.All] and empty means none
	Delegated bool          // a user token (scp, idtyp "user") rather than an app token
	Scopes    []string      // scp of a delegated token; nil means [CallRecords.Read.All]
	TTL       time.Duration // lifetime; 0 means one hour
	Now       time.Time     // issue time; zero means time.Now()
	Audience  string        // aud; GraphResource if empty
}

// tokenHeader is the JOSE header, in the member order Entra ID writes it.
type tokenHeader struct {
	Type      string `json:"typ"`
	Algorithm string `json:"alg"`
	KeyID     string `json:"kid"`
}

// tokenClaims are the claims of a minted token, in the order of a real
// Graph v1 access token so that a person comparing the two sees the same shape.
type tokenClaims struct {
	Audience         string   `json:"aud"`
	Issuer           string   `json:"iss"`
	IssuedAt         int64    `json:"iat"`
	NotBefore        int64    `json:"nbf"`
	ExpiresAt        int64    `json:"exp"`
	AppID            string   `json:"appid"`
	AppIDACR         string   `json:"appidacr"`
	IdentityProvider string   `json:"idp"`
	IdentityType     string   `json:"idtyp"`
	Name             string   `json:"name,omitempty"`
	ObjectID         string   `json:"oid"`
	Roles            []string `json:"roles,omitempty"`
	Scope            string   `json:"scp,omitempty"`
	Subject          string   `json:"sub"`
	TenantID         string   `json:"tid"`
	UPN              string   `json:"upn,omitempty"`
	UniqueTokenID    string   `json:"uti"`
	Version          string   `json:"ver"`
}

// Mint returns a signed access token shaped like a Microsoft Graph v1 token
// from Entra ID's client credentials flow (or, with Delegated, a user token).
func (s *Signer) Mint(o TokenOptions) (string, error) {
	if o.Tenant == "" {
		return "", callvault.Errorf(callvault.EINVALID, "A tenant id is required to mint a token.")
	}
	if o.TTL < 0 {
		return "", callvault.Errorf(callvault.EINVALID, "The token lifetime must not be negative; got %s.", o.TTL)
	}
	if o.AppID == "" {
		o.AppID = DefaultAppID
	}
	if o.TTL == 0 {
		o.TTL = defaultTTL
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Audience == "" {
		o.Audience = GraphResource
	}
	uti := make([]byte, 16)
	if _, err := rand.Read(uti); err != nil {
		return "", fmt.Errorf("auth: mint token: %w", err)
	}

	iss := "https://sts.windows.net/" + o.Tenant + "/"
	now := o.Now.Unix()
	c := tokenClaims{
		Audience:         o.Audience,
		Issuer:           iss,
		IssuedAt:         now,
		NotBefore:        now,
		ExpiresAt:        o.Now.Add(o.TTL).Unix(),
		AppID:            o.AppID,
		AppIDACR:         "1", // the client authenticated with a secret
		IdentityProvider: iss,
		IdentityType:     "app",
		ObjectID:         nameGUID(o.Tenant, o.AppID, "app"),
		Roles:            o.Roles,
		TenantID:         o.Tenant,
		UniqueTokenID:    base64.RawURLEncoding.EncodeToString(uti),
		Version:          "1.0",
	}
	c.Subject = c.ObjectID // an app token's subject is its service principal
	if o.Delegated {
		scopes := o.Scopes
		if scopes == nil {
			scopes = []string{RoleCallRecordsReadAll}
		}
		c.IdentityType = "user"
		c.Scope = strings.Join(scopes, " ")
		c.Name = "Callvault Developer"
		c.UPN = "developer@contoso.onmicrosoft.com"
		c.ObjectID = nameGUID(o.Tenant, o.AppID, "user")
		// A user token's sub is pairwise: unique to the user and the app.
		sum := sha256.Sum256([]byte(o.Tenant + "/" + o.AppID + "/" + c.ObjectID))
		c.Subject = base64.RawURLEncoding.EncodeToString(sum[:])
	} else if c.Roles == nil {
		c.Roles = []string{RoleCallRecordsReadAll}
	}
	return s.sign(c)
}

// sign signs claims with the signer's key. It encodes header and claims
// itself, rather than through jwt.Token, to keep Entra's member order.
func (s *Signer) sign(claims any) (string, error) {
	header, err := json.Marshal(tokenHeader{Type: "JWT", Algorithm: "RS256", KeyID: s.kid})
	if err != nil {
		return "", fmt.Errorf("auth: mint token: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("auth: mint token: %w", err)
	}
	signingString := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := jwt.SigningMethodRS256.Sign(signingString, s.key)
	if err != nil {
		return "", fmt.Errorf("auth: mint token: %w", err)
	}
	return signingString + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// nameGUID derives a stable GUID from its parts (an RFC 9562 version 5,
// name-based UUID), so the same tenant and app always get the same oid.
func nameGUID(parts ...string) string {
	// The namespace is arbitrary but fixed: callvault's own.
	namespace := [16]byte{0x2f, 0x9b, 0x63, 0x1e, 0x4c, 0x0d, 0x4e, 0x7a, 0x9a, 0x51, 0xc3, 0x8e, 0x61, 0x0b, 0x7d, 0x24}
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(strings.Join(parts, "/")))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
