package odata

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"

	"github.com/callvault/callvault"
)

// Cursors seals and opens $skiptoken values. A token carries the keyset
// position and a MAC over that position and everything the page depends on
// (tenant, resource, version, query shape), so a token is opaque, cannot be
// altered, and is refused anywhere but where it was issued: another tenant's
// record, another query or another version gets a 400.
type Cursors struct {
	Key []byte // 32 random bytes, shared by every replica
}

const (
	cursorFormat = 1
	macSize      = 16
)

// Scope is what a token is bound to.
type Scope struct {
	Tenant   string
	Resource string // e.g. "callRecords('id')/sessions"
	Version  string
	Shape    string // the canonical $select/$expand
}

// Position is a keyset position: a number (a sequence, or a time in
// nanoseconds) and, for keys that need one, a string that breaks ties.
type Position struct {
	N   int64
	Key string
}

// maxTokenLen bounds what Open decodes; ids are at most a few hundred bytes.
const maxTokenLen = 4096

// Seal returns the $skiptoken for the page after position p.
func (c Cursors) Seal(s Scope, p Position) string {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(p.Key)+macSize)
	b = append(b, cursorFormat)
	b = binary.AppendVarint(b, p.N)
	b = append(b, p.Key...)
	sum := c.mac(s, b)
	b = append(b, sum[:]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Open returns the position a token carries, or a 400 *Error when the token
// is malformed, altered or was issued for another scope.
func (c Cursors) Open(s Scope, token string) (Position, error) {
	if len(token) > maxTokenLen {
		return Position{}, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 2+macSize || b[0] != cursorFormat {
		return Position{}, errBadToken
	}
	body, sum := b[:len(b)-macSize], b[len(b)-macSize:]
	if want := c.mac(s, body); subtle.ConstantTimeCompare(sum, want[:]) != 1 {
		return Position{}, errBadToken
	}
	n, size := binary.Varint(body[1:])
	if size <= 0 {
		return Position{}, errBadToken
	}
	return Position{N: n, Key: string(body[1+size:])}, nil
}

var errBadToken = callvault.Errorf(callvault.EINVALID, "The $skiptoken is not valid for this request: it was altered, or it was issued for another resource, query or tenant. Follow the @odata.nextLink exactly as it was returned.")

// mac is HMAC-SHA-256 (RFC 2104) over the scope's parts, each after its
// length, and body, cut to macSize: crypto/hmac's, the same bytes, computed
// in a buffer on the stack. crypto/hmac allocated two digests, their pads
// and its sums for every page with a next link: the largest part of a
// small page's allocations.
func (c Cursors) mac(s Scope, body []byte) (out [macSize]byte) {
	var buf [512]byte // a scope and body fit; a longer one grows on the heap
	m := padKey(buf[:0], c.Key, 0x36)
	for _, part := range [...]string{s.Tenant, s.Resource, s.Version, s.Shape} {
		m = binary.AppendUvarint(m, uint64(len(part)))
		m = append(m, part...)
	}
	m = append(m, body...)
	inner := sha256.Sum256(m)
	m = padKey(buf[:0], c.Key, 0x5c)
	m = append(m, inner[:]...)
	outer := sha256.Sum256(m)
	copy(out[:], outer[:])
	return out
}

// padKey appends HMAC's block of key XOR pad: the key, hashed first when
// it is longer than a block, and zeros after it.
func padKey(b, key []byte, pad byte) []byte {
	var hashed [sha256.Size]byte
	if len(key) > sha256.BlockSize {
		hashed = sha256.Sum256(key)
		key = hashed[:]
	}
	for i := range sha256.BlockSize {
		k := byte(0)
		if i < len(key) {
			k = key[i]
		}
		b = append(b, k^pad)
	}
	return b
}
