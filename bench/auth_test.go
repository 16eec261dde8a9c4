package bench

import (
	"testing"

	"github.com/callvault/callvault/auth"
)

// BenchmarkVerifyToken is the per-request cost of checking a bearer token
// (RS256 signature and claims).
func BenchmarkVerifyToken(b *testing.B) {
	f := getFixture(b)
	v := f.signer.Verifier(auth.VerifierOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(f.token); err != nil {
			b.Fatal(err)
		}
	}
}
