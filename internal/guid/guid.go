// Package guid makes the random GUIDs that Graph and Entra ID use for ids
// (request ids, client ids, secret ids, trace ids).
package guid

import (
	"crypto/rand"
	"fmt"
)

// New returns a random (version 4) GUID in its lower-case, hyphenated
// form: "0f8fad5b-d9cb-469f-a165-70867728950e".
func New() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
