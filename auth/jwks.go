package auth

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// JWK is an RSA signing key as a JSON Web Key (RFC 7517), with the members
// Entra ID publishes.
type JWK struct {
	KeyType string   `json:"kty"`
	Use     string   `json:"use,omitempty"`
	KeyID   string   `json:"kid"`
	N       string   `json:"n"`
	E       string   `json:"e"`
	X5C     []string `json:"x5c,omitempty"` // read, never written
}

// JWKSet is a JSON Web Key Set, the document behind an issuer's jwks_uri.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// NewJWK returns the JWK of an RSA public key.
func NewJWK(kid string, key *rsa.PublicKey) JWK {
	return JWK{
		KeyType: "RSA",
		Use:     "sig",
		KeyID:   kid,
		N:       base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		E:       base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}
}

// JWKS returns the key set of every key the signer trusts, oldest first, so
// that tokens signed by a key rotated out still verify elsewhere.
func (s *Signer) JWKS() JWKSet {
	keys := s.Keys()
	set := JWKSet{Keys: make([]JWK, len(keys))}
	for i, k := range keys {
		set.Keys[i] = NewJWK(k.ID, k.PublicKey)
	}
	return set
}

// PublicKey returns the RSA key of a JWK: from n and e, or from the first
// certificate of x5c when they are absent.
func (k JWK) PublicKey() (*rsa.PublicKey, error) {
	if k.KeyType != "RSA" {
		return nil, fmt.Errorf("key type %q is not RSA", k.KeyType)
	}
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("key use %q is not sig", k.Use)
	}
	var key *rsa.PublicKey
	switch {
	case k.N != "" && k.E != "":
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("n or e is not base64url: %w", err)
		}
		if len(e) == 0 || len(e) > 4 {
			return nil, errors.New("the exponent is out of range")
		}
		key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	case len(k.X5C) > 0:
		der, err := base64.StdEncoding.DecodeString(k.X5C[0])
		if err != nil {
			return nil, fmt.Errorf("x5c is not base64: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("x5c: %w", err)
		}
		var ok bool
		if key, ok = cert.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("the x5c certificate's key is %T, not RSA", cert.PublicKey)
		}
	default:
		return nil, errors.New("the key has neither n and e nor x5c")
	}
	if key.N.BitLen() < signingKeyBits || key.E < 3 || key.E%2 == 0 {
		return nil, fmt.Errorf("the key has %d bits and exponent %d; want at least %d bits and an odd exponent", key.N.BitLen(), key.E, signingKeyBits)
	}
	return key, nil
}

// parseJWKS returns the usable keys of a key set by kid, and how many were
// left out (other key types, encryption keys, malformed ones).
func parseJWKS(data []byte) (map[string]*rsa.PublicKey, int, error) {
	var set JWKSet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, 0, fmt.Errorf("the key set is not JSON: %w", err)
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	skipped := 0
	for _, k := range set.Keys {
		key, err := k.PublicKey()
		if err != nil || k.KeyID == "" {
			skipped++
			continue
		}
		keys[k.KeyID] = key
	}
	return keys, skipped, nil
}
