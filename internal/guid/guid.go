// Package guid makes the random GUIDs that Graph and Entra ID use for ids
// (request ids, client ids, secret ids, trace ids).
package guid

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a random (version 4) GUID in its lower-case, hyphenated
// form: "0f8fad5b-d9cb-469f-a165-70867728950e". It is on every request's
// path (the request id), so it writes the hex itself rather than through
// fmt.
func New() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}
