package bench

import (
	"fmt"
	"testing"

	"github.com/callvault/callvault/auth"
)

// BenchmarkVerifyToken is the cost of checking a bearer token in full
// (RS256 signature and claims): what every request paid before the cache of
// verified tokens, and what a token pays on its first use (or when the
// cache cannot serve it).
func BenchmarkVerifyToken(b *testing.B) {
	f := getFixture(b)
	v := f.signer.Verifier(auth.VerifierOptions{CacheSize: -1})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(f.token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyTokenCached is the per-request cost of a token already
// verified, as the server's default Verifier serves it: a stat of the key
// file, a SHA-256 of the token, a map lookup and the exp and nbf checks.
func BenchmarkVerifyTokenCached(b *testing.B) {
	f := getFixture(b)
	v := f.signer.Verifier(auth.VerifierOptions{})
	if _, err := v.Verify(f.token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(f.token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyTokenMiss is a token the cache does not hold (a cache of
// one entry and 16 tokens in turn): the full check plus what the cache adds
// to it.
func BenchmarkVerifyTokenMiss(b *testing.B) {
	f := getFixture(b)
	tokens := make([]string, 16)
	for i := range tokens {
		var err error
		tokens[i], err = f.signer.Mint(auth.TokenOptions{Tenant: tenant, AppID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)})
		if err != nil {
			b.Fatal(err)
		}
	}
	v := f.signer.Verifier(auth.VerifierOptions{CacheSize: 1})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := v.Verify(tokens[i%len(tokens)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
