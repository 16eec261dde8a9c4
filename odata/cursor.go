package odata

import (
	"crypto/hmac"
	"crypto/sha256"
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
	b = append(b, c.mac(s, b)...)
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
	if !hmac.Equal(sum, c.mac(s, body)) {
		return Position{}, errBadToken
	}
	n, size := binary.Varint(body[1:])
	if size <= 0 {
		return Position{}, errBadToken
	}
	return Position{N: n, Key: string(body[1+size:])}, nil
}

var errBadToken = callvault.Errorf(callvault.EINVALID, "The $skiptoken is not valid for this request: it was altered, or it was issued for another resource, query or tenant. Follow the @odata.nextLink exactly as it was returned.")

func (c Cursors) mac(s Scope, body []byte) []byte {
	h := hmac.New(sha256.New, c.Key)
	for _, part := range []string{s.Tenant, s.Resource, s.Version, s.Shape} {
		h.Write(binary.AppendUvarint(nil, uint64(len(part))))
		h.Write([]byte(part))
	}
	h.Write(body)
	return h.Sum(nil)[:macSize]
}
