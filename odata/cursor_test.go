package odata

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
)

// referenceMAC is the token MAC as crypto/hmac computes it: tokens sealed
// before mac computed it on the stack must still open.
func referenceMAC(key []byte, s Scope, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, part := range []string{s.Tenant, s.Resource, s.Version, s.Shape} {
		h.Write(binary.AppendUvarint(nil, uint64(len(part))))
		h.Write([]byte(part))
	}
	h.Write(body)
	return h.Sum(nil)[:macSize]
}

func TestMACIsHMACSHA256(t *testing.T) {
	long := strings.Repeat("x", 700) // past mac's stack buffer
	scopes := []Scope{
		{},
		{Tenant: "t", Resource: "callRecords('r')/sessions", Version: "v1.0", Shape: "(id)"},
		{Tenant: "5eed1e55-0000-4000-8000-00000000be7c", Resource: "callRecords('" + long + "')/sessions", Version: "beta", Shape: long},
	}
	for _, key := range [][]byte{
		nil,
		[]byte("k1-k1-k1-k1-k1-k1-k1-k1-k1-k1-k1"),
		bytes.Repeat([]byte{0xa5}, sha256.BlockSize),
		bytes.Repeat([]byte{0x5a}, sha256.BlockSize+1), // hashed first
		bytes.Repeat([]byte("key"), 50),
	} {
		for _, s := range scopes {
			for _, body := range [][]byte{nil, {cursorFormat, 2}, []byte(long)} {
				got := Cursors{Key: key}.mac(s, body)
				if want := referenceMAC(key, s, body); !bytes.Equal(got[:], want) {
					t.Errorf("key %d bytes, scope %d bytes, body %d bytes: mac %x, crypto/hmac %x",
						len(key), len(s.Resource)+len(s.Shape), len(body), got, want)
				}
			}
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	c := Cursors{Key: []byte("k1-k1-k1-k1-k1-k1-k1-k1-k1-k1-k1")}
	s := Scope{Tenant: "5eed1e55-0000-4000-8000-00000000be7c", Resource: "callRecords('b16b16b1-0000-4000-8000-000000000001')/sessions", Version: "v1.0", Shape: "($select=id,startDateTime)"}
	b.ReportAllocs()
	for b.Loop() {
		c.Seal(s, Position{N: 60})
	}
}
