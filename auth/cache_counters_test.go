package auth_test

import (
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
)

func TestTokenCacheCountsHitsAndMisses(t *testing.T) {
	signer, key := newSigner(t)
	header := map[string]any{"typ": "JWT", "alg": "RS256", "kid": signer.KeyID()}
	v := signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }})
	token := forge(t, header, appClaims(), rs256(t, key))
	for range 3 {
		mustVerify(t, v, token)
	}
	v.Verify(token + "x") // a bad token: a miss, never a hit
	v.Verify(token + "x")
	if h, m := v.Cache.Hits.Load(), v.Cache.Misses.Load(); h != 2 || m != 3 {
		t.Errorf("hits %d, misses %d; want 2 and 3", h, m)
	}
}
