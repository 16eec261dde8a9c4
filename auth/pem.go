package auth

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"time"
)

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

// pemSource is where a SignerFromSource reads its keys, and when it last
// did.
type pemSource struct {
	load    func() ([]byte, error)
	refresh time.Duration
	data    []byte       // as last read; guarded by Signer.mu
	next    atomic.Int64 // unix nanoseconds: when to read again
	forced  atomic.Int64 // unix nanoseconds: the earliest read an unknown kid may force
}

// unknownKidEvery bounds how often tokens naming an unknown kid make a
// SignerFromSource read its keys: a forged kid costs at most one read a
// second, whatever the rate of requests.
const unknownKidEvery = time.Second

// SignerFromSource returns a signer of the keys load returns (PEM, as
// SignerFromPEM takes them). It reads them again every refresh, and at once
// (at most once a second) when a token names a kid it does not know, so that
// a key rotated where several servers read their keys (a database) is
// trusted by all of them at once and signs on each within refresh. When a
// read fails, the keys read before stay in use.
func SignerFromSource(load func() ([]byte, error), refresh time.Duration) (*Signer, error) {
	data, err := load()
	if err != nil {
		return nil, fmt.Errorf("auth: signing keys: %w", err)
	}
	keys, err := parseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key: %w", err)
	}
	s := &Signer{src: &pemSource{load: load, refresh: refresh, data: data}}
	s.src.next.Store(time.Now().Add(refresh).UnixNano())
	s.ring.Store(newRing(keys, nil))
	return s, nil
}

// reload reads a source's keys again when it is time (or, with force, when
// a read was not forced in the last second), and returns the keys to use.
func (s *Signer) reload(r *keyRing, force bool) (*keyRing, error) {
	src := s.src
	now := time.Now().UnixNano()
	if due := src.next.Load(); now < due && (!force || now < src.forced.Load()) {
		return r, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if due := src.next.Load(); now < due && (!force || now < src.forced.Load()) {
		return s.ring.Load(), nil // another goroutine has just read them
	}
	src.next.Store(now + int64(src.refresh))
	src.forced.Store(now + int64(unknownKidEvery))
	r = s.ring.Load()
	data, err := src.load()
	if err != nil {
		return r, fmt.Errorf("auth: signing keys: %w", err)
	}
	if bytes.Equal(data, src.data) {
		return r, nil
	}
	keys, err := parseKeys(data)
	if err != nil {
		return r, fmt.Errorf("auth: signing key: %w", err)
	}
	src.data = data
	nr := newRing(keys, nil)
	s.ring.Store(nr)
	return nr, nil
}

// NewSigningKeysPEM returns one new signing key as a key file holds it: the
// keys of a new SignerFromPEM or SignerFromSource.
func NewSigningKeysPEM(now time.Time) ([]byte, error) {
	keys, _, err := addKey(nil, now)
	if err != nil {
		return nil, err
	}
	return encodeKeys(keys), nil
}

// AddSigningKeyPEM returns the keys of data (PEM, as a key file holds them)
// with a new key after them, which signs from then on, and its kid: what
// RotateSigningKey does to a key file.
func AddSigningKeyPEM(data []byte, now time.Time) ([]byte, string, error) {
	keys, err := parseKeys(data)
	if err != nil {
		return nil, "", fmt.Errorf("auth: signing key: %w", err)
	}
	keys, kid, err := addKey(keys, now)
	if err != nil {
		return nil, "", err
	}
	return encodeKeys(keys), kid, nil
}

// RemoveSigningKeyPEM returns the keys of data without the key kid: what
// RemoveSigningKey does to a key file.
func RemoveSigningKeyPEM(data []byte, kid string) ([]byte, error) {
	keys, err := parseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key: %w", err)
	}
	if keys, err = removeKey(keys, kid); err != nil {
		return nil, err
	}
	return encodeKeys(keys), nil
}

// KeysOfPEM describes the keys of data (PEM, as a key file holds them),
// oldest first; the last one signs.
func KeysOfPEM(data []byte) ([]KeyInfo, error) {
	s, err := SignerFromPEM(data)
	if err != nil {
		return nil, err
	}
	return s.Keys(), nil
}
