package auth

import "fmt"

// SignerFromPEM returns a signer of the fixed keys in data: one or more PEM
// RSA private keys (PKCS#8 or PKCS#1), oldest first, as a key file holds
// them; the last one signs and the Verifier trusts them all. It reads no
// file, so the keys can live where every replica finds them, such as the
// PostgreSQL store's secrets table.
func SignerFromPEM(data []byte) (*Signer, error) {
	keys, err := parseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key: %w", err)
	}
	s := &Signer{}
	s.ring.Store(newRing(keys, nil))
	return s, nil
}
